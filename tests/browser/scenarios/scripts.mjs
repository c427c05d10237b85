// The supervisor's script editor: a broken edit is refused with its diagnostic beside the
// line it names (a long line of it wrapped, the line numbers still beside their lines), the
// fix is published and heard by the next call, and a rollback brings the earlier version
// back, each version named by its place among the file's versions. A test caller added on the
// screen hears a draft until removed, and their number is never shown. Whatever happens, the
// scenario ends with the version it found live and no test caller of its own, so the other
// scenarios (and the scripts folder, which publishing rewrites) see it unchanged.

import assert from 'node:assert/strict';

const FILE = 'en.xml';
const EDITOR = `/console/scripts/${FILE}`;
/// The sentence of the English main menu the scenario changes.
const MAIN = 'If you are a serviceman and want to surrender, press 1.';
const FIXED = 'Soldier, to surrender press 1.';
/// A line long enough to wrap in any editor width.
const LONG = `<!-- ${'A note on this menu that runs on and on, as notes do. '.repeat(12)}-->`;
/// The test caller's phone, and its label.
const TESTER = '+447700900321';
const TESTER_LABEL = 'Sofia, test phone';

export default async function (ctx) {
  const page = await ctx.newPage();
  await ctx.login(page, 'supervisor');
  await page.goto('/console/scripts');
  await page.locator(`a[href="${EDITOR}"]`).click();
  await page.waitForURL(`**${EDITOR}`);

  const area = page.locator('#script-text');
  const original = await area.inputValue();
  assert.ok(original.includes(MAIN), `the live ${FILE} lacks the main menu's sentence`);
  const originalVersion = await liveVersion(page);
  assert.ok(await mainMenu(ctx).then((said) => said.includes(MAIN)), 'callers hear the live text');

  try {
    // A broken edit: an option that leads nowhere. Publishing is refused, with the
    // diagnostic at its line, and callers keep the live version.
    // It also carries a long note, which wraps.
    const broken = original
      .replace('goto="surrender-group"', 'goto="nowhere"')
      .replace('\n', `\n${LONG}\n`);
    assert.ok(broken.includes('goto="nowhere"'), 'the script has no goto="surrender-group" to break');
    const line = broken.split('\n').findIndex((l) => l.includes('goto="nowhere"')) + 1;
    await area.fill(broken);
    await page.locator('input[name="comment"]').fill('a broken option');
    const refused = await submit(page, 'publish');
    assert.equal(refused.status(), 422, 'a broken script was not refused');
    const diagnostic = page.locator(`.diagnostic.error[data-line="${line}"]`);
    assert.equal(await diagnostic.count(), 1, `no error shown at line ${line}`);
    assert.match(await diagnostic.innerText(), /nowhere/);
    assert.equal(await page.locator(`.gutter #line-${line}.error`).count(), 1, 'gutter unmarked');
    // The diagnostic names the draft, whose text has that line, not the file of the folder.
    assert.match(await diagnostic.innerText(), new RegExp(`^draft of ${FILE}, line ${line}, column \\d+`));
    await linesWrapped(page, 2);
    // Its link puts the cursor on the line it names.
    await diagnostic.locator(`a[href="#line-${line}"]`).click();
    await page.waitForFunction((n) => {
      const el = document.querySelector('#script-text');
      return document.activeElement === el && el.value.slice(0, el.selectionStart).split('\n').length === n;
    }, line);
    await ctx.screenshot(page, 'scripts-editor-diagnostic');
    assert.equal(await liveVersion(page), originalVersion, 'a refused publish changed the live version');
    assert.ok((await mainMenu(ctx)).includes(MAIN), 'a refused publish reached callers');

    // Fixed, validated, published: the next call hears it.
    await area.fill(original.replace(MAIN, FIXED));
    const validated = await submit(page, 'validate');
    assert.equal(validated.status(), 200);
    assert.equal(await page.locator('.diagnostic.error').count(), 0, 'the fix still has errors');
    await page.locator('input[name="comment"]').fill('shorter first option');
    const published = await submit(page, 'publish');
    assert.equal(published.status(), 200, 'publishing the fix failed');
    assert.match(await page.locator('[data-testid="notice"]').innerText(), /\S/);
    const fixedVersion = await liveVersion(page);
    assert.ok(fixedVersion > originalVersion, 'no new live version');
    // Versions are counted per file: the fix is the next of this file's, whatever its id.
    const ordinal = (version) =>
      page.locator(`[data-testid="history"] tr[data-version="${version}"]`).getAttribute('data-ordinal');
    const [before, after] = [Number(await ordinal(originalVersion)), Number(await ordinal(fixedVersion))];
    assert.equal(after, before + 1, `v${before} was followed by v${after}`);
    const row = page.locator(`[data-testid="history"] tr[data-version="${fixedVersion}"]`);
    assert.match(await row.innerText(), new RegExp(`^v${after}\\s+id ${fixedVersion}\\b`));
    assert.ok((await mainMenu(ctx)).includes(FIXED), 'the next call does not hear the fix');

    // The history's diff against the live version, then a rollback (confirmed).
    await page.locator(`tr[data-version="${originalVersion}"] a`).click();
    await page.waitForURL(/diff=/);
    assert.match(
      await page.getByTestId('diff-title').innerText(),
      new RegExp(`from v${before} of ${FILE.replace('.', '\\.')} → v${after}`),
    );
    const diff = await page.locator('[data-testid="diff"]').innerText();
    assert.ok(diff.includes(`-    <say>${MAIN}`) && diff.includes(`+    <say>${FIXED}`), diff);
    page.once('dialog', (dialog) => {
      assert.ok(dialog.message().startsWith(`Make v${before} of ${FILE} live again?`), dialog.message());
      dialog.accept();
    });
    await Promise.all([
      page.waitForURL(/done=rolledback/),
      page.locator(`[data-testid="rollback-${originalVersion}"]`).click(),
    ]);
    assert.ok((await liveVersion(page)) > fixedVersion, 'the rollback made no new version');
    assert.equal(await area.inputValue(), original, 'the rollback did not restore the text');
    assert.ok((await mainMenu(ctx)).includes(MAIN), 'the next call does not hear the rollback');

    await testCaller(ctx, page);
  } finally {
    await restore(page, original, originalVersion);
  }
}

