// How an operator is reached, in a browser: on the line by default, with the operator line's
// number to dial and a warning while available without having dialled in; then call me, with
// their own phone, of which the screen shows only the last two digits. A Korean caller then
// waits: the hotline rings that phone through the provider's REST API (a fake, which the
// scenario reads), the scenario answers as the provider would and presses 1, and the operator
// is put through to exactly that caller, whose case their screen shows. Screenshot: the
// operator's screen in call-me mode.
//
// The operator is new to this run and takes Korean calls only, so the run's own operator and
// the other scenarios' callers are left alone; they end offline.

import assert from 'node:assert/strict';

import { signature } from '../lib/signature.mjs';

/// The operator's own phone.
const PHONE = '+380441239876';
/// What tests/integration/browser.rs gives the server: the operator line's number and the
/// provider's fake REST API.
const LINE = process.env.HOTLINE_OPERATOR_LINE;
const API = process.env.HOTLINE_PROVIDER_API;
const ACCOUNT = process.env.HOTLINE_PROVIDER_ACCOUNT;
const TOKEN = process.env.HOTLINE_AUTH_TOKEN;

export default async function (ctx) {
  assert.ok(LINE && API && ACCOUNT && TOKEN, 'the run names no provider API (see browser.rs)');
  const supervisor = await ctx.newPage();
  await ctx.login(supervisor, 'supervisor');
  const name = `reach-${Date.now().toString(36)}`;
  const password = await addKoreanOperator(supervisor, name);
  const page = await ctx.newPage();
  await ctx.login(page, { name, password });
  await page.goto('/console/operator');

  // On the line: the number to dial, and call me open to choose on this hotline.
  assert.equal(await shown(page, 'reach'), 'on the line');
  assert.equal(await shown(page, 'line-number'), LINE);
  assert.equal(await page.getByTestId('call-me-refused').count(), 0, 'call me is refused');
  // Available without having dialled in: nobody can be put through, and the screen says so.
  await post(page, page.locator('button[name="state"][value="available"]'));
  assert.equal(await shown(page, 'state'), 'Available');
  assert.match(await shown(page, 'not-on-line'), /^Not on the line/);

  // A phone number that is not one is refused, and not shown back.
  const form = page.getByTestId('reach-form');
  await form.locator('input[name="mode"][value="call-me"]').check();
  await form.locator('input[name="phone"]').fill('+38 044 12');
  const refused = await post(page, form.locator('button[type="submit"]'));
  assert.equal(refused.status(), 400, 'a wrong phone number was accepted');
  assert.match(await page.locator('body').innerText(), /must be \+ and the country code/);
  assert.ok(!(await page.content()).includes('+38 044 12'), 'the wrong number is shown back');
  await page.goto('/console/operator');
  assert.equal(await shown(page, 'reach'), 'on the line');

  // Call me, with their phone: the screen shows its last two digits, never the number.
  await form.locator('input[name="mode"][value="call-me"]').check();
  await form.locator('input[name="phone"]').fill(PHONE);
  await post(page, form.locator('button[type="submit"]'));
  assert.equal(await shown(page, 'reach'), 'call me');
  assert.equal(await shown(page, 'phone-hint'), `…${PHONE.slice(-2)}`);
  assert.equal(await page.getByTestId('not-on-line').count(), 0, 'call me still warned off the line');
  assert.equal(await form.locator('input[name="phone"]').inputValue(), '', 'the number is filled in again');
  ctx.assertNoPhoneNumbers(await page.content(), [PHONE], 'the call-me screen');
  await ctx.screenshot(page, 'operator-call-me');

  // A Korean caller waits: the operator's phone rings, from the operator line.
  const call = await ctx.enqueueCall({ language: 'ko' });
  const caseNumber = /^c-(\d{4}-\d{6,})-\d+$/.exec(call.queue)[1];
  const ring = await rung(PHONE);
  assert.equal(ring.from, LINE, 'the ring does not come from the operator line');
  // Answered: the hotline asks for 1 (a voicemail picking up would not press it), then
  // whispers the case and bridges exactly this caller.
  // The ring may be answered before the hotline has stored the call it placed: then the
  // answer pauses and redirects to itself, and the provider follows, as here.
  let asked = await provider(ctx, ring.url, ring);
  for (let round = 0; round < 5; round++) {
    const again = /<Redirect\b[^>]*>([^<]*)<\/Redirect>/.exec(asked.body);
    if (!again) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    asked = await provider(ctx, again[1].replace(/&amp;/g, '&'), ring);
  }
  const take = /<Gather\b[^>]*\baction="([^"]*)"/.exec(asked.body);
  assert.ok(take, `the answered ring asks for no key: ${asked.body}`);
  const bridged = await provider(ctx, take[1].replace(/&amp;/g, '&'), ring, [['Digits', '1']]);
  assert.ok(bridged.body.includes(`>${call.queue}</Queue>`), `put through to another caller: ${bridged.body}`);
  await page.goto('/console/operator');
  assert.equal(await shown(page, 'case-number'), caseNumber);
  ctx.assertNoPhoneNumbers(await page.content(), [PHONE, call.from], 'the case on hand');

  // The talk ends and the operator's phone hangs up; they go offline.
  const dial = /<Dial\b[^>]*\baction="([^"]*)"/.exec(bridged.body);
  assert.ok(dial, bridged.body);
  const talked = [['DialCallStatus', 'completed'], ['DialCallDuration', '40']];
  assert.equal((await provider(ctx, dial[1].replace(/&amp;/g, '&'), ring, talked)).status, 200);
  const over = await provider(ctx, ring.status_callback, ring, [['CallStatus', 'completed']]);
  assert.equal(over.status, 200, over.body);
  await ctx.hangUp(call);
  await page.goto('/console/operator');
  await post(page, page.locator('button[name="state"][value="offline"]'));
  assert.equal(await shown(page, 'state'), 'Offline');
  for (const p of [page, supervisor]) {
    ctx.assertNoPhoneNumbers(await p.content(), [PHONE], p.url());
  }
}

