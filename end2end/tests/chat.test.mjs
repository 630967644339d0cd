// Web chat, as the seed shows it: a new conversation, choose CS4.5, enable deep thinking, send, watch the
// reply stream in with its thinking block, reload and find the conversation, and see the reply's bill.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, open, shot, uniqueEmail, logIn, DESKTOP, PHONE } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Sends a message and waits for the reply to finish. */
async function send(page, text) {
  await page.fill('[data-testid=compose]', text);
  await page.press('[data-testid=compose]', 'Enter');
  await page.waitForSelector('[data-testid=send]');
  await page.waitForFunction(() => {
    const replies = document.querySelectorAll('.message.assistant');
    const last = replies[replies.length - 1];
    return last && ['done', 'failed', 'stopped'].includes(last.dataset.status);
  });
}

test('a new conversation with CS4.5 and deep thinking streams, survives a reload, and is billed', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  await logIn(page, uniqueEmail('e2e-chat'), '/chat');
  await page.waitForSelector('[data-testid=chat]');
  assert.match(await page.textContent('[data-testid=chat-mock]'), /built-in mock/);
  await page.click('text=New conversation');
  assert.equal(await page.inputValue('[data-testid=model]'), 'claude-sonnet-4-5');
  assert.match(await page.textContent('[data-testid=model] option:checked'), /CS4\.5/);

  // A GPT model has no deep thinking, and the page says why.
  await page.selectOption('[data-testid=model]', 'gpt-5');
  await page.waitForSelector('[data-testid=thinking]:disabled');
  assert.match(await page.textContent('[data-testid=thinking-why]'), /GPT models/);
  await page.selectOption('[data-testid=model]', 'claude-sonnet-4-5');
  await page.waitForSelector('[data-testid=thinking]:not([disabled])');
  await page.check('[data-testid=thinking]');

  // Shift+Enter is a new line, Enter sends.
  await page.fill('[data-testid=compose]', 'Hello there');
  await page.press('[data-testid=compose]', 'Shift+Enter');
  await page.type('[data-testid=compose]', 'What is a rate limit?');
  assert.equal(await page.inputValue('[data-testid=compose]'), 'Hello there\nWhat is a rate limit?');
  await page.press('[data-testid=compose]', 'Enter');
  await page.waitForSelector('.message.assistant[data-status=done]');
  const reply = await page.textContent('.message.assistant .md');
  assert.match(reply, /mock upstream \(claude-sonnet-4-5\)/);
  assert.match(reply, /What is a rate limit\?/);
  const thinking = page.locator('[data-testid=thinking-block]');
  assert.equal(await thinking.count(), 1);
  assert.match(await thinking.textContent(), /Thinking/);
  assert.match(page.url(), /\/chat\?c=\d+$/);
  await page.waitForSelector('[data-testid=conversations] li.active');
  assert.match(await page.textContent('[data-testid=conversations]'), /Hello there/);
  await shot(page, 'chat-1-reply');

  // A follow-up in the same conversation.
  await send(page, 'And a `code` example?');
  assert.equal(await page.locator('.message.assistant').count(), 2);

  // Reload: the conversation and its thinking are still there.
  await open(page, new URL(page.url()).pathname + new URL(page.url()).search);
  assert.equal(await page.locator('.message.user').count(), 2);
  assert.equal(await page.locator('.message.assistant[data-status=done]').count(), 2);
  await page.click('[data-testid=thinking-block] summary');
  assert.match(await page.textContent('[data-testid=thinking-block] .thinking-text'), /The user wrote/);
  await shot(page, 'chat-2-reloaded');

  // The replies are on the Bills page as web chat.
  await open(page, '/billing/bills');
  const bills = await page.textContent('body');
  assert.match(bills, /Web chat/);
  assert.match(bills, /claude-sonnet-4-5/);
  await shot(page, 'chat-3-bills');
  await page.close();
});

test('conversations can be renamed and deleted, and the chat reads well on a phone', async () => {
  const page = await browser.newPage({ viewport: PHONE });
  await logIn(page, uniqueEmail('e2e-chat-phone'), '/chat');
  await page.waitForSelector('[data-testid=chat]');
  await send(page, 'Write **bold** text and a list:\n- one\n- two');
  await page.waitForSelector('[data-testid=conversations] li');
  await shot(page, 'chat-phone-1');

  await page.click('[data-testid=conversations] li summary');
  // The open menu stays inside the phone's width.
  const menu = await page.locator('[data-testid=conversations] .conversation-menu[open]').boundingBox();
  assert.ok(menu.x >= 0 && menu.x + menu.width <= 390, JSON.stringify(menu));
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth));
  await shot(page, 'chat-phone-1b-menu');
  await page.fill('[data-testid=conversations] input[name=title]', 'Renamed on my phone');
  await page.click('[data-testid=conversations] button:has-text("Rename")');
  await page.waitForSelector('text=Renamed on my phone');

  page.once('dialog', (d) => d.accept());
  await page.click('[data-testid=conversations] li summary');
  await page.click('[data-testid=conversations] button:has-text("Delete")');
  await page.waitForSelector('text=No conversations yet.');
  await page.waitForURL(/\/chat$/);
  await shot(page, 'chat-phone-2-deleted');
  await page.close();
});

test('Stop ends a reply midway; what was written is kept and billed', async () => {
  const page = await browser.newPage({ viewport: DESKTOP });
  await logIn(page, uniqueEmail('e2e-chat-stop'), '/chat');
  await page.waitForSelector('[data-testid=chat]');
  await page.check('[data-testid=thinking]');
  await page.fill('[data-testid=compose]', 'Tell me a long story about rate limits, token buckets and GCRA');
  await page.press('[data-testid=compose]', 'Enter');
  // The demo mock streams a piece every 30 ms: stop while the thinking is still coming.
  await page.waitForSelector('[data-testid=thinking-block]');
  await page.click('[data-testid=stop]');
  await page.waitForSelector('.message.assistant[data-status=stopped]');
  await page.waitForSelector('[data-testid=send]');
  await shot(page, 'chat-4-stopped');
  // The server notices the closed stream at its next piece, then saves the reply: reload until it has.
  const here = new URL(page.url()).pathname + new URL(page.url()).search;
  let saved = '';
  for (let i = 0; i < 25 && saved !== 'stopped'; i++) {
    await open(page, here);
    saved = await page.getAttribute('.message.assistant', 'data-status');
    if (saved !== 'stopped') await page.waitForTimeout(200);
  }
  assert.equal(saved, 'stopped');
  assert.match(await page.textContent('.message.assistant .meta'), /stopped/);
  await open(page, '/billing/bills');
  assert.match(await page.textContent('body'), /Web chat/);
  await page.close();
});
