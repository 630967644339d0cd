// 中文 / English / 日本語: the switcher works without JavaScript and keeps the choice in a cookie (and on the
// signed-in account); a first visit follows Accept-Language; and every page, signed out and signed in, reads
// in Chinese and in Japanese with no English sentence left over. Screenshots of every page in Chinese and
// Japanese at 1280 and 390 px land in screenshots/languages/ (every_page.test.mjs takes the English ones).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch, open, uniqueEmail, logIn, operatorWithData, PACKAGE_TITLE, BASE_URL, SHOTS, DESKTOP, PHONE } from './browser.mjs';

const LANG_SHOTS = `${SHOTS}languages/`;
mkdirSync(LANG_SHOTS, { recursive: true });

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const SIGNED_OUT = ['/', '/login', '/login/sent', '/prices', '/docs', '/i/ZZZZZZZZ', '/auth/confirm?token=not-a-token',
  '/dev/mailbox', '/no-such-page', '/keys', '/billing/balance', '/chat', '/i'];
const SIGNED_IN = ['/', '/keys', '/chat', '/i', '/billing/balance', '/billing/topup', '/billing/packages', '/billing/bills',
  '/billing/bills?tab=movements', '/billing/bills?tab=refused', '/billing/usage', '/docs', '/prices', '/account/sessions',
  '/admin', '/admin/accounts', '/admin/referrals', '/admin/codes', '/admin/prices', '/admin/providers', '/admin/log'];

// What may stay in Latin letters on a Chinese or Japanese page: names (of the product, the apps it works with,
// models, channels), code and the person's own data (emails, key names, package titles the operator wrote).
const NAMES = /Claude Code|Immersive Translate|Gatehouse|OpenAI|Anthropic|Claude|Codex|CodeX|Python SDK|Chat Completions|Responses API|Messages API|API|SDK|Stripe|WeChat Pay|Alipay|UTC|USD|CNY|RPM|JSON|CSV|URL|HTTP|curl|Bearer/g;

/// Runs of three or more English words in the page's visible text (code blocks, form values and what people
/// wrote, marked translate="no", left out).
async function englishSentences(page, allowed) {
  const text = await page.evaluate(() => {
    const skip = 'pre, code, kbd, samp, script, style, textarea, input, select option[value], [translate=no]';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const out = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest(skip)) continue;
      const style = getComputedStyle(el);
      if (style.display === 'none' || style.visibility === 'hidden') continue;
      out.push(n.textContent);
    }
    return out.join('\n');
  });
  const cleaned = allowed.reduce((t, s) => t.split(s).join(' '), text).replace(NAMES, ' ')
    .replace(/\S+@\S+/g, ' ').replace(/[a-z0-9]+(?:-[a-z0-9.]+)+/gi, ' ');
  return [...cleaned.matchAll(/\b[A-Za-z]{2,}(?:[ ,'’]+[A-Za-z]{2,}){2,}\b/g)].map((m) => m[0]);
}

async function checkPage(page, path, lang, allowed, name) {
  await open(page, path);
  assert.equal(await page.getAttribute('html', 'lang'), lang, `${path}: <html lang>`);
  const found = await englishSentences(page, allowed);
  const width = page.viewportSize().width;
  await page.screenshot({ path: `${LANG_SHOTS}${name}-${lang}-${width}.png`, fullPage: true });
  const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  return [
    ...found.map((s) => `${lang} ${path} at ${width}px: "${s}"`),
    ...(sideways > 1 ? [`${lang} ${path} at ${width}px scrolls sideways by ${sideways}px`] : []),
  ];
}

const slug = (path) => path.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '') || 'home';

test('the switcher works without JavaScript, keeps the choice, and marks the page language', async () => {
  const context = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false, locale: 'en-US' });
  const page = await context.newPage();
  await page.goto(BASE_URL + '/prices');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  // On a phone the switcher sits in the menu: open it (a checkbox, no script), then choose 中文.
  await page.click('label[for=nav-toggle]');
  await page.click('.lang-switch a[lang=zh]');
  await page.waitForURL(BASE_URL + '/prices');
  assert.equal(await page.getAttribute('html', 'lang'), 'zh');
  assert.match(await page.textContent('nav.mainnav'), /对话/);
  assert.equal(await page.getAttribute('.lang-switch a[lang=zh]', 'aria-current'), 'true');
  const cookie = (await context.cookies()).find((c) => c.name === 'i18n_pref_locale');
  assert.equal(cookie?.value, 'zh');
  // The choice holds on the next page, and 日本語 switches again.
  await page.goto(BASE_URL + '/docs');
  assert.equal(await page.getAttribute('html', 'lang'), 'zh');
  await page.click('label[for=nav-toggle]');
  await page.click('.lang-switch a[lang=ja]');
  await page.waitForURL(BASE_URL + '/docs');
  assert.equal(await page.getAttribute('html', 'lang'), 'ja');
  await context.close();
});

