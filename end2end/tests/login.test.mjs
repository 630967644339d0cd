// A person logs in with a magic link: /login, the dev mailbox, the email, Confirm, signed in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, open, shot, uniqueEmail, BASE_URL, DESKTOP, PHONE } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function logInThroughTheMailbox(page, email, prefix) {
  await open(page, '/login');
  await page.fill('#email', email);
  await shot(page, `${prefix}-1-login`);
  await page.click('button[type=submit]');
  await page.waitForURL('**/login/sent**');
  assert.match(await page.textContent('main'), /Check your inbox/);
  assert.ok((await page.textContent('main')).includes(email));
  await shot(page, `${prefix}-2-check-inbox`);

  await open(page, '/dev/mailbox');
  const item = page.locator('.mail-item', { hasText: email }).first();
  await item.waitFor();
  await shot(page, `${prefix}-3-mailbox`);
  await item.locator('a', { hasText: 'Open email' }).click();
  await page.waitForURL('**/dev/mailbox/*');
  await shot(page, `${prefix}-4-email`);

  await page.click('a:has-text("Log in to Gatehouse") >> nth=0');
  await page.waitForURL('**/auth/confirm?token=*');
  await page.waitForLoadState('networkidle');
  assert.ok((await page.textContent('main')).includes(email), 'the confirm page names the email');
  await shot(page, `${prefix}-5-confirm`);
  const confirmUrl = page.url();
  await page.click('button:has-text("Confirm and log in")');
  await page.waitForURL(BASE_URL + '/');
  await page.waitForLoadState('networkidle');
  return confirmUrl;
}

test('a person logs in with the link from the dev mailbox and sees their email in the header', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  const email = uniqueEmail('e2e-login');
  await logInThroughTheMailbox(page, email, 'login-desktop');
  assert.equal(await page.textContent('.account-email'), email);
  assert.ok(await page.isVisible('button:has-text("Log out")'));
  await shot(page, 'login-desktop-6-signed-in');

  await page.click('button:has-text("Log out")');
  await page.waitForURL(BASE_URL + '/');
  assert.ok(await page.isVisible('a:has-text("Log in")'));
  assert.equal(await page.locator('.account-email').count(), 0);
  await page.close();
});

test('the same journey works on a phone-sized screen', async () => {
  const page = await browser.newPage({ viewport: PHONE });
  const email = uniqueEmail('e2e-phone');
  await logInThroughTheMailbox(page, email, 'login-phone');
  await shot(page, 'login-phone-6-signed-in');
  await page.click('label[for=nav-toggle]');
  assert.ok(await page.isVisible('.account-email'));
  assert.equal(await page.textContent('.account-email'), email);
  await shot(page, 'login-phone-7-menu-open');
  await page.close();
});

test('an invalid email gets a message next to the field and sends nothing', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  await open(page, '/login');
  await page.fill('#email', 'not-an-email');
  await page.click('button[type=submit]');
  await page.waitForSelector('#email-error:has-text("@")');
  assert.equal(await page.getAttribute('#email', 'aria-invalid'), 'true');
  assert.ok(new URL(page.url()).pathname === '/login', page.url());
  await shot(page, 'login-invalid-email');
  await page.close();
});

test('a used link shows a friendly page offering a new one', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  const email = uniqueEmail('e2e-reuse');
  const confirmUrl = await logInThroughTheMailbox(page, email, 'reuse');
  await page.goto(confirmUrl, { waitUntil: 'networkidle' });
  assert.match(await page.textContent('main'), /already used/);
  assert.ok(await page.isVisible('a:has-text("Get a new login link")'));
  await shot(page, 'login-used-link');
  await page.close();
});

test('the keyboard meets a skip link first and a visible focus ring, and no hidden menu switch on a wide screen', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  await open(page, '/');
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => ({
    text: document.activeElement.textContent,
    outline: getComputedStyle(document.activeElement).outlineStyle,
    top: document.activeElement.getBoundingClientRect().top,
  }));
  assert.equal(first.text, 'Skip to content');
  assert.equal(first.outline, 'solid');
  assert.ok(first.top >= 0, 'the skip link shows when focused');
  await shot(page, 'keyboard-1-skip-link');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  await open(page, '/');
  const stops = [];
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    stops.push(await page.evaluate(() => document.activeElement.id || document.activeElement.textContent.trim()));
  }
  assert.ok(!stops.includes('nav-toggle'), `Tab stops: ${stops.join(' | ')}`);
  await page.close();
});
