// The console's defences, seen from a browser: the session cookie, CSRF, roles, framing, and
// no phone number on any page either role can reach while callers wait.

import assert from 'node:assert/strict';

export default async function (ctx) {
  // Callers waiting while the console is browsed: their numbers must appear on no page (the
  // run checks every HTML answer against every number it sent).
  await ctx.enqueueCall({ language: 'ru' });
  await ctx.enqueueCall({ language: 'uk' });

  const operator = await ctx.newPage();
  await ctx.login(operator, 'operator');
  await sessionCookie(operator);
  const operatorMenu = await visitMenu(operator);

  const supervisor = await ctx.newPage();
  await ctx.login(supervisor, 'supervisor');
  const supervisorMenu = await visitMenu(supervisor);
  await ctx.screenshot(supervisor, 'supervisor-console');

  await supervisorPagesRefused(operator, operatorMenu, supervisorMenu);
  await csrfRefused(ctx, operator);
  await languageKeptWithoutCsrf(operator);
  await notFramed(ctx);

  for (const page of [operator, supervisor]) {
    ctx.assertNoPhoneNumbers(await page.content(), ctx.numbersUsed(), page.url());
  }
}

function path(page) {
  return new URL(page.url()).pathname;
}

// The session cookie is out of scripts' reach and never sent by another site's request.
async function sessionCookie(page) {
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'hotline_session');
  assert.ok(session, `no hotline_session cookie among ${cookies.map((c) => c.name)}`);
  assert.equal(session.httpOnly, true, 'the session cookie is not HttpOnly');
  assert.equal(session.sameSite, 'Strict', 'the session cookie is not SameSite=Strict');
  const visible = await page.evaluate(() => document.cookie);
  assert.ok(!visible.includes('hotline_session'), 'a script can read the session cookie');
}

// Opens every console page linked from the current page (the menu); each must answer 200.
// Returns `{ links }`: the paths linked.
async function visitMenu(page) {
  const home = page.url();
  const links = await page.locator('a[href^="/console"]').evaluateAll((as) =>
    as.map((a) => new URL(a.href).pathname),
  );
  const paths = [...new Set(links)].filter((p) => !p.startsWith('/console/assets/'));
  for (const p of paths) {
    // Asked for first with the session's cookies: Chromium shows an empty error answer as
    // a page of its own, which the next navigation would trip on.
    const status = (await page.request.get(p, { maxRedirects: 0 })).status();
    assert.equal(status, 200, `${p} as seen from ${home}`);
    const response = await page.goto(p);
    assert.equal(response.status(), 200, `${p} as seen from ${home}`);
  }
  await page.goto(home);
  return { links: paths };
}

// What the supervisor's menu offers beyond the operator's: an operator who types its
// address gets 403, and stays logged in.
async function supervisorPagesRefused(operator, operatorMenu, supervisorMenu) {
  const theirs = supervisorMenu.links.filter((p) => !operatorMenu.links.includes(p));
  assert.ok(theirs.length > 0, 'the supervisor\'s menu has nothing the operator\'s lacks');
  for (const p of theirs) {
    const status = (await operator.request.get(p, { maxRedirects: 0 })).status();
    assert.equal(status, 403, `an operator asked for ${p}`);
    const response = await operator.goto(p);
    assert.equal(response.status(), 403, `an operator opened ${p}`);
  }
  const back = await operator.goto('/console');
  assert.equal(back.status(), 200);
  assert.equal(path(operator), '/console', 'a refused page logged the operator out');
}

// Submits the logout form after `tamper(input, arg)` changed its CSRF field; returns the
// answer.
async function submitLogout(page, tamper, arg) {
  await page.goto('/console');
  const form = page.locator('form[action="/console/logout"]');
  await form.locator('input[name="csrf"]').evaluate(tamper, arg);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    form.locator('[type="submit"]').click(),
  ]);
  return response;
}

