// Every page, signed out and signed in, at 1280 and 390 px: axe-core (WCAG 2.1 AA) finds no serious or
// critical violation, nothing scrolls sideways, and a screenshot of each lands in screenshots/pages/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import { launch, open, uniqueEmail, logIn, operatorWithData, BASE_URL, SHOTS, DESKTOP, PHONE } from './browser.mjs';

// Evaluated through the browser's debugging protocol: the pages' Content Security Policy (rightly) refuses an
// injected <script> tag.
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const PAGES_SHOTS = `${SHOTS}pages/`;
mkdirSync(PAGES_SHOTS, { recursive: true });

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/// Serious and critical WCAG 2.1 A/AA violations on the page, one line each.
async function violations(page) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

async function check(page, path, name, width) {
  await open(page, path);
  const found = await violations(page);
  const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.screenshot({ path: `${PAGES_SHOTS}${name}-${width}.png`, fullPage: true });
  return [
    ...found.map((v) => `${path} at ${width}px: ${v}`),
    ...(sideways > 1 ? [`${path} at ${width}px scrolls sideways by ${sideways}px`] : []),
  ];
}

const SIGNED_OUT = [
  ['/', 'home'], ['/login', 'login'], ['/prices', 'prices'], ['/docs', 'docs'], ['/i/ZZZZZZZZ', 'invite-unknown'],
  ['/auth/confirm?token=not-a-token', 'confirm-bad-link'], ['/dev/mailbox', 'dev-mailbox'], ['/no-such-page', 'not-found'],
  ['/keys', 'keys-signed-out'], ['/billing/balance', 'balance-signed-out'],
];
const SIGNED_IN = [
  ['/', 'home-signed-in'], ['/keys', 'keys'], ['/chat', 'chat'], ['/i', 'referral'], ['/billing/balance', 'balance'],
  ['/billing/topup', 'topup'], ['/billing/packages', 'packages'], ['/billing/bills', 'bills'], ['/billing/usage', 'usage'],
  ['/billing/bills?tab=movements', 'movements'], ['/billing/bills?tab=refused', 'refused'], ['/docs', 'docs-signed-in'],
  ['/prices', 'prices-signed-in'], ['/account/sessions', 'sessions'],
  ['/admin', 'admin-dashboard'], ['/admin/accounts', 'admin-accounts'], ['/admin/referrals', 'admin-referrals'],
  ['/admin/codes', 'admin-codes'], ['/admin/prices', 'admin-prices'], ['/admin/providers', 'admin-providers'],
  ['/admin/log', 'admin-log'],
];

test('every page passes axe-core at WCAG 2.1 AA and fits 1280 and 390 px', async () => {
  // A signed-in operator (so the console's pages are checked too) with something on every page: a package,
  // calls, a key, a conversation.
  const { context: setup, page, email } = await operatorWithData(browser, 'e2e-pages', 'Claude Code');
  await open(page, '/chat');
  await page.fill('[data-testid=compose]', 'Hello');
  await page.click('[data-testid=send]');
  await page.waitForSelector('.message.assistant[data-status=done]');
  const conversation = new URL(page.url()).search;
  const invite = await (async () => { await open(page, '/i'); return page.inputValue('#invite-link'); })();
  // One's own invitation link says so, and offers no code to apply.
  await open(page, new URL(invite).pathname);
  assert.match(await page.textContent('[data-testid=own-invite]'), /your own invitation link/);
  await open(page, '/admin/accounts?q=' + encodeURIComponent(email));
  const account = await page.getAttribute('[data-testid=accounts] a', 'href');
  const state = await setup.storageState();
  await setup.close();

  const problems = [];
  for (const [width, viewport] of [[1280, DESKTOP], [390, PHONE]]) {
    const out = await browser.newContext({ viewport });
    const outPage = await out.newPage();
    for (const [path, name] of [...SIGNED_OUT, [new URL(invite).pathname, 'invite']]) {
      problems.push(...await check(outPage, path, name, width));
    }
    await out.close();
    const inside = await browser.newContext({ viewport, storageState: state });
    const inPage = await inside.newPage();
    for (const [path, name] of [...SIGNED_IN, [`/chat${conversation}`, 'chat-conversation'], [account, 'admin-account']]) {
      problems.push(...await check(inPage, path, name, width));
    }
    await inside.close();
  }
  assert.deepEqual(problems, [], `\n${problems.join('\n')}`);
});

test('the prices page lists every channel and what the balance pays per model', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  await open(page, '/prices');
  const channels = await page.textContent('[data-testid=channels]');
  assert.match(channels, /Claude Code \(cc-omg\): balance pays the official price ×0\.2 · serves claude-\*/);
  const sonnet = page.locator('[data-testid=prices] tr', { hasText: 'claude-sonnet-4-5' }).first();
  assert.match(await sonnet.textContent(), /\$3\s*\$15[\s\S]*Claude Code ×0\.2: \$0\.60 \/ \$3/);
  // The chat picker shows the price beside each model.
  await page.close();
  const chat = await browser.newPage({ viewport: DESKTOP });
  await logIn(chat, uniqueEmail('e2e-prices'), '/chat');
  assert.match(await chat.textContent('[data-testid=model] option:checked'), /CS4\.5\) · \$3 \/ \$15 per 1M tokens/);
  await chat.close();
});

test('a new account sees where it stands and three first steps', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  await logIn(page, uniqueEmail('e2e-home'), '/');
  const steps = await page.textContent('[data-testid=first-steps]');
  assert.match(steps, /Create an API key[\s\S]*Claude Code, Codex or Immersive Translate[\s\S]*Invite a friend/);
  assert.equal(await page.textContent('[data-testid=home-balance]'), '$0.10');
  assert.equal(await page.textContent('[data-testid=today-calls]'), '0 calls');
  await page.click('[data-testid=first-steps] a:has-text("Create a key")');
  await page.waitForURL(`${BASE_URL}/keys`);
  await page.close();
});