/// The editor wraps long lines (none runs past its right edge) and each line number is as
/// tall as its line once wrapped: line `long` takes several rows, and the numbers add up to
/// the height of the text the text area lays out.
async function linesWrapped(page, long) {
  const measured = await page.evaluate((n) => {
    const area = document.querySelector('#script-text');
    const style = window.getComputedStyle(area);
    const rows = [...document.querySelector('[data-gutter]').children].map(
      (item) => item.getBoundingClientRect().height,
    );
    return {
      wrap: area.getAttribute('wrap'),
      beyond: area.scrollWidth - area.clientWidth,
      long: rows[n - 1],
      row: parseFloat(style.lineHeight),
      numbers: rows.reduce((sum, height) => sum + height, 0),
      text: area.scrollHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom),
      scrolls: area.scrollHeight > area.clientHeight,
    };
  }, long);
  assert.equal(measured.wrap, 'soft', 'the editor does not wrap');
  assert.ok(measured.beyond <= 0, `the text runs ${measured.beyond}px past the editor's edge`);
  assert.ok(measured.long >= 2 * measured.row - 1, `line ${long} is not wrapped: ${JSON.stringify(measured)}`);
  assert.ok(measured.scrolls, 'the text is too short to compare with its line numbers');
  assert.ok(
    // Within half a row: sub-pixel rounding, never a row too many or too few.
    Math.abs(measured.numbers - measured.text) < measured.row / 2,
    `the line numbers (${measured.numbers}px) do not follow the text (${measured.text}px)`,
  );
}