// A form posted without its CSRF token, or with a wrong one, is refused and changes nothing:
// the logout does not log out, the login does not log in.
async function csrfRefused(ctx, operator) {
  const token = await operator.locator('form[action="/console/logout"] input[name="csrf"]').inputValue();
  assert.ok(token.length >= 16, `a guessable CSRF token: ${JSON.stringify(token)}`);

  const without = await submitLogout(operator, (input) => input.remove());
  assert.equal(without.status(), 403, 'logout without a CSRF token');
  const wrong = await submitLogout(operator, (input) => {
    input.value = input.value.split('').reverse().join('');
  });
  assert.equal(wrong.status(), 403, 'logout with a wrong CSRF token');
  const empty = await submitLogout(operator, (input) => {
    input.value = '';
  });
  assert.equal(empty.status(), 403, 'logout with an empty CSRF token');
  await operator.goto('/console');
  assert.equal(path(operator), '/console', 'a refused logout logged out');

  // Another session's token is no better than none.
  const other = await ctx.newPage();
  await ctx.login(other, 'supervisor');
  const theirs = await other.locator('form[action="/console/logout"] input[name="csrf"]').inputValue();
  const borrowed = await submitLogout(operator, (input, value) => {
    input.value = value;
  }, theirs);
  assert.equal(borrowed.status(), 403, 'logout with another session\'s CSRF token');

  // The login form without its token: refused, and no session.
  const page = await ctx.newPage();
  await page.goto('/console/login');
  await page.locator('input[name="csrf"]').evaluate((input) => input.remove());
  await page.locator('input[name="name"]').fill(ctx.users.operator.name);
  await page.locator('input[name="password"]').fill(ctx.users.operator.password);
  const [login] = await Promise.all([
    page.waitForNavigation(),
    page.locator('input[name="password"]').press('Enter'),
  ]);
  assert.equal(login.status(), 403, 'login without a CSRF token');
  await page.goto('/console');
  assert.equal(path(page), '/console/login', 'a login without a CSRF token logged in');
}

// Submits the language form of the settings page choosing `code`, after `tamper` changed
// its CSRF field (if given); returns the answer.
async function chooseLanguage(page, code, tamper) {
  await page.goto('/console/settings');
  const form = page.locator('form[action="/console/language"]');
  await form.locator(`input[name="language"][value="${code}"]`).check();
  if (tamper) await form.locator('input[name="csrf"]').evaluate(tamper);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    form.locator('[type="submit"]').click(),
  ]);
  return response;
}

async function pageLanguage(page) {
  await page.goto('/console/settings');
  return page.locator('html').getAttribute('lang');
}

// A form that changes something, posted without its token: refused, and the change is not
// made; the same form with its token makes it (so the token is what refused it).
async function languageKeptWithoutCsrf(page) {
  const before = await pageLanguage(page);
  const other = before === 'uk' ? 'en' : 'uk';
  const refused = await chooseLanguage(page, other, (input) => input.remove());
  assert.equal(refused.status(), 403, 'the language form without a CSRF token');
  assert.equal(await pageLanguage(page), before, 'a refused form changed the language');

  const accepted = await chooseLanguage(page, other);
  assert.equal(accepted.status(), 200);
  assert.equal(await pageLanguage(page), other, 'the language form with its token did nothing');
  await chooseLanguage(page, before);
  assert.equal(await pageLanguage(page), before);
}

// Another site cannot put the console in a frame (clickjacking): the browser refuses it.
async function notFramed(ctx) {
  const page = await ctx.newPage();
  await page.setContent(`<iframe src="${ctx.base}/console/login"></iframe>`);
  const frame = await (await page.locator('iframe').elementHandle()).contentFrame();
  await frame.waitForLoadState().catch(() => {});
  const inside = await frame.locator('input[name="password"]').count();
  assert.equal(inside, 0, 'the login form was shown inside another site\'s frame');
}
