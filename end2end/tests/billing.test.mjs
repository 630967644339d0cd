// A person with a package and a few calls sees them on every Billing page, tops up with a test payment,
// and reads the FAQ. Desktop and phone screenshots of each page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, open, shot, uniqueEmail, logIn, gatehouse, BASE_URL, DESKTOP, PHONE } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('billing pages show the balance, packages with deductions, bills and top-ups', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  const email = uniqueEmail('e2e-billing');
  await logIn(page, email, '/billing/balance');
  assert.match(await page.textContent('[data-testid=balance]'), /^\$0\.10$/);
  assert.match(await page.textContent('[data-testid=rpm]'), /60 RPM/);

  // The operator grants the referral package; two Claude Code calls and one plain call follow.
  gatehouse('admin', 'grant-package', email, '20', '--source', 'referral', '--title', 'Claude Code API $20');
  gatehouse('admin', 'record-call', email, 'claude-sonnet-4-5', '--channel', 'cc-omg', '--input', '12000', '--output', '800');
  gatehouse('admin', 'record-call', email, 'claude-haiku-4-5', '--channel', 'cc-omg', '--input', '3000', '--output', '400', '--cache-read', '9000');
  gatehouse('admin', 'record-call', email, 'gpt-4o-mini', '--channel', 'default', '--input', '2000', '--output', '300');

  await open(page, '/billing/balance');
  await shot(page, 'billing-1-balance');

  await open(page, '/billing/packages');
  const pkg = page.locator('[data-testid=package]').first();
  assert.match(await pkg.textContent(), /Claude Code API \$20/);
  assert.match(await pkg.textContent(), /Referral/);
  // Sonnet: 12000 x $3 + 800 x $15 per million = $0.048; Haiku: 3000 x $1 + 400 x $5 + 9000 x $0.10 = $0.0059.
  // Shown in cents, exactly in the tooltip.
  const remaining = pkg.locator('[data-testid=package-remaining] .usd');
  assert.equal(await remaining.textContent(), '$19.95');
  assert.equal(await remaining.getAttribute('title'), 'exactly $19.9461');
  await pkg.locator('summary').click();
  assert.equal(await pkg.locator('.deductions tbody tr').count(), 2);
  await shot(page, 'billing-2-packages');

  await open(page, '/billing/bills');
  assert.match(await page.textContent('[data-testid=bills-summary]'), /3 calls/);
  const paid = await page.locator('[data-testid=balance-paid]').allTextContents();
  // Newest first: the gpt-4o-mini call on the plain channel is paid by the balance, the package paid the others.
  // One call's cost reads to four decimals.
  assert.deepEqual(paid, ['$0.0005', '$0.0000', '$0.0000']);
  // The filter's totals: official $0.048 + $0.0059 + $0.00048, packages $0.0539, balance $0.00048.
  const total = await page.textContent('[data-testid=bills-total]');
  assert.match(total, /Total, 3 calls matching\s*\$0\.05\s*\$0\.05\s*\$0\.0005/);
  // The table fits a 1280 px window: no sideways scroll.
  assert.ok(await page.evaluate(() => { const w = document.querySelector('.table-wrap'); return w.scrollWidth <= w.clientWidth; }));
  await shot(page, 'billing-3-bills');
  await page.selectOption('select[name=model]', 'claude-haiku-4-5');
  await page.click('button:has-text("Filter")');
  await page.waitForURL('**/billing/bills?**model=claude-haiku-4-5**');
  await page.waitForLoadState('networkidle');
  assert.match(await page.textContent('[data-testid=bills-summary]'), /1 call,/);

  // Usage: a bar per day of the last 30, the calls summed per channel, model and key, and the same as CSV.
  await open(page, '/billing/usage');
  assert.equal(await page.locator('[data-testid=usage-chart] .bar').count(), 30);
  assert.match(await page.textContent('[data-testid=usage-total]'), /3 calls: \$0\.0005 from your balance, \$0\.05 from packages/);
  const today = page.locator('[data-testid=usage-chart] .bar').last();
  assert.match(await today.locator('title').textContent(), /3 calls, \$0\.05 from packages, \$0\.0005 from your balance/);
  assert.match(await page.textContent('[data-testid=usage-channel]'), /Claude Code[\s\S]*Standard[\s\S]*Total\s*3/);
  assert.match(await page.textContent('[data-testid=usage-model]'), /claude-sonnet-4-5[\s\S]*claude-haiku-4-5[\s\S]*gpt-4o-mini/);
  const usageCsv = await page.evaluate(async () => (await fetch('/billing/usage.csv')).text());
  assert.match(usageCsv, /^date_utc,channel,model,key,calls/);
  assert.match(usageCsv, /,default,gpt-4o-mini,record-call,1,2000,300,0\.00048,0,0\.00048\n/);
  await shot(page, 'billing-3b-usage');

  // Top up CNY 20 with the labelled test payment; the tier rises to 1000 RPM at once.
  await open(page, '/billing/topup');
  await shot(page, 'billing-4-topup');
  await page.click('button:has-text("Test payment")');
  await page.waitForURL('**/billing/balance?topup=test**');
  await page.waitForLoadState('networkidle');
  assert.match(await page.textContent('[role=status]'), /Test payment: \$2\.80 was added/);
  assert.equal(await page.textContent('[data-testid=balance]'), '$2.90');
  assert.match(await page.textContent('[data-testid=rpm]'), /1000 RPM/);
  await page.click('summary:has-text("Why am I getting a 402 error?")');
  await shot(page, 'billing-5-after-topup');

  await open(page, '/billing/bills?tab=movements');
  const movements = await page.textContent('[data-testid=movements]');
  assert.match(movements, /Top-up\s*CN¥20\.00/);
  assert.match(movements, /Package granted/);
  assert.match(movements, /Welcome balance/);
  // The calls between the grant and the top-up are one line, and every line's balance follows from the last.
  const lines = await page.locator('[data-testid=movements] tbody tr').evaluateAll((rows) => rows.map((r) => ({
    what: r.querySelector('[data-label=What]').textContent,
    change: r.querySelector('[data-label=Balance] .usd').getAttribute('title') || r.querySelector('[data-label=Balance] .usd').textContent,
    after: r.querySelector('[data-label="Balance after"] .usd').getAttribute('title') || r.querySelector('[data-label="Balance after"] .usd').textContent,
  })));
  assert.deepEqual(lines.map((l) => l.what), ['Top-up', 'API calls (3 calls)', 'Package granted', 'Welcome balance']);
  const dollars = (t) => Number(t.replace('exactly ', '').replace('+', '').replace('$', ''));
  for (let i = 0; i + 1 < lines.length; i++) {
    assert.ok(Math.abs(dollars(lines[i + 1].after) + dollars(lines[i].change) - dollars(lines[i].after)) < 1e-9, JSON.stringify(lines));
  }
  await shot(page, 'billing-6-movements');
  await page.close();
});

