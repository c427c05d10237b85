// The supervisor's script editor: a broken edit is refused with its diagnostic beside the
// line it names, the fix is published and heard by the next call, and a rollback brings the
// earlier version back. Whatever happens, the scenario ends with the version it found live,
// so the other scenarios (and the scripts folder, which publishing rewrites) see it unchanged.

import assert from 'node:assert/strict';

const FILE = 'en.xml';
const EDITOR = `/console/scripts/${FILE}`;
/// The sentence of the English main menu the scenario changes.
const MAIN = 'If you are a serviceman and want to surrender, press 1.';
const FIXED = 'Soldier, to surrender press 1.';

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
    const broken = original.replace('goto="surrender-group"', 'goto="nowhere"');
    assert.notEqual(broken, original, 'the script has no goto="surrender-group" to break');
    const line = broken.split('\n').findIndex((l) => l.includes('goto="nowhere"')) + 1;
    await area.fill(broken);
    await page.locator('input[name="comment"]').fill('a broken option');
    const refused = await submit(page, 'publish');
    assert.equal(refused.status(), 422, 'a broken script was not refused');
    const diagnostic = page.locator(`.diagnostic.error[data-line="${line}"]`);
    assert.equal(await diagnostic.count(), 1, `no error shown at line ${line}`);
    assert.match(await diagnostic.innerText(), /nowhere/);
    assert.equal(await page.locator(`.gutter #line-${line}.error`).count(), 1, 'gutter unmarked');
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
    assert.ok((await mainMenu(ctx)).includes(FIXED), 'the next call does not hear the fix');

    // The history's diff against the live version, then a rollback (confirmed).
    await page.locator(`tr[data-version="${originalVersion}"] a`).click();
    await page.waitForURL(/diff=/);
    const diff = await page.locator('[data-testid="diff"]').innerText();
    assert.ok(diff.includes(`-    <say>${MAIN}`) && diff.includes(`+    <say>${FIXED}`), diff);
    page.once('dialog', (dialog) => dialog.accept());
    await Promise.all([
      page.waitForURL(/done=rolledback/),
      page.locator(`[data-testid="rollback-${originalVersion}"]`).click(),
    ]);
    assert.ok((await liveVersion(page)) > fixedVersion, 'the rollback made no new version');
    assert.equal(await area.inputValue(), original, 'the rollback did not restore the text');
    assert.ok((await mainMenu(ctx)).includes(MAIN), 'the next call does not hear the rollback');
  } finally {
    await restore(page, original, originalVersion);
  }
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

/// What a new British caller (straight to English) hears in the main menu.
async function mainMenu(ctx) {
  const call = [
    ['CallSid', 'CA' + Math.random().toString(16).slice(2).padEnd(32, '0').slice(0, 32)],
    ['AccountSid', 'AC' + '0123456789abcdef'.repeat(2)],
    ['From', `+44770090${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`],
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

/// Puts back the version found live and throws away any draft of the file left behind.
async function restore(page, original, originalVersion) {
  await page.goto(EDITOR);
  const csrf = await page.locator('input[name="csrf"]').first().inputValue();
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