/// The trimmed text of the element with this test id.
async function shown(page, id) {
  return (await page.getByTestId(id).innerText()).trim();
}

/// Clicks a form's button and waits for the page it leads to; the answer.
async function post(page, button) {
  const [response] = await Promise.all([page.waitForNavigation(), button.click()]);
  return response;
}

/// Adds an operator taking Korean calls through the people page; their password, shown once.
async function addKoreanOperator(page, name) {
  await page.goto('/console/people');
  const form = page.locator('form[data-testid="add-person"]');
  await form.locator('input[name="name"]').fill(name);
  await form.locator('select[name="role"]').selectOption('operator');
  await form.locator('input[name="languages"]').fill('ko');
  const response = await post(page, form.locator('button[type="submit"]'));
  assert.equal(response.status(), 200, `adding ${name} failed`);
  return (await page.getByTestId('password').innerText()).trim();
}

/// The call the hotline placed to `to`, from the provider's fake (waits up to 10 s).
async function rung(to) {
  const auth = Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64');
  for (let i = 0; i < 100; i++) {
    const answer = await fetch(`${API}/2010-04-01/Accounts/${ACCOUNT}/Calls.json`, {
      headers: { Authorization: `Basic ${auth}` },
    });
    assert.equal(answer.status, 200, 'the fake provider does not list its calls');
    const call = (await answer.json()).calls.find((c) => c.to === to);
    if (call) return call;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`the hotline did not ring ${to.slice(0, 4)}…`);
}

/// What the provider posts to `url` for the ring call `ring`, signed. Signed here rather than
/// through `ctx.webhook`, which would note the ring's `From`, the operator line's own number,
/// as a caller's: the operator's screen rightly shows it.
async function provider(ctx, url, ring, extra = []) {
  const params = [
    ['CallSid', ring.sid],
    ['AccountSid', ACCOUNT],
    ['From', LINE],
    ['To', ring.to],
    ['CallStatus', 'in-progress'],
    ['ApiVersion', '2010-04-01'],
    ['Direction', 'outbound-api'],
  ].filter(([name]) => !extra.some(([e]) => e === name));
  params.push(...extra);
  const absolute = new URL(url, ctx.base + '/').toString();
  const response = await fetch(absolute, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Twilio-Signature': signature(TOKEN, absolute, params),
    },
    body: new URLSearchParams(params),
  });
  const body = await response.text();
  assert.equal(response.status, 200, `${absolute}: ${response.status} ${body}`);
  return { status: response.status, body };
}
