// The admin console as an operator uses it: find an account, credit it, record an offline payment of
// CNY 20 (the person's tier becomes 1000 RPM), read the operator log; and a person who is not an operator
// gets the 404 page on every console path and 404 from every console server function.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, open, shot, uniqueEmail, logIn, gatehouse, BASE_URL, DESKTOP, PHONE } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const CONSOLE_PATHS = ['/admin', '/admin/accounts', '/admin/accounts/1', '/admin/referrals', '/admin/codes', '/admin/prices',
  '/admin/providers', '/admin/log'];
const CONSOLE_FUNCTIONS = ['admin_dashboard', 'admin_accounts', 'admin_account', 'admin_adjust', 'admin_offline_payment',
  'admin_grant', 'admin_set_disabled', 'admin_referrals', 'admin_decide_referral', 'admin_set_invite_code',
  'admin_codes', 'admin_create_codes', 'admin_disable_code', 'admin_prices', 'admin_save_prices', 'admin_restore_prices',
  'admin_providers', 'admin_log'];

test('an operator credits a person and records an offline payment of CNY 20 that raises their tier to 1000 RPM', async () => {
  const personContext = await browser.newContext({ viewport: DESKTOP });
  const person = await personContext.newPage();
  const personEmail = uniqueEmail('e2e-customer');
  await logIn(person, personEmail, '/billing/balance');
  assert.match(await person.textContent('[data-testid=rpm]'), /60 RPM/);

  const operatorContext = await browser.newContext({ viewport: DESKTOP });
  const operator = await operatorContext.newPage();
  const operatorEmail = uniqueEmail('e2e-operator');
  await logIn(operator, operatorEmail, '/');
  gatehouse('admin', 'promote', operatorEmail);
  await open(operator, '/');
  // The header now links to the console.
  await operator.click('header a:has-text("Admin")');
  await operator.waitForURL(`${BASE_URL}/admin`);
  await operator.waitForSelector('[data-testid=days]');
  await shot(operator, 'admin-1-dashboard');

  await open(operator, '/admin/accounts');
  await operator.fill('#account-q', personEmail);
  await operator.click('button:has-text("Search")');
  await operator.waitForURL('**/admin/accounts?q=**');
  await operator.waitForLoadState('networkidle');
  await operator.click(`[data-testid=accounts] a:has-text("${personEmail}")`);
  await operator.waitForURL('**/admin/accounts/*');
  await operator.waitForLoadState('networkidle');
  assert.match(await operator.textContent('[data-testid=account-rpm]'), /^60 RPM$/);

  // Credit $5 with a reason.
  const adjust = operator.locator('[data-testid=adjust-form]');
  await adjust.locator('[name=amount]').fill('5');
  await adjust.locator('[name=reason]').fill('Goodwill after the outage');
  await adjust.locator('button[type=submit]').click();
  await operator.waitForSelector('text=Balance changed.');
  await operator.waitForFunction(() => /\$5\.10/.test(document.querySelector('[data-testid=account-money]')?.textContent || ''));

  // Record CNY 20 paid by WeChat Pay.
  const payment = operator.locator('[data-testid=payment-form]');
  await payment.locator('[name=amount]').fill('20');
  await payment.locator('[name=currency]').selectOption('CNY');
  await payment.locator('[name=method]').fill('WeChat Pay');
  await payment.locator('[name=reason]').fill('Transfer reference 4471');
  await payment.locator('button[type=submit]').click();
  await operator.waitForSelector('text=Payment recorded.');
  await operator.waitForFunction(() => document.querySelector('[data-testid=account-rpm]')?.textContent === '1000 RPM');
  // $0.10 welcome + $5 credit + CNY 20 at 0.14 = $7.90.
  assert.match(await operator.textContent('[data-testid=account-money]'), /\$7\.90/);
  const log = await operator.textContent('[data-testid=operator-log]');
  assert.match(log, /Offline payment[\s\S]*CN¥20\.00 paid by WeChat Pay[\s\S]*Transfer reference 4471/);
  assert.match(log, /Credit[\s\S]*\$5\.00 credited to the balance[\s\S]*Goodwill after the outage/);
  await shot(operator, 'admin-2-account');
  await operator.setViewportSize(PHONE);
  await shot(operator, 'admin-3-account-phone');

  // The person sees the new tier and the top-up.
  await open(person, '/billing/balance');
  assert.match(await person.textContent('[data-testid=rpm]'), /1000 RPM/);
  assert.equal(await person.textContent('[data-testid=balance]'), '$7.90');

  // The operator log page lists both actions, newest first.
  await operator.setViewportSize(DESKTOP);
  await open(operator, '/admin/log');
  const rows = await operator.locator('[data-testid=operator-log] tbody tr').allTextContents();
  assert.match(rows[0], /Offline payment/);
  assert.match(rows[1], /Credit/);
  await shot(operator, 'admin-4-log');
  // In Chinese the log names and words each action; the operator's reason stays as written.
  await operator.context().addCookies([{ name: 'i18n_pref_locale', value: 'zh', url: BASE_URL }]);
  await open(operator, '/admin/log');
  const zh = await operator.locator('[data-testid=operator-log] tbody tr').allTextContents();
  assert.match(zh[0], /线下付款[\s\S]*通过 WeChat Pay 支付 ¥20\.00[\s\S]*Transfer reference 4471/);
  assert.match(zh[1], /入账[\s\S]*余额增加 \$5\.00[\s\S]*Goodwill after the outage/);
  await shot(operator, 'admin-5-log-zh');
  await personContext.close();
  await operatorContext.close();
});

test('a person who is not an operator gets 404 on every console path and server function', async () => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  await logIn(page, uniqueEmail('e2e-not-operator'), '/');
  assert.equal(await page.locator('header a:has-text("Admin")').count(), 0, 'no console link');
  for (const path of CONSOLE_PATHS) {
    const res = await page.goto(BASE_URL + path, { waitUntil: 'networkidle' });
    assert.equal(res.status(), 404, path);
    assert.match(await page.textContent('h1'), /Page not found/, path);
  }
  for (const fn of CONSOLE_FUNCTIONS) {
    const status = await page.evaluate(async (url) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'id=1&q=&amount=5&reason=x&key=&currency=CNY&method=x&title=&scope=cc-omg&days=1&disabled=true&approve=true' +
          '&code=ABCD2345&about=&note=&count=1&uses=1&table=x&multipliers=cc-omg%3D1&base=0' });
      return res.status;
    }, `${BASE_URL}/api/${fn}`);
    assert.equal(status, 404, fn);
  }
  await context.close();
});
