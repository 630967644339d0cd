// The seed's whole referral journey in Chromium: the inviter copies their link; a new person opens it,
// ticks every note, clicks I Understand, enters an email, opens the dev mailbox, clicks the link,
// confirms, lands on /i, refreshes and sees the $20 package; Billing → Resource packages shows it for both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, open, hydrated, shot, uniqueEmail, logIn, BASE_URL, DESKTOP, PHONE } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('an invitee signs up through the link and both people get the Claude Code package', async () => {
  const inviterContext = await browser.newContext({ viewport: DESKTOP, permissions: ['clipboard-read', 'clipboard-write'] });
  const inviter = await inviterContext.newPage();
  const inviterEmail = uniqueEmail('e2e-inviter');
  await logIn(inviter, inviterEmail, '/i');
  const link = await inviter.inputValue('#invite-link');
  assert.match(link, new RegExp(`^${BASE_URL}/i/[2-9A-HJKMNP-Z]{8}$`));
  await inviter.click('button:has-text("Copy link")');
  await inviter.waitForSelector('button:has-text("Copied")');
  assert.equal(await inviter.evaluate(() => navigator.clipboard.readText()), link);
  await shot(inviter, 'referral-1-inviter-link');

  // A new person, in a browser of their own, opens the link.
  const inviteeContext = await browser.newContext({ viewport: DESKTOP });
  const invitee = await inviteeContext.newPage();
  await open(invitee, link);
  assert.match(await invitee.textContent('h1'), /You're invited/);
  const understand = invitee.locator('button:has-text("I Understand")');
  assert.ok(await understand.isDisabled(), 'disabled until every note is ticked');
  await shot(invitee, 'referral-2-notes');
  const boxes = invitee.locator('.note input[type=checkbox]');
  assert.equal(await boxes.count(), 4);
  for (let i = 0; i < 4; i++) {
    if (i === 3) assert.ok(await understand.isDisabled(), 'still disabled with one note left');
    await boxes.nth(i).check();
  }
  // The button updates on the next tick after the last box is ticked.
  await invitee.waitForSelector('button:has-text("I Understand"):not([disabled])', { timeout: 5000 });
  assert.ok(await understand.isEnabled());
  await shot(invitee, 'referral-3-notes-ticked');
  await understand.click();
  await invitee.waitForURL('**/login?next=/i&invite=**');
  await invitee.waitForLoadState('networkidle');
  await hydrated(invitee);
  assert.match(await invitee.textContent('[data-testid=invite-banner]'), /will be applied/);
  const inviteeEmail = uniqueEmail('e2e-invitee');
  await invitee.fill('#email', inviteeEmail);
  await shot(invitee, 'referral-4-login');
  await invitee.click('button[type=submit]');
  await invitee.waitForURL('**/login/sent**');
  await shot(invitee, 'referral-5-check-inbox');

  await open(invitee, '/dev/mailbox');
  const mail = invitee.locator('.mail-item', { hasText: inviteeEmail }).first();
  await shot(invitee, 'referral-6-mailbox');
  await mail.locator('a', { hasText: 'Open email' }).click();
  await invitee.waitForURL('**/dev/mailbox/*');
  await shot(invitee, 'referral-7-email');
  await invitee.click('a:has-text("Log in to Gatehouse") >> nth=0');
  await invitee.waitForURL('**/auth/confirm?token=*');
  await invitee.waitForLoadState('networkidle');
  await hydrated(invitee);
  await shot(invitee, 'referral-8-confirm');
  await invitee.click('button:has-text("Confirm and log in")');
  await invitee.waitForURL(BASE_URL + '/i');
  await invitee.waitForLoadState('networkidle');
  await shot(invitee, 'referral-9-landed-on-i');

  await invitee.reload({ waitUntil: 'networkidle' });
  await hydrated(invitee);
  const earned = invitee.locator('[data-testid=earned-package]');
  assert.equal(await earned.count(), 1);
  assert.match(await earned.first().textContent(), /Claude Code API \$20 for joining through an invitation: \$20\.00 left of \$20\.00/);
  assert.match(await invitee.textContent('[data-testid=own-referral]'), /Rewarded/);
  await shot(invitee, 'referral-10-invitee-refreshed');

  await open(invitee, '/billing/packages');
  assert.match(await invitee.locator('[data-testid=package]').first().textContent(), /Claude Code API \$20[\s\S]*Referral/);
  await shot(invitee, 'referral-11-invitee-packages');

  // Back to the inviter: the friend is listed and the package is in Billing.
  await inviter.reload({ waitUntil: 'networkidle' });
  await hydrated(inviter);
  assert.equal(await inviter.textContent('[data-testid=opened]'), '1');
  assert.equal(await inviter.textContent('[data-testid=signed-up]'), '1');
  assert.equal(await inviter.textContent('[data-testid=qualified]'), '1');
  assert.match(await inviter.textContent('[data-testid=invitees]'), /e\*\*\*@example\.com[\s\S]*Rewarded/);
  assert.match(await inviter.locator('[data-testid=earned-package]').first().textContent(), /for inviting a friend/);
  await shot(inviter, 'referral-12-inviter-after');
  await open(inviter, '/billing/packages');
  assert.match(await inviter.locator('[data-testid=package]').first().textContent(), /Claude Code API \$20[\s\S]*Referral/);
  await shot(inviter, 'referral-13-inviter-packages');
  await inviterContext.close();
  await inviteeContext.close();
});

test('the invite notes read well on a phone, and a wrong code says so', async () => {
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  const inviterEmail = uniqueEmail('e2e-inviter-phone');
  await logIn(page, inviterEmail, '/i');
  await shot(page, 'referral-phone-1-inviter');
  const link = await page.inputValue('#invite-link');
  await context.clearCookies();
  await open(page, link);
  await shot(page, 'referral-phone-2-notes');
  await open(page, '/i/ZZZZZZZZ');
  assert.match(await page.textContent('h1'), /does not work/);
  await shot(page, 'referral-phone-3-unknown-code');
  await context.close();
});