test('a first visit follows Accept-Language, and a hydrated page keeps the language it was served in', async () => {
  for (const [locale, lang, word] of [['zh-CN', 'zh', '价格'], ['ja-JP', 'ja', '料金'], ['fr-FR', 'en', 'Prices']]) {
    const context = await browser.newContext({ viewport: DESKTOP, locale });
    const page = await context.newPage();
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await open(page, '/prices');
    assert.equal(await page.getAttribute('html', 'lang'), lang, locale);
    assert.match(await page.textContent('h1'), new RegExp(word), locale);
    assert.deepEqual(errors, [], `${locale}: no errors while hydrating`);
    await context.close();
  }
});

test('every page reads in Chinese and Japanese, signed out and signed in, at 1280 and 390 px', async () => {
  const { context: setup, email } = await operatorWithData(browser, 'e2e-languages', 'laptop');
  const signedIn = await setup.storageState();
  await setup.close();
  // Data shown as it was written: the person's email, the package title an operator wrote, and the subject of
  // the English login email the set-up asked for (the dev mailbox lists emails in the language they were sent
  // in). Operators' reasons and notes are marked translate="no" on the pages.
  const allowed = [email, PACKAGE_TITLE, 'Your Gatehouse login link'];

  const problems = [];
  for (const lang of ['zh', 'ja']) {
    for (const viewport of [DESKTOP, PHONE]) {
      const cookie = { name: 'i18n_pref_locale', value: lang, url: BASE_URL };
      const out = await browser.newContext({ viewport });
      await out.addCookies([cookie]);
      const outPage = await out.newPage();
      for (const path of SIGNED_OUT) {
        const found = await checkPage(outPage, path, lang, allowed, `out-${slug(path)}`);
        problems.push(...found);
      }
      await out.close();
      const inside = await browser.newContext({ viewport, storageState: signedIn });
      await inside.addCookies([cookie]);
      const inPage = await inside.newPage();
      for (const path of SIGNED_IN) {
        const found = await checkPage(inPage, path, lang, allowed, `in-${slug(path)}`);
        problems.push(...found);
      }
      await inside.close();
    }
  }
  assert.deepEqual(problems, [], 'English left on Chinese or Japanese pages');
});

test('a signed-in choice is kept on the account, and the login email comes in that language', async () => {
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
  const page = await context.newPage();
  const email = uniqueEmail('e2e-lang-account');
  await logIn(page, email, '/');
  // On a wide screen the languages open from the page's language, on hover (or focus).
  await page.hover('.lang-switch .sub-trigger');
  await page.click('.lang-switch a[lang=ja]');
  await page.waitForURL(BASE_URL + '/');
  await context.close();
  // Another browser, with no cookie and an English Accept-Language, asks for a login link: it is in Japanese.
  const other = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
  const page2 = await other.newPage();
  await open(page2, '/login');
  await page2.fill('#email', email);
  await page2.click('button[type=submit]');
  await page2.waitForURL('**/login/sent**');
  await open(page2, '/dev/mailbox');
  const item = page2.locator('.mail-item', { hasText: email }).first();
  assert.match(await item.textContent(), /ログイン/);
  await other.close();
});
