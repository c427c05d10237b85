// Logging in and out of the console, a wrong password, and the login rate limit.

import assert from 'node:assert/strict';

// The rate limit locks the operator's login for a while (and perhaps this address): every
// other scenario runs first.
export const last = true;

// How many wrong passwords in a row the rate limit may let through before it answers 429.
const MAX_ATTEMPTS_BEFORE_LIMIT = 20;

export default async function (ctx) {
  await inAndOut(ctx);
  await wrongPassword(ctx);
  await rateLimited(ctx);
}

function path(page) {
  return new URL(page.url()).pathname;
}

// Fills and submits the login form; returns the answer to the POST.
async function submitLogin(page, name, password) {
  await page.goto('/console/login');
  await page.locator('input[name="name"]').fill(name);
  await page.locator('input[name="password"]').fill(password);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.locator('input[name="password"]').press('Enter'),
  ]);
  return response;
}

// An operator logs in, sees the console as themselves, logs out, and the old session cookie
// opens nothing any more.
async function inAndOut(ctx) {
  const page = await ctx.newPage();
  await ctx.login(page, 'operator');
  assert.equal(path(page), '/console');
  assert.ok(
    (await page.locator('body').innerText()).includes(ctx.users.operator.name),
    'the console does not say who is logged in',
  );
  await ctx.screenshot(page, 'operator-console');
  const [cookie] = (await page.context().cookies()).filter((c) => c.name === 'hotline_session');
  assert.ok(cookie, 'no hotline_session cookie after login');

  const logout = page.locator('form[action="/console/logout"]');
  await Promise.all([page.waitForNavigation(), logout.locator('[type="submit"]').click()]);
  assert.equal(path(page), '/console/login', 'logging out does not lead to the login form');
  await page.goto('/console');
  assert.equal(path(page), '/console/login', 'the console still opens after logging out');

  // The cookie of the ended session, replayed by someone who kept it, opens nothing.
  const replay = await ctx.newPage();
  await replay.context().addCookies([cookie]);
  await replay.goto('/console');
  assert.equal(path(replay), '/console/login', 'a logged-out session cookie still works');
}

// A wrong password: the form again with an error, 401, no session, the password not echoed.
async function wrongPassword(ctx) {
  const page = await ctx.newPage();
  await page.goto('/console/login');
  assert.equal(await page.getByRole('alert').count(), 0, 'an error before any attempt');
  const wrong = 'wrong-password-4711-xyz';
  const response = await submitLogin(page, ctx.users.operator.name, wrong);
  assert.equal(response.status(), 401);
  assert.equal(path(page), '/console/login');
  const error = await page.getByRole('alert').innerText();
  assert.ok(error.trim().length > 0, 'a wrong password shows no error');
  assert.ok(await page.locator('input[name="password"]').isVisible(), 'no form to try again');
  assert.equal(await page.locator('input[name="password"]').inputValue(), '');
  assert.ok(!(await response.text()).includes(wrong), 'the wrong password is echoed in the page');
  await ctx.screenshot(page, 'login-wrong-password');

  await page.goto('/console');
  assert.equal(path(page), '/console/login', 'a wrong password logged in');
}

// Wrong passwords in a row end in 429, and then even the right one is refused for a while.
async function rateLimited(ctx) {
  const page = await ctx.newPage();
  const { name, password } = ctx.users.operator;
  let attempts = 0;
  let status;
  while (attempts < MAX_ATTEMPTS_BEFORE_LIMIT + 1) {
    attempts += 1;
    status = (await submitLogin(page, name, `wrong-password-${attempts}`)).status();
    if (status === 429) break;
    assert.equal(status, 401, `wrong password ${attempts}`);
  }
  assert.equal(status, 429, `${attempts} wrong passwords and still no rate limit`);
  assert.ok(attempts > 1, 'the first wrong password was already rate-limited');
  const limited = await page.getByRole('alert').innerText();
  assert.ok(limited.trim().length > 0, 'a rate-limited login says nothing');
  await ctx.screenshot(page, 'login-rate-limited');

  const right = await submitLogin(page, name, password);
  assert.equal(right.status(), 429, 'the right password got through the rate limit');
  await page.goto('/console');
  assert.equal(path(page), '/console/login', 'logged in while rate-limited');
}
