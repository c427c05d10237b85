// Runs every scenario of tests/browser/scenarios/ against a running hotline server in headless
// Chromium, and exits non-zero if any failed. tests/browser.rs starts the server and this
// script; to run it by hand against a server of your own, set the variables read below.
//
// A scenario is a module whose default export is `async function (ctx)`; it throws (an
// assertion) to fail. What `ctx` offers is documented where it is built, in `context()`.
// HOTLINE_BROWSER_ONLY=name[,name] runs only those scenarios (file names without .mjs).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { chromium } from 'playwright-core';

import { assertNoPhoneNumbers } from './lib/numbers.mjs';
import { signature } from './lib/signature.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');

// The whole run's bound: a hung browser or server must fail the test, not stall `cargo test`.
const RUN_TIMEOUT_MS = 120_000;
// One scenario's bound.
const SCENARIO_TIMEOUT_MS = 45_000;
// How long a page action or expectation waits by default.
const ACTION_TIMEOUT_MS = 5_000;

// The flags the browser runs with: headless, and nothing that reaches for the network.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set: run the browser tests with \`cargo test --test browser\``);
    process.exit(2);
  }
  return value;
}

const settings = {
  base: required('HOTLINE_BASE_URL').replace(/\/+$/, ''),
  authToken: required('HOTLINE_AUTH_TOKEN'),
  users: {
    operator: {
      name: required('HOTLINE_OPERATOR_NAME'),
      password: required('HOTLINE_OPERATOR_PASSWORD'),
    },
    supervisor: {
      name: required('HOTLINE_SUPERVISOR_NAME'),
      password: required('HOTLINE_SUPERVISOR_PASSWORD'),
    },
  },
  scripts: process.env.HOTLINE_SCRIPTS_DIR || join(repo, 'ivr-scripts'),
  artifacts: process.env.HOTLINE_ARTIFACTS_DIR || join(repo, 'target', 'browser-artifacts'),
  only: (process.env.HOTLINE_BROWSER_ONLY || '').split(',').filter(Boolean),
};

// ---------------------------------------------------------------------------------------------
// Phone numbers: every number the run gives the server is remembered, and no page may show one.

// Callers' numbers the run has sent to the server (From, Caller, ForwardedFrom, and numbers
// typed as Digits, such as a callback number).
const numbersUsed = new Set();

// Parameters of a provider request that carry a caller's number. `To` is the hotline's own
// public number, which a page may show (how to test-call a script).
const NUMBER_PARAMS = ['From', 'Caller', 'ForwardedFrom'];

function rememberNumbers(params) {
  for (const [name, value] of params) {
    const digits = String(value).replace(/\D/g, '');
    const isNumber = NUMBER_PARAMS.includes(name) || (name === 'Digits' && digits.length >= 7);
    if (isNumber && digits.length >= 7) numbersUsed.add(String(value));
  }
}

// ---------------------------------------------------------------------------------------------
// Talking to the server as the provider: signed webhooks.

// POSTs a form to `path` (with its query string, if any) signed as the provider signs it, over
// the server's public URL. `params` is an object or a list of [name, value] pairs.
async function webhook(path, params = {}) {
  const pairs = Array.isArray(params) ? params : Object.entries(params);
  rememberNumbers(pairs);
  const url = new URL(path, settings.base + '/').toString();
  const body = new URLSearchParams(pairs.map(([k, v]) => [k, String(v)]));
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Twilio-Signature': signature(settings.authToken, url, pairs),
    },
    body,
    redirect: 'manual',
  });
  return { status: response.status, headers: response.headers, body: await response.text(), url };
}

// ---------------------------------------------------------------------------------------------
// A simulated call, walked through the shipped scripts to an operator's queue.

// The key of each language in the first menu, from the shipped languages.xml.
function languageKeys() {
  const xml = readFileSync(join(settings.scripts, 'languages.xml'), 'utf8');
  const keys = new Map();
  for (const element of xml.matchAll(/<language\b[^>]*>/g)) {
    const code = /\bcode="([^"]+)"/.exec(element[0]);
    const key = /\bkey="([^"]+)"/.exec(element[0]);
    if (code && key) keys.set(code[1], key[1]);
  }
  return keys;
}

