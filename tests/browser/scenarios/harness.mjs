// The harness's own checks, so that a scenario passing means what it says: the signature is
// the provider's (the protocol's test vectors, and the server tells a forged one apart), a
// simulated call really waits and really ends, and the phone-number check finds a number
// however a page groups it.

import assert from 'node:assert/strict';

import { assertNoPhoneNumbers } from '../lib/numbers.mjs';
import { signature } from '../lib/signature.mjs';

export default async function (ctx) {
  signatureVectors();
  await forgedSignatureRefused(ctx);
  await callsQueuedAndEnded(ctx);
  numbersFound();
  await reloadNoticed(ctx);
}

// `withoutReload` passes when the page changed in place and fails when it was reloaded.
async function reloadNoticed(ctx) {
  const page = await ctx.newPage();
  await page.goto('/console/login');
  await ctx.withoutReload(page, async () => {
    await page.locator('input[name="name"]').fill('changed in place');
  });
  await assert.rejects(
    ctx.withoutReload(page, () => page.reload()),
    /reloaded instead of updated in place/,
  );
}

// `enqueueCall` reaches a queue in the language asked for, and `hangUp` ends the call: a
// number with two calls waiting (the server's default limit) gets a third in only after one
// of them hung up.
async function callsQueuedAndEnded(ctx) {
  const from = '+380671234560';
  const first = await ctx.enqueueCall({ language: 'uk', from });
  assert.match(first.documents.at(-2), /<Enqueue\b/);
  assert.match(first.documents.at(-2), /lang=uk/);
  await ctx.enqueueCall({ language: 'uk', from });
  await assert.rejects(ctx.enqueueCall({ language: 'uk', from }), /ended before reaching/);
  const ended = await ctx.hangUp(first);
  assert.equal(ended.status, 200, ended.body);
  const third = await ctx.enqueueCall({ language: 'uk', from });
  assert.notEqual(third.callSid, first.callSid);
}

// The helper libraries' own test vectors.
function signatureVectors() {
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = (number) => [
    ['CallSid', 'CA1234567890ABCDE'],
    ['Caller', number],
    ['Digits', '1234'],
    ['From', number],
    ['To', '+18005551212'],
  ];
  assert.equal(signature('12345', url, params('+14158675309')), 'RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  assert.equal(signature('12345', url, params('+12349013030')), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  // Parameters sorted by name whatever order they come in.
  assert.equal(
    signature('12345', url, params('+14158675309').reverse()),
    'RSOYDt4T1cUTdK1PDd93/VVr8B8=',
  );
}

// A request the harness signs is answered; the same request signed with another token is
// refused, so the harness's answers come from a server that checked them.
async function forgedSignatureRefused(ctx) {
  const params = [
    ['CallSid', 'CA' + 'f'.repeat(32)],
    ['AccountSid', 'AC' + '0'.repeat(32)],
    ['From', '+79160000001'],
    ['To', '+18005550100'],
    ['CallStatus', 'ringing'],
    ['ApiVersion', '2010-04-01'],
    ['Direction', 'inbound'],
  ];
  const url = `${ctx.base}/voice/incoming`;
  const forged = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Twilio-Signature': signature('not-the-token', url, params),
    },
    body: new URLSearchParams(params),
  });
  assert.equal(forged.status, 403, 'a forged signature was accepted');
  const signed = await ctx.webhook('/voice/incoming', params);
  assert.equal(signed.status, 200, `a signed request was refused: ${signed.body}`);
  assert.match(signed.body, /<Response>/);
}

// Written every way a page might, a number is found; masked, or near-misses, it is not.
function numbersFound() {
  const number = '+79161234567';
  const shown = [
    '+79161234567',
    '+7 916 123-45-67',
    '8 (916) 123 45 67',
    '916.123.45.67',
    '+7&nbsp;916&#160;123&nbsp;45&nbsp;67',
    '<td>+7</td><td>916</td><td>1234567</td>',
    '9<b>1</b>6\u00a0123\u2009456\u202f7',
  ];
  for (const html of shown) {
    assert.throws(() => assertNoPhoneNumbers(`<p>${html}</p>`, [number]), /phone number/, html);
  }
  const notShown = [
    '+7 916 ••• •• 67',
    '…67',
    'case 2026-000123',
    '+7 916 123 45 68',
    '916123456', // the number without its last digit
  ];
  for (const html of notShown) {
    assert.doesNotThrow(() => assertNoPhoneNumbers(`<p>${html}</p>`, [number]), html);
  }
}
