// The supervisor's record of a case, in a browser: a caller walks the Ukrainian menus into
// the operators' queue and hangs up waiting; the supervisor opens the case and reads its
// timeline as sentences in the console's language, with the caller masked. Nothing on the
// page is raw data: no JSON, no untranslated text key. Screenshot: the case page.

import assert from 'node:assert/strict';

export default async function (ctx) {
  const call = await ctx.enqueueCall({ language: 'uk' });
  const ours = /^c-(\d{4}-\d{6,})-\d+$/.exec(call.queue);
  assert.ok(ours, `an unexpected queue name ${call.queue}`);
  const number = ours[1];
  const ended = await ctx.hangUp(call);
  assert.equal(ended.status, 200, ended.body);

  const page = await ctx.newPage();
  await ctx.login(page, 'supervisor');
  await page.goto('/console/cases');
  await Promise.all([page.waitForURL(`**/console/cases/${number}`), page.locator(`a[href="/console/cases/${number}"]`).first().click()]);
  assert.equal((await page.getByTestId('case-number').innerText()).trim(), number);

  // The timeline: one line per step, each a time and words.
  const rows = await page.locator('table.timeline tbody tr').allInnerTexts();
  assert.ok(rows.length >= 4, `a timeline of ${rows.length} line(s): ${JSON.stringify(rows)}`);
  for (const row of rows) {
    assert.match(row, /^\s*\d{1,2}:\d\d(:\d\d)?\s+\S/, `a line without its time or words: ${row}`);
  }
  const timeline = rows.join('\n');
  for (const said of ['Chose the language', 'Heard', "Put in the operators' queue"]) {
    assert.ok(timeline.includes(said), `the timeline does not say "${said}":\n${timeline}`);
  }
  // What happened, as the case's outcome, is a sentence too.
  const outcome = page.getByTestId('outcome');
  const slug = await outcome.getAttribute('data-outcome');
  const words = (await outcome.innerText()).trim();
  assert.ok(slug.length > 0 && words !== slug, `the outcome reads as its code: ${words}`);
  assert.match(words, /^\p{L}+ \p{L}+/u, `the outcome is not a sentence: ${words}`);

  // Nowhere on the page is raw data: no JSON object, no key of the console's text.
  const shown = await page.locator('main, body').first().innerText();
  assert.doesNotMatch(shown, /\{\s*"[\w-]+"\s*:/, 'the page shows JSON');
  assert.doesNotMatch(shown, /"[\w-]+"\s*:\s*["{[\d]/, 'the page shows JSON');
  assert.doesNotMatch(shown, /\b(timeline|outcome|cases)\.[a-z_]+\b/, 'the page shows a text key');
  ctx.assertNoPhoneNumbers(await page.content(), [call.from], 'the case page');
  await ctx.screenshot(page, 'case-page');
}
