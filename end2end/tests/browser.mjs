// Shared set-up for the browser tests: Debian's Chromium through playwright-core, screenshots in ./screenshots.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export const BASE_URL = process.env.BASE_URL || 'http://127.0.0.1:3000';
// The release build's run (make test runs both) keeps its screenshots apart: screenshots/release/.
export const SHOTS = new URL(process.env.E2E_BUILD === 'release' ? '../screenshots/release/' : '../screenshots/', import.meta.url).pathname;
mkdirSync(SHOTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 390, height: 844 };

/// Opens a page and waits until the WebAssembly has loaded and hydrated it.
export async function open(page, path) {
  await page.goto(path.startsWith('http') ? path : BASE_URL + path, { waitUntil: 'networkidle' });
  await hydrated(page);
}

/// Waits for the app's hydration mark (set by the browser build once event handlers are attached).
export async function hydrated(page) {
  await page.waitForSelector('body[data-hydrated]', { state: 'attached', timeout: 15000 });
}

export async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

/// A unique address per run, so reruns against the same server never collide.
export function uniqueEmail(prefix) {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/// Logs in through /login, the dev mailbox and the confirm page, without screenshots; ends on `next`.
export async function logIn(page, email, next = '/') {
  await open(page, '/login?next=' + encodeURIComponent(next));
  await page.fill('#email', email);
  await page.click('button[type=submit]');
  await page.waitForURL('**/login/sent**');
  await open(page, '/dev/mailbox');
  const item = page.locator('.mail-item', { hasText: email }).first();
  await item.locator('a', { hasText: 'Open email' }).click();
  await page.waitForURL('**/dev/mailbox/*');
  await page.click('a:has-text("Log in to Gatehouse") >> nth=0');
  await page.waitForURL('**/auth/confirm?token=*');
  await page.waitForLoadState('networkidle');
  await hydrated(page);
  await page.click('button:has-text("Confirm and log in")');
  await page.waitForURL(BASE_URL + next);
  await page.waitForLoadState('networkidle');
  await hydrated(page);
}

/// Runs an operator command (`gatehouse admin ...`) against the server's database.
export function gatehouse(...args) {
  const bin = process.env.GATEHOUSE_BIN;
  if (!bin) throw new Error('GATEHOUSE_BIN is not set (run the browser tests through `make test`)');
  const out = spawnSync(bin, args, { env: { ...process.env, DATABASE_URL: process.env.E2E_DATABASE_URL }, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`gatehouse ${args.join(' ')} failed: ${out.stderr}${out.stdout}`);
  return out.stdout;
}

/// The package title `operatorWithData` grants (an operator's words, shown as written).
export const PACKAGE_TITLE = 'Claude Code API $20';

/// A new signed-in operator with something on every page: a granted package, two recorded calls and a key
/// named `keyName`. Returns its context (1280 px, English), page and email.
export async function operatorWithData(browser, prefix, keyName) {
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
  const page = await context.newPage();
  const email = uniqueEmail(prefix);
  await logIn(page, email, '/keys');
  gatehouse('admin', 'promote', email);
  gatehouse('admin', 'grant-package', email, '20', '--source', 'referral', '--title', PACKAGE_TITLE);
  gatehouse('admin', 'record-call', email, 'claude-sonnet-4-5', '--channel', 'cc-omg', '--input', '12000', '--output', '800');
  gatehouse('admin', 'record-call', email, 'gpt-4o-mini', '--channel', 'default', '--input', '2000', '--output', '300');
  await page.fill('#key-name', keyName);
  await page.click('button:has-text("Create key")');
  await page.waitForSelector('[data-testid=new-key]');
  return { context, page, email };
}
