// Nothing a person does is lost before the page hydrates or with JavaScript off: in a browser with
// JavaScript disabled, a person logs in, creates a key and sees its secret once, sends a chat message and
// reads the reply, and an invitee accepts the invite notes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, open, shot, uniqueEmail, logIn, BASE_URL, DESKTOP } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/// A page in a browser context with JavaScript switched off.
async function plainPage(storageState) {
  const context = await browser.newContext({ viewport: DESKTOP, javaScriptEnabled: false, storageState });
  return context.newPage();
}

test('without JavaScript a person logs in, creates a key and sees its secret once', async () => {
  const page = await plainPage();
  const email = uniqueEmail('e2e-nojs');
  await page.goto(`${BASE_URL}/login?next=/keys`);
  await page.fill('#email', email);
  await page.click('button[type=submit]');
  await page.waitForURL('**/login/sent**');
  await page.goto(`${BASE_URL}/dev/mailbox`);
  await page.locator('.mail-item', { hasText: email }).first().locator('a', { hasText: 'Open email' }).click();
  await page.waitForURL('**/dev/mailbox/*');
  await page.click('a:has-text("Log in to Gatehouse") >> nth=0');
  await page.waitForURL('**/auth/confirm?token=*');
  await page.click('button:has-text("Confirm and log in")');
  await page.waitForURL(`${BASE_URL}/keys`);

  await page.fill('#key-name', 'Made without JavaScript');
  await page.fill('#key-cap', '3');
  await page.click('button:has-text("Create key")');
  await page.waitForSelector('[data-testid=new-key]');
  const secret = await page.inputValue('#new-key-secret');
  assert.match(secret, /^sk-gh-[A-Za-z0-9_-]{43}$/);
  assert.match(await page.textContent('[data-testid=keys]'), new RegExp(secret.slice(0, 10)));
  // The Copy button has the focus, so a keyboard user reaches it at once.
  assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Copy');
  await shot(page, 'nojs-1-key-created');

  // The key works, and the secret is never shown again.
  const call = await fetch(`${BASE_URL}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': secret },
    body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] }),
  });
  assert.equal(call.status, 200);
  await page.goto(`${BASE_URL}/keys`);
  assert.equal(await page.locator('[data-testid=new-key]').count(), 0);
  assert.doesNotMatch(await page.content(), new RegExp(secret));

  // A bad form is explained on the page and creates nothing.
  await page.fill('#key-name', 'Bad expiry');
  await page.fill('#key-days', 'soon');
  await page.click('button:has-text("Create key")');
  await page.waitForSelector('.form-error');
  assert.match(await page.textContent('.form-error'), /number of days/);
  assert.equal(await page.locator('[data-testid=keys] tbody tr').count(), 1);
  await page.context().close();
});

test('without JavaScript a chat message is sent and its reply shown', async () => {
  const setup = await browser.newContext({ viewport: DESKTOP });
  const signedIn = await setup.newPage();
  await logIn(signedIn, uniqueEmail('e2e-nojs-chat'), '/chat');
  const page = await plainPage(await setup.storageState());
  await setup.close();

  await page.goto(`${BASE_URL}/chat`);
  await page.fill('[data-testid=compose]', 'Hello without scripts');
  await page.click('[data-testid=send]');
  await page.waitForURL(/\/chat\?c=\d+$/);
  await page.waitForSelector('.message.assistant[data-status=done]');
  assert.match(await page.textContent('.message.user'), /Hello without scripts/);
  assert.match(await page.textContent('.message.assistant .md'), /mock upstream \(claude-sonnet-4-5\)/);
  await shot(page, 'nojs-2-chat-reply');

  // A follow-up stays in the same conversation.
  const conversation = page.url();
  await page.fill('[data-testid=compose]', 'And again');
  await page.click('[data-testid=send]');
  await page.waitForURL(conversation);
  assert.equal(await page.locator('.message.assistant[data-status=done]').count(), 2);
  await page.context().close();
});

test('without JavaScript an invitee must tick every note, then goes on to sign up', async () => {
  const inviter = await browser.newPage({ viewport: DESKTOP });
  await logIn(inviter, uniqueEmail('e2e-nojs-inviter'), '/i');
  const link = await inviter.inputValue('#invite-link');
  await inviter.close();

  const page = await plainPage();
  await page.goto(link);
  const understand = page.locator('button:has-text("I Understand")');
  assert.ok(await understand.isEnabled(), 'the browser itself requires the boxes');
  const boxes = page.locator('.note input[type=checkbox]');
  for (let i = 0; i < 3; i++) await boxes.nth(i).check();
  await understand.click();
  // One box is still unticked: the browser does not submit.
  assert.equal(page.url(), link);
  await boxes.nth(3).check();
  await shot(page, 'nojs-3-invite-notes');
  await understand.click();
  await page.waitForURL('**/login?next=/i&invite=**');
  assert.match(await page.textContent('[data-testid=invite-banner]'), /will be applied/);
  await page.context().close();
});

test('after a key is created with JavaScript the Copy button has the focus', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  await logIn(page, uniqueEmail('e2e-focus'), '/keys');
  await page.fill('#key-name', 'Focus');
  await page.press('#key-name', 'Enter');
  await page.waitForSelector('[data-testid=new-key]');
  await page.waitForFunction(() => document.activeElement?.textContent?.trim() === 'Copy');
  await open(page, '/chat');
  await page.fill('[data-testid=compose]', 'Focus stays here');
  await page.click('[data-testid=send]');
  await page.waitForSelector('.message.assistant[data-status=done]');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'compose');
  await page.close();
});
