// The supervisor's people screen and audit log, in a browser: a supervisor adds an operator,
// the password shown once logs them in, an operator cannot open /console/people, and the
// addition is in the audit log. Screenshots: the people page and the audit log.
//
// The person added is new to this run: the run's own operator and supervisor are left as
// they are, for the other scenarios.

import assert from 'node:assert/strict';

export default async function (ctx) {
  const supervisor = await ctx.newPage();
  await ctx.login(supervisor, 'supervisor');
  const name = `newcomer-${Date.now().toString(36)}`;
  const { password, pin } = await addOperator(supervisor, name);
  assert.match(pin, /^\d{6}$/, 'the PIN shown is not six digits');
  assert.ok(password.length >= 12, `the password shown is too short: ${password.length}`);

  // The list shows the newcomer, never their secrets.
  await supervisor.goto('/console/people');
  const row = supervisor.locator(`tr[data-person="${name}"]`);
  await row.waitFor();
  assert.equal(await row.locator('input[name="languages"]').inputValue(), 'ru, uk');
  const listed = await supervisor.content();
  assert.ok(!listed.includes(password) && !listed.includes(pin), 'a secret is shown again');
  await ctx.screenshot(supervisor, 'people');

  // The password shown logs the newcomer in; as an operator, the people page is refused.
  const newcomer = await ctx.newPage();
  await ctx.login(newcomer, { name, password });
  await operatorRefused(newcomer);

  const operator = await ctx.newPage();
  await ctx.login(operator, 'operator');
  await operatorRefused(operator);

  // The addition is audited, by the supervisor who made it.
  await supervisor.goto('/console/audit?action=user.add');
  const lines = await supervisor.locator('[data-testid="audit"] tbody tr').allInnerTexts();
  const added = lines.find((line) => line.includes(`name=${name}`));
  assert.ok(added, `no user.add line for ${name} in ${JSON.stringify(lines)}`);
  assert.ok(added.includes(ctx.users.supervisor.name), `the line does not name the supervisor: ${added}`);
  assert.match(await supervisor.locator('[data-testid="audit-count"]').innerText(), /\d/);
  await supervisor.goto('/console/audit');
  await ctx.screenshot(supervisor, 'audit-log');

  for (const page of [supervisor, newcomer, operator]) {
    ctx.assertNoPhoneNumbers(await page.content(), ctx.numbersUsed(), page.url());
  }
}

/// Fills the people page's add form; returns the password and PIN the answer shows once.
async function addOperator(page, name) {
  await page.goto('/console/people');
  const form = page.locator('form[data-testid="add-person"]');
  await form.locator('input[name="name"]').fill(name);
  await form.locator('select[name="role"]').selectOption('operator');
  await form.locator('input[name="languages"]').fill('ru, uk');
  const [response] = await Promise.all([
    page.waitForNavigation(),
    form.locator('button[type="submit"]').click(),
  ]);
  assert.equal(response.status(), 200, `adding ${name} failed: ${await page.content()}`);
  assert.equal((await page.locator('[data-testid="secret-name"]').innerText()).trim(), name);
  const password = (await page.locator('[data-testid="password"]').innerText()).trim();
  const pin = (await page.locator('[data-testid="pin"]').innerText()).trim();
  return { password, pin };
}

/// An operator neither sees the people page in the menu nor opens it by its address.
async function operatorRefused(page) {
  assert.equal(await page.locator('nav a[href="/console/people"]').count(), 0, 'operators see People');
  const response = await page.goto('/console/people');
  assert.equal(response.status(), 403, 'an operator opened /console/people');
  const text = await page.locator('body').innerText();
  assert.ok(!text.includes('add-person') && (await page.locator('form[data-testid="add-person"]').count()) === 0);
}
