// An operator's shift in the console: they log in and become available; a caller walks the
// IVR to the Russian queue (signed webhooks) and appears in the live queue without a reload;
// the operator claims them and dials in on the operator line, which connects exactly that
// caller; they write a note, set a disposition, the talk ends (wrap-up counts down), and they
// close the case.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

/// The dial-in PIN the test server gives its people (tests/common/api.rs TEST_PIN), unless
/// the run names another.
const PIN = process.env.HOTLINE_OPERATOR_PIN || '246810';

/// The operator's phone as the provider reports it on the operator line.
const OPERATOR_PHONE = '+15550000100';

function attribute(xml, element, name) {
  const tag = new RegExp(`<${element}\\b[^>]*>`).exec(xml);
  if (!tag) return undefined;
  const value = new RegExp(`\\b${name}="([^"]*)"`).exec(tag[0]);
  return value ? value[1].replace(/&amp;/g, '&') : undefined;
}

/// The operator line, as the provider drives it: a call in, the operator's number, the PIN.
/// Returns the call's parameters and the document after the PIN (whisper and `<Dial>`).
async function dialIn(ctx, operatorId) {
  const params = [
    ['CallSid', 'CA' + randomBytes(16).toString('hex')],
    ['AccountSid', 'AC' + '0123456789abcdef'.repeat(2)],
    ['From', OPERATOR_PHONE],
    ['To', '+18005550199'],
    ['CallStatus', 'in-progress'],
    ['ApiVersion', '2010-04-01'],
    ['Direction', 'inbound'],
  ];
  const start = await ctx.webhook('/voice/operator', params);
  assert.equal(start.status, 200, start.body);
  const askId = attribute(start.body, 'Gather', 'action');
  assert.ok(askId, `the operator line asks for an ID: ${start.body}`);
  const askPin = await ctx.webhook(askId, [...params, ['Digits', String(operatorId)]]);
  const pinAction = attribute(askPin.body, 'Gather', 'action');
  assert.ok(pinAction, `the operator line asks for a PIN: ${askPin.body}`);
  const connected = await ctx.webhook(pinAction, [...params, ['Digits', PIN]]);
  assert.equal(connected.status, 200, connected.body);
  return { params, document: connected.body };
}

export default async function (ctx) {
  const page = await ctx.newPage();
  await ctx.login(page, 'operator');
  await page.goto('/console/operator');
  const operatorId = (await page.getByTestId('operator-id').textContent()).trim();
  assert.match(operatorId, /^\d+$/);

  // One click: available.
  await Promise.all([page.waitForNavigation(), page.locator('button[name="state"][value="available"]').click()]);
  assert.equal((await page.getByTestId('state').textContent()).trim(), 'Available');

  // A caller arrives while the page is open: the live region shows them, no reload.
  await page.evaluate(() => {
    window.notReloaded = true;
  });
  const call = await ctx.enqueueCall({ language: 'ru' });
  // The caller's own provider queue is named after their case: c-2026-000042-7.
  const ours = /^c-(\d{4}-\d{6,})-\d+$/.exec(call.queue);
  assert.ok(ours, `an unexpected queue name ${call.queue}`);
  await page.locator(`[data-live] tr[data-testid="waiting"][data-case="${ours[1]}"]`).waitFor();
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was reloaded');
  ctx.assertNoPhoneNumbers(await page.content(), ctx.numbersUsed(), 'the live queue');
  await ctx.screenshot(page, 'operator-queue');

  // Claim the next caller (ours, or one who has waited longer in an earlier scenario), then
  // dial in: the operator line connects exactly the claimed caller.
  await Promise.all([page.waitForNavigation(), page.getByTestId('claim').click()]);
  const claimed = /\d{4}-\d{6,}/.exec(await page.getByTestId('claimed').textContent());
  assert.ok(claimed, 'the claim names the reserved case');
  const caseNumber = claimed[0];
  const line = await dialIn(ctx, operatorId);
  assert.ok(line.document.includes(`c-${caseNumber}-`), `connected to another caller: ${line.document}`);

  // The case is on the screen: number and the whisper's summary.
  await page.goto('/console/operator');
  assert.equal((await page.getByTestId('case-number').textContent()).trim(), caseNumber);
  assert.ok((await page.getByTestId('whisper').textContent()).includes('Case'));

  // A note, then a disposition.
  const note = `Wants to surrender with two others; call back after dark. ${randomBytes(3).toString('hex')}`;
  await page.getByTestId('note-text').fill(note);
  await Promise.all([page.waitForNavigation(), page.getByTestId('add-note').click()]);
  assert.ok((await page.getByTestId('notes').textContent()).includes(note));
  await page.getByTestId('disposition-select').selectOption('surrender-arranged');
  await Promise.all([page.waitForNavigation(), page.getByTestId('set-disposition').click()]);
  assert.equal((await page.getByTestId('disposition').textContent()).trim(), 'surrender-arranged');
  await ctx.screenshot(page, 'operator-case');

  // The talk ends: the operator line's Dial action. Wrap-up counts down on the screen.
  const dialAction = attribute(line.document, 'Dial', 'action');
  assert.ok(dialAction, line.document);
  const ended = await ctx.webhook(dialAction, [
    ...line.params,
    ['DialCallStatus', 'completed'],
    ['DialCallDuration', '95'],
    ['DialCallSid', 'CA' + randomBytes(16).toString('hex')],
  ]);
  assert.equal(ended.status, 200, ended.body);
  await page.goto('/console/operator');
  assert.equal((await page.getByTestId('state').textContent()).trim(), 'Wrap-up');
  const countdown = page.locator('time[data-countdown]');
  assert.match((await countdown.textContent()).trim(), /^\d+:\d\d$/, 'the countdown runs');

  // Close: the list starts on no choice again; the page then says what was recorded, and
  // the case leaves the operator's screen and reads as closed.
  assert.equal(await page.getByTestId('disposition-select').inputValue(), '');
  await page.getByTestId('disposition-select').selectOption('surrender-arranged');
  await Promise.all([page.waitForNavigation(), page.getByTestId('close-case').click()]);
  assert.ok((await page.getByTestId('recorded').textContent()).includes('surrender-arranged'));
  await page.goto('/console/operator');
  await page.getByTestId('no-case').waitFor();
  await page.goto(`/console/operator/case/${caseNumber}`);
  await page.getByTestId('closed').waitFor();
  ctx.assertNoPhoneNumbers(await page.content(), ctx.numbersUsed(), 'the closed case');
  await ctx.hangUp(call);
}