/// A test caller added on the screen hears the draft, everyone else the live version, until
/// they are removed; a wrong number is refused on the page; the number is never shown.
async function testCaller(ctx, page) {
  const area = page.locator('#script-text');
  await area.fill((await area.inputValue()).replace(MAIN, FIXED));
  await submit(page, 'validate');
  assert.ok((await mainMenu(ctx, TESTER)).includes(MAIN), 'a number hears the draft before it is added');

  const form = page.getByTestId('add-tester');
  await form.locator('input[name="number"]').fill('+44 77');
  await form.locator('input[name="label"]').fill(TESTER_LABEL);
  const refused = await submit(page, 'add-tester-submit');
  assert.equal(refused.status(), 400, 'a wrong number was accepted');
  assert.match(await page.getByTestId('tester-notice').innerText(), /not added: a number is \+ and 6 to 15 digits/);
  assert.equal(await form.locator('input[name="label"]').inputValue(), TESTER_LABEL, 'the label typed is lost');

  await form.locator('input[name="number"]').fill(TESTER);
  const added = await submit(page, 'add-tester-submit');
  assert.equal(added.status(), 200);
  assert.match(await page.getByTestId('tester-notice').innerText(), /Calls from this number now hear the draft/);
  const row = page.locator('[data-testid="testers"] tr[data-tester]', { hasText: TESTER_LABEL });
  assert.equal(await row.count(), 1, 'the test caller is not listed');
  ctx.assertNoPhoneNumbers(await page.content(), [TESTER], 'the test callers');
  await ctx.screenshot(page, 'scripts-test-callers');
  assert.ok((await mainMenu(ctx, TESTER)).includes(FIXED), 'the test caller does not hear the draft');
  assert.ok((await mainMenu(ctx)).includes(MAIN), 'another caller hears the draft');

  page.once('dialog', (dialog) => dialog.accept());
  await Promise.all([page.waitForURL(/done=tester-removed/), row.locator('button').click()]);
  assert.match(await page.getByTestId('tester-notice').innerText(), /removed/);
  assert.equal(await row.count(), 0, 'the test caller is still listed');
  assert.ok((await mainMenu(ctx, TESTER)).includes(MAIN), 'a removed test caller hears the draft');
}

/// Clicks a button of the editor's form and waits for the page it leads to.
async function submit(page, button) {
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.locator(`[data-testid="${button}"]`).click(),
  ]);
  return response;
}

/// The live version of the file, from the history.
async function liveVersion(page) {
  const row = page.locator('[data-testid="history"] tr[data-version]').first();
  return Number(await row.getAttribute('data-version'));
}

/// What a new British caller (straight to English) hears in the main menu, from `from` or
/// a number of their own.
async function mainMenu(ctx, from) {
  const call = [
    ['CallSid', 'CA' + Math.random().toString(16).slice(2).padEnd(32, '0').slice(0, 32)],
    ['AccountSid', 'AC' + '0123456789abcdef'.repeat(2)],
    ['From', from ?? `+44770090${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`],
    ['To', '+18005550100'],
    ['CallStatus', 'in-progress'],
    ['FromCountry', 'GB'],
  ];
  const welcome = await ctx.webhook('/voice/incoming', call);
  assert.equal(welcome.status, 200);
  const next = /<Redirect\b[^>]*>([^<]*)<\/Redirect>/.exec(welcome.body);
  assert.ok(next, `the welcome does not lead on: ${welcome.body}`);
  const menu = await ctx.webhook(next[1].replace(/&amp;/g, '&'), call);
  return menu.body;
}

/// Puts back the version found live, throws away any draft of the file left behind, and
/// removes the scenario's test caller if it is still there.
async function restore(page, original, originalVersion) {
  await page.goto(EDITOR);
  const csrf = await page.locator('input[name="csrf"]').first().inputValue();
  const ours = page.locator('[data-testid="testers"] tr[data-tester]', { hasText: TESTER_LABEL });
  for (const id of await ours.evaluateAll((rows) => rows.map((row) => row.dataset.tester))) {
    await page.request.post(`${EDITOR}/testers/${id}/remove`, { form: { csrf } });
  }
  const hasDraft = (await page.locator(`form[action="${EDITOR}/discard"]`).count()) > 0;
  if (hasDraft) {
    await page.request.post(`${EDITOR}/discard`, { form: { csrf } });
    await page.goto(EDITOR);
  }
  if ((await page.locator('#script-text').inputValue()) !== original) {
    await page.request.post(`${EDITOR}/rollback`, {
      form: { csrf, version: String(originalVersion), comment: 'browser scenario: restore' },
    });
  }
}
