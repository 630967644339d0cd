// API keys: create one (shown once, with a warning and a copy button), see it listed by prefix, call the API
// with it, and watch "last used" and "spent" update; disable it and the API refuses it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, open, shot, uniqueEmail, logIn, BASE_URL, DESKTOP, PHONE } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a person creates a key, calls the API with it, and manages it', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  await logIn(page, uniqueEmail('e2e-keys'), '/keys');
  await page.fill('#key-name', 'Claude Code on my laptop');
  await page.fill('#key-cap', '5');
  await page.click('button:has-text("Create key")');
  const secret = await page.inputValue('#new-key-secret');
  assert.match(secret, /^sk-gh-[A-Za-z0-9_-]{43}$/);
  assert.match(await page.textContent('[data-testid=new-key]'), /will not be shown again/);
  await page.waitForSelector('[data-testid=keys] tbody tr');
  assert.match(await page.textContent('[data-testid=keys]'), new RegExp(secret.slice(0, 10)));
  await shot(page, 'keys-1-created');

  const call = await fetch(`${BASE_URL}/api/v1/ai/anthropic/cc-omg/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': secret, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] }),
  });
  assert.equal(call.status, 200);
  // The charge is committed off the request path within milliseconds: the page shows it once it is.
  let row = '';
  let spent = '';
  for (let i = 0; i < 20 && !/[1-9]/.test(spent); i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    await open(page, '/keys');
    row = await page.textContent('[data-testid=keys] tbody tr');
    spent = (await page.getAttribute('[data-testid=keys] tbody tr [data-label=Spent] .usd', 'title')) || '';
  }
  assert.doesNotMatch(row, /never\s*$/m);
  // A call costs a fraction of a cent: shown to four decimals, exactly in the tooltip.
  assert.match(spent, /^exactly \$0\.00\d*[1-9]\d*$/);
  await shot(page, 'keys-2-used');

  await page.click('button:has-text("Disable")');
  await page.waitForSelector('button:has-text("Enable")');
  const refused = await fetch(`${BASE_URL}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }),
  });
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error.type, 'authentication_error');
  await shot(page, 'keys-3-disabled');

  page.once('dialog', (d) => d.accept());
  await page.click('button:has-text("Delete")');
  await page.waitForSelector('text=No keys yet.');
  await page.close();
});

test('the keys page reads well on a phone', async () => {
  const page = await browser.newPage({ viewport: PHONE });
  await logIn(page, uniqueEmail('e2e-keys-phone'), '/keys');
  await page.fill('#key-name', 'Phone key');
  await page.click('button:has-text("Create key")');
  await page.waitForSelector('[data-testid=keys] tbody tr');
  await shot(page, 'keys-phone-1');
  await page.close();
});

test('the docs fill in this server and the chosen key', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  await logIn(page, uniqueEmail('e2e-docs'), '/keys');
  await page.fill('#key-name', 'Docs key');
  await page.click('button:has-text("Create key")');
  await page.waitForSelector('[data-testid=keys] tbody tr');
  await open(page, '/docs');
  assert.equal(await page.textContent('[data-testid=base-url]'), BASE_URL);
  const text = await page.textContent('main');
  assert.match(text, new RegExp(`ANTHROPIC_BASE_URL=${BASE_URL}/api/v1/ai/anthropic/cc-omg`));
  assert.match(text, new RegExp(`${BASE_URL}/api/v1/ai/openai/cc-omg/v1/chat/completions`));
  // The rest of OpenAI's menu and the key management API, on this server.
  assert.match(await page.textContent('[data-testid=more-openai-docs]'), new RegExp(`curl ${BASE_URL}/v1/embeddings`));
  assert.match(await page.textContent('[data-testid=more-openai-docs]'), new RegExp(`curl ${BASE_URL}/v1/images/edits`));
  assert.match(await page.textContent('[data-testid=store-docs]'), new RegExp(`curl ${BASE_URL}/v1/conversations`));
  assert.match(await page.textContent('[data-testid=key-api-docs]'), new RegExp(`${BASE_URL}/api/v1/user/admin/membership-expiry`));
  // A placeholder the person replaces, never a cut key that looks real.
  assert.match(text, /ANTHROPIC_AUTH_TOKEN=YOUR_API_KEY/);
  assert.doesNotMatch(text, /ANTHROPIC_AUTH_TOKEN=sk-gh-/);
  assert.match(await page.textContent('[data-testid=key-hint]'), /Docs key \(sk-gh-/);
  assert.match(await page.textContent('[data-testid=mock-notice]'), /mock upstream/);
  await shot(page, 'docs-1');
  await page.close();
});