test('the billing pages read well on a phone, and a negative balance is explained', async () => {
  const page = await browser.newPage({ viewport: PHONE });
  const email = uniqueEmail('e2e-billing-phone');
  await logIn(page, email, '/billing/balance');
  gatehouse('admin', 'record-call', email, 'claude-opus-4-1', '--channel', 'default', '--input', '10000', '--output', '1000');
  await open(page, '/billing/balance');
  assert.equal(await page.textContent('[data-testid=balance]'), '-$0.13');
  assert.match(await page.textContent('[role=alert]'), /API access is blocked until your balance is positive/);
  await shot(page, 'billing-phone-1-negative-balance');
  await open(page, '/billing/bills');
  await shot(page, 'billing-phone-2-bills');

  // A tool's call is refused with 402: the Refused calls tab says why, and nothing was charged.
  await open(page, '/keys');
  await page.fill('#key-name', 'Translator');
  await page.click('button:has-text("Create key")');
  const secret = await page.inputValue('#new-key-secret');
  const refused = await fetch(`${BASE_URL}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}`, 'x-request-id': 'e2e-refused-1' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }),
  });
  assert.equal(refused.status, 402);
  let row = '';
  for (let i = 0; i < 20 && !row; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    await open(page, '/billing/bills?tab=refused');
    row = (await page.locator('[data-testid=refused] tbody tr').count()) ? await page.textContent('[data-testid=refused] tbody tr') : '';
  }
  assert.match(row, /Translator[\s\S]*gpt-4o-mini[\s\S]*402[\s\S]*balance[\s\S]*e2e-refused-1/);
  await shot(page, 'billing-phone-4-refused');
  await open(page, '/billing/topup');
  await shot(page, 'billing-phone-3-topup');
  await page.close();
});