// The key that leads to a script's operator node from every menu: fixed by the script
// dialect (docs/scripts.md), not chosen per script.
const OPERATOR_KEY = '0';

// Unescapes the five XML entities in an attribute or text taken from TwiML.
function xmlText(s) {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function attribute(element, name) {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(element);
  return m ? xmlText(m[1]) : undefined;
}

let calls = 0;

// Walks a new call to an operator's queue, as the provider would with a caller who chooses
// `language` in the first menu and presses the operator key in the next: each document's
// `<Gather>` gets the key, a `<Redirect>` is followed, until an `<Enqueue>`; then the wait
// document is fetched once, as the provider does when the caller starts waiting. Returns
// `{ callSid, from, language, queue, documents }` (the TwiML of each step).
// 
// Each call comes from a number of its own unless `from` is given: the server lets a number
// have only `[webhooks] calls_per_caller` calls in progress (hang up with `hangUp`).
async function enqueueCall({ language = 'ru', from } = {}) {
  calls += 1;
  from ??= `+7916${String(process.pid % 1000).padStart(3, '0')}${String(calls).padStart(4, '0')}`;
  const callSid = 'CA' + randomBytes(16).toString('hex');
  const callParams = [
    ['CallSid', callSid],
    ['AccountSid', 'AC' + '0123456789abcdef'.repeat(2)],
    ['From', from],
    ['Caller', from],
    ['To', '+18005550100'],
    ['CallStatus', 'in-progress'],
    ['ApiVersion', '2010-04-01'],
    ['Direction', 'inbound'],
  ];
  const languageKey = languageKeys().get(language);
  assert.ok(languageKey, `no language ${language} in languages.xml`);
  const keys = [languageKey, OPERATOR_KEY];
  const documents = [];
  let next = { path: '/voice/incoming', params: [] };
  for (let step = 0; step < 12; step++) {
    const reply = await webhook(next.path, [...callParams, ...next.params]);
    assert.equal(reply.status, 200, `${next.path}: ${reply.status} ${reply.body}`);
    const xml = reply.body;
    documents.push(xml);
    const enqueue = /<Enqueue\b[^>]*>[^<]*<\/Enqueue>/.exec(xml);
    if (enqueue) {
      const wait = attribute(enqueue[0], 'waitUrl');
      assert.ok(wait, `<Enqueue> without waitUrl: ${xml}`);
      const queue = xmlText(/>([^<]*)</.exec(enqueue[0])[1]);
      const waited = await webhook(wait, [
        ...callParams,
        ['QueuePosition', '1'],
        ['QueueSid', 'QU' + randomBytes(16).toString('hex')],
        ['QueueTime', '0'],
        ['AvgQueueTime', '0'],
        ['CurrentQueueSize', '1'],
        ['MaxQueueSize', '1000'],
      ]);
      assert.equal(waited.status, 200, `${wait}: ${waited.status} ${waited.body}`);
      documents.push(waited.body);
      return { callSid, from, language, queue, documents };
    }
    const gather = /<Gather\b[^>]*>/.exec(xml);
    const redirect = /<Redirect\b[^>]*>([^<]*)<\/Redirect>/.exec(xml);
    if (gather) {
      const key = keys.length > 1 ? keys.shift() : keys[0];
      next = {
        path: attribute(gather[0], 'action') ?? next.path,
        params: [['Digits', key]],
      };
    } else if (redirect) {
      next = { path: xmlText(redirect[1]), params: [] };
    } else {
      assert.fail(`the call ended before reaching an operator's queue: ${xml}`);
    }
  }
  assert.fail(`no <Enqueue> after 12 documents: ${documents.at(-1)}`);
}

// Hangs up a call: the status callback the provider sends at the end.
async function hangUp(call) {
  return webhook('/voice/status', [
    ['CallSid', call.callSid],
    ['AccountSid', 'AC' + '0123456789abcdef'.repeat(2)],
    ['From', call.from],
    ['Caller', call.from],
    ['To', '+18005550100'],
    ['CallStatus', 'completed'],
    ['ApiVersion', '2010-04-01'],
    ['Direction', 'inbound'],
    ['CallDuration', '30'],
    ['SequenceNumber', '0'],
    ['Timestamp', new Date().toUTCString()],
    ['CallbackSource', 'call-progress-events'],
  ]);
}

// ---------------------------------------------------------------------------------------------
// The browser side.

// A fresh, isolated browser context (its own cookies) whose every HTML answer is checked for
// phone numbers, and whose content-security-policy violations and script errors are kept to
// fail the scenario.
async function newPage(browser, scenario) {
  const context = await browser.newContext({ baseURL: settings.base });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
  scenario.contexts.push(context);
  context.on('response', (response) => {
    checkHeaders(response, scenario);
    const type = response.headers()['content-type'] || '';
    if (!type.startsWith('text/html')) return;
    scenario.pending.push(
      response
        .text()
        .then((html) => {
          scenario.htmlSeen += 1;
          scenario.html.push({ url: response.url(), html });
        })
        // A page navigated away from before its body was read: nothing was shown.
        .catch(() => {}),
    );
  });
  const page = await context.newPage();
  context.on('page', (p) => watch(p, scenario));
  watch(page, scenario);
  return page;
}

// The content security policy every console answer carries (see the console's contract):
// no inline script or style, and no framing.
const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
];

