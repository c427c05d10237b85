// An operator answers a chat in the console: a person writes to the Telegram bot (updates
// posted to the webhook as Telegram posts them), chooses Russian and asks for an operator;
// the waiting chat appears in the open Chats list without a reload; the operator takes it,
// reads the person's words, replies (the reply shows, pending delivery), and closes it with a
// disposition, after which the reply box is gone. The chat id is on no page.

import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';

/// The bot's webhook secret the test server has (tests/common/mod.rs TELEGRAM_SECRET),
/// unless the run names another.
const SECRET = process.env.HOTLINE_TELEGRAM_SECRET || 'test-telegram-webhook-secret_0123456789';

let updates = randomInt(1_000_000, 2_000_000);

/// Posts one update to the bot's webhook, as Telegram does; it must be acknowledged.
async function telegram(ctx, update) {
  const response = await fetch(`${ctx.base}/text/telegram`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': SECRET },
    body: JSON.stringify({ update_id: (updates += 1), ...update }),
  });
  assert.equal(response.status, 200, await response.text());
}

function person(chatId) {
  return { id: chatId, is_bot: false, first_name: 'Test' };
}

/// A text message from private chat `chatId`.
function said(chatId, text) {
  const chat = { id: chatId, type: 'private', first_name: 'Test' };
  return { message: { message_id: updates + 1000, from: person(chatId), chat, date: 1_765_000_000, text } };
}

/// A button pressed in chat `chatId`.
function pressed(chatId, data) {
  const chat = { id: chatId, type: 'private', first_name: 'Test' };
  const message = { message_id: 1, from: { id: 1, is_bot: true, first_name: 'Hotline' }, chat, date: 1_765_000_000, text: '…' };
  return { callback_query: { id: `cb-${updates}`, from: person(chatId), message, chat_instance: '-1', data } };
}

export default async function (ctx) {
  const page = await ctx.newPage();
  await ctx.login(page, 'operator');

  // The menu leads to the chats; the list is open when the person arrives.
  await Promise.all([page.waitForNavigation(), page.locator('nav a[href="/console/chats"]').click()]);
  const before = await page.locator('[data-live] tr[data-testid="waiting-chat"]').evaluateAll(
    (rows) => rows.map((row) => row.dataset.case),
  );
  const chatId = randomInt(100_000_000, 999_999_999);
  const words = `Мне нужна помощь ${randomBytes(3).toString('hex')}`;
  await telegram(ctx, said(chatId, '/start'));
  await telegram(ctx, pressed(chatId, 'l:ru'));
  await telegram(ctx, said(chatId, '0'));
  await telegram(ctx, said(chatId, words));
  const earlier = before.map((c) => `:not([data-case="${c}"])`).join('');
  const row = page.locator(`[data-live] tr[data-testid="waiting-chat"]${earlier}`);
  await ctx.withoutReload(page, () => row.first().waitFor());
  const caseNumber = await row.first().getAttribute('data-case');
  assert.match(caseNumber, /^\d{4}-\d{6,}$/);
  await ctx.screenshot(page, 'chats-waiting');

  // Take it: the conversation, with the person's words and a reply box.
  await Promise.all([page.waitForNavigation(), row.first().getByTestId('take').click()]);
  assert.ok(page.url().endsWith(`/console/chats/${caseNumber}`), page.url());
  const timeline = page.getByTestId('timeline');
  await timeline.getByText(words).waitFor();

  // An empty reply is refused by the browser itself; a reply is sent and shows, pending.
  const reply = `Я здесь. Вы в безопасности? ${randomBytes(3).toString('hex')}`;
  await page.getByTestId('reply-text').fill(reply);
  await Promise.all([page.waitForNavigation(), page.getByTestId('send').click()]);
  const sent = timeline.locator('[data-testid="message"]').filter({ hasText: reply });
  await sent.waitFor();
  assert.match(await sent.getByTestId('delivery').textContent(), /pending|sent/);
  assert.equal(await page.getByTestId('reply-text').inputValue(), '', 'the box is empty again');
  await ctx.screenshot(page, 'chat-reply');

  // Close with a disposition (the page asks first): closed, no reply box.
  await page.getByTestId('disposition-select').selectOption('referred');
  page.once('dialog', (dialog) => dialog.accept());
  await Promise.all([page.waitForNavigation(), page.getByTestId('close').click()]);
  await page.getByTestId('closed').waitFor();
  assert.equal(await page.getByTestId('reply-text').count(), 0);

  // The case page shows the disposition; no page showed the chat id.
  await page.getByTestId('case-link').click();
  await page.waitForURL(`**/console/operator/case/${caseNumber}`);
  assert.equal((await page.getByTestId('disposition').textContent()).trim(), 'referred');
  ctx.assertNoPhoneNumbers(await page.content(), [String(chatId)], 'the case');
}