// Every answer under /console must carry the policy, whatever its status.
function checkHeaders(response, scenario) {
  const url = new URL(response.url());
  if (url.origin !== new URL(settings.base).origin || !url.pathname.startsWith('/console')) return;
  const csp = response.headers()['content-security-policy'];
  const directives = (csp || '').split(';').map((d) => d.trim().replace(/\s+/g, ' '));
  const missing = CONSOLE_CSP.filter((d) => !directives.includes(d));
  if (missing.length > 0) {
    scenario.problems.push(
      `${response.status()} ${url.pathname}: content-security-policy ${JSON.stringify(csp)} lacks ${missing.join('; ')}`,
    );
  }
}

function watch(page, scenario) {
  page.on('console', (message) => {
    const text = message.text();
    // A refused frame-ancestors is the console defending itself from a framing page (a
    // scenario checks it), not a page of the console breaking its own policy.
    const policyBroken = /Content Security Policy/i.test(text) && !/frame-ancestors/.test(text);
    if (message.type() === 'error' && policyBroken) {
      scenario.problems.push(`CSP violation on ${page.url()}: ${text}`);
    }
  });
  page.on('pageerror', (error) => {
    scenario.problems.push(`script error on ${page.url()}: ${error.message}`);
  });
}

// Logs `who` ('operator', 'supervisor' or {name, password}) in through the login form and
// checks it worked: the browser lands on the console, not back on the form.
async function login(page, who) {
  const user = typeof who === 'string' ? settings.users[who] : who;
  assert.ok(user, `no user ${who}`);
  await page.goto('/console/login');
  await page.locator('input[name="name"]').fill(user.name);
  await page.locator('input[name="password"]').fill(user.password);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.locator('input[name="password"]').press('Enter'),
  ]);
  assert.ok(response, 'the login form did not navigate');
  const path = new URL(page.url()).pathname;
  assert.ok(
    path.startsWith('/console') && path !== '/console/login',
    `${user.name} did not get in: ${response.status()} at ${page.url()}`,
  );
  return response;
}

// Runs `wait` (which waits for something to appear) and fails if the page was reloaded or
// left meanwhile: for live regions, which must update the page in place.
async function withoutReload(page, wait) {
  const mark = randomBytes(8).toString('hex');
  await page.evaluate((m) => {
    window.hotlineTestMark = m;
  }, mark);
  await wait();
  const still = await page.evaluate(() => window.hotlineTestMark);
  assert.equal(still, mark, 'the page was reloaded instead of updated in place');
}

async function screenshot(page, name) {
  mkdirSync(settings.artifacts, { recursive: true });
  const path = join(settings.artifacts, `${name.replace(/[^\w.-]/g, '_')}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

// What a scenario receives.
function context(browser, scenario) {
  return {
    // The server's base URL, `http://127.0.0.1:PORT`.
    base: settings.base,
    // `{ operator, supervisor }`, each `{ name, password }`: an operator speaking ru and uk,
    // and a supervisor.
    users: settings.users,
    // A page in a fresh browser context (no cookies), closed when the scenario ends.
    newPage: () => newPage(browser, scenario),
    // Logs in through the form; see `login`.
    login,
    // A signed provider request; `{ status, headers, body, url }`.
    webhook,
    // A call walked into an operator's queue; see `enqueueCall`.
    enqueueCall,
    // The status callback that ends a call from `enqueueCall`.
    hangUp,
    // `await withoutReload(page, () => page.getByText(x).waitFor())`: what appeared came
    // without a reload.
    withoutReload,
    // A full-page PNG into target/browser-artifacts/NAME.png; returns its path.
    screenshot,
    // Fails if any of the numbers appears in the HTML, in any grouping.
    assertNoPhoneNumbers,
    // Every phone number the run has sent to the server so far.
    numbersUsed: () => [...numbersUsed],
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runScenario(browser, name, module) {
  const scenario = { contexts: [], pending: [], html: [], htmlSeen: 0, problems: [] };
  const started = Date.now();
  let error;
  try {
    assert.equal(typeof module.default, 'function', `${name}.mjs has no default export`);
    await withTimeout(module.default(context(browser, scenario)), SCENARIO_TIMEOUT_MS, name);
  } catch (e) {
    error = e;
  }
  await Promise.all(scenario.pending);
  // What the pages show at the end, live regions' fragments included (an event stream's
  // answer never completes, so it is seen here rather than as a response).
  for (const context of scenario.contexts) {
    for (const page of context.pages()) {
      const html = await page.content().catch(() => null);
      if (html !== null) scenario.html.push({ url: `${page.url()} (as shown)`, html });
    }
    await context.close().catch(() => {});
  }
  return { name, error, scenario, ms: Date.now() - started };
}

async function main() {
  const dir = join(here, 'scenarios');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.mjs'))
    .sort()
    .map((f) => ({ name: f.slice(0, -'.mjs'.length), file: join(dir, f) }))
    .filter(({ name }) => settings.only.length === 0 || settings.only.includes(name));
  if (files.length === 0) {
    console.error(`no scenario to run in ${dir}`);
    return 1;
  }
  // A scenario that leaves the server in a state the others must not meet (a login locked
  // by the rate limit) says `export const last = true`, and runs after the rest.
  for (const entry of files) entry.module = await import(pathToFileURL(entry.file));
  files.sort((a, b) => Number(a.module.last === true) - Number(b.module.last === true));

  // Playwright gives the browser a new, empty profile (a fresh --user-data-dir in a temporary
  // folder) and removes it on close; contexts are isolated from each other on top of that.
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
  const results = [];
  const pages = [];
  try {
    for (const { name, module } of files) {
      const result = await runScenario(browser, name, module);
      results.push(result);
      pages.push(...result.scenario.html);
    }
  } finally {
    await browser.close();
  }

  // The cross-cutting checks: no page showed a number used anywhere in the run, and no
  // page broke its content security policy or threw.
  for (const result of results) {
    if (result.error) continue;
    try {
      for (const { url, html } of result.scenario.html) {
        assertNoPhoneNumbers(html, numbersUsed, url);
      }
      if (result.scenario.problems.length > 0) {
        assert.fail(result.scenario.problems.join('\n'));
      }
    } catch (e) {
      result.error = e;
    }
  }

  let failed = 0;
  for (const { name, error, scenario, ms } of results) {
    if (error) {
      failed += 1;
      console.log(`FAIL ${name} (${ms} ms)\n${indent(error.stack || String(error))}`);
    } else {
      console.log(`ok   ${name} (${ms} ms, ${scenario.htmlSeen} HTML answers checked)`);
    }
  }
  console.log(
    `browser: ${results.length - failed} passed, ${failed} failed; ` +
      `${pages.length} HTML answers checked for ${numbersUsed.size} phone number(s)`,
  );
  return failed === 0 ? 0 : 1;
}

function indent(text) {
  return text
    .split('\n')
    .map((line) => '     ' + line)
    .join('\n');
}

const watchdog = setTimeout(() => {
  console.error(`the browser run took more than ${RUN_TIMEOUT_MS / 1000} s: stopped`);
  process.exit(1);
}, RUN_TIMEOUT_MS);

main()
  .then((code) => {
    clearTimeout(watchdog);
    process.exitCode = code;
  })
  .catch((error) => {
    clearTimeout(watchdog);
    console.error(error.stack || String(error));
    process.exitCode = 1;
  });
