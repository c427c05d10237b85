// The supervisors' wall board in a browser: a caller who reaches a queue while the board is
// open appears in its figures without a reload, the charts are drawn as accessible SVG with
// every language's calls visible in its own colour, an operator is refused, and no caller's
// number is on the page.

import assert from 'node:assert/strict';

/// The number in a figure of the live region.
async function figure(page, selector) {
  const text = await page.locator(`[data-testid="wallboard-figures"] ${selector}`).first().textContent();
  return Number(String(text).trim());
}

export default async function (ctx) {
  // Calls of three languages this hour, ended: each must show in the charts.
  for (const language of ['ru', 'uk', 'uk']) {
    await ctx.hangUp(await ctx.enqueueCall({ language }));
  }
  const page = await ctx.newPage();
  await ctx.login(page, 'supervisor');
  const response = await page.goto('/console/wallboard');
  assert.equal(response.status(), 200);

  // The live region has connected once console.js has put its first message in.
  await page.waitForFunction(
    () => document.querySelector('[data-testid="wallboard-figures"]')?.dataset.updated,
  );
  const waitingBefore = await figure(page, '[data-testid="waiting"]');
  const ruBefore = await figure(page, 'tr[data-language="ru"] td');
  const callsBefore = await figure(page, '[data-testid="calls-today"]');
  // A mark on the window: a reload would wipe it.
  await page.evaluate(() => {
    window.hotlineNoReload = true;
  });

  const call = await ctx.enqueueCall({ language: 'ru' });
  await page.waitForFunction(
    (before) =>
      Number(document.querySelector('[data-testid="waiting"]')?.textContent) > before,
    waitingBefore,
    { timeout: 5000 },
  );
  assert.equal(await page.evaluate(() => window.hotlineNoReload), true, 'the page was reloaded');
  assert.equal(await figure(page, 'tr[data-language="ru"] td'), ruBefore + 1);
  assert.equal(await figure(page, '[data-testid="calls-today"]'), callsBefore + 1);
  const longest = await page.locator('[data-testid="longest"]').textContent();
  assert.match(String(longest).trim(), /^\d+:\d\d$/);

  // Three charts, each an image with a title and a description, and a table of its numbers.
  const charts = page.locator('svg.chart');
  assert.equal(await charts.count(), 3);
  for (const id of ['hours', 'service', 'days']) {
    const chart = page.locator(`[data-chart="${id}"]`);
    assert.equal(await chart.locator('svg').getAttribute('role'), 'img');
    assert.ok((await chart.locator(`svg > title#${id}-title`).textContent()).length > 0);
    assert.ok((await chart.locator(`svg > desc#${id}-desc`).textContent()).length > 0);
    assert.ok((await chart.locator('table tbody tr').count()) >= 24);
  }
  // Each language of the calls chart is drawn in a colour of its own, the same as its swatch
  // in the legend, and its blocks are stacked, not drawn over another language's.
  for (const id of ['hours', 'days']) {
    const colours = await page.locator(`[data-chart="${id}"] svg`).evaluate((svg) => {
      const fill = (el) => getComputedStyle(el).fill;
      const legend = [...svg.querySelectorAll('.legend .series')].map((g) => ({
        name: g.querySelector('text').textContent,
        swatch: fill(g.querySelector('rect')),
      }));
      const plotted = [...svg.querySelectorAll(':scope > .series')].map((g) => ({
        fills: [...new Set([...g.querySelectorAll('rect')].map(fill))],
        boxes: [...g.querySelectorAll('rect')].map((r) => {
          const { x, y, width, height } = r.getBBox();
          return { x, y, width, height };
        }),
      }));
      return { legend, plotted };
    });
    const names = colours.legend.map((l) => l.name);
    assert.ok(names.includes('ru') && names.includes('uk'), names.join());
    assert.equal(new Set(colours.legend.map((l) => l.swatch)).size, colours.legend.length);
    colours.plotted.forEach((series, i) => {
      assert.deepEqual(series.fills, [colours.legend[i].swatch], colours.legend[i].name);
    });
    // No two blocks of different languages overlap by more than their shared edge.
    const boxes = colours.plotted.flatMap((s, i) => s.boxes.map((b) => ({ ...b, i })));
    for (const a of boxes) {
      for (const b of boxes) {
        if (a.i >= b.i) continue;
        const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
        const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
        assert.ok(w <= 0 || h <= 0.5, `${id}: series ${a.i} and ${b.i} overlap`);
      }
    }
  }
  assert.match(
    String(await page.locator('[data-testid="service-level"]').textContent()).trim(),
    /^(—|\d+\.\d%)$/,
  );
  await ctx.screenshot(page, 'wallboard');
  ctx.assertNoPhoneNumbers(await page.content(), ctx.numbersUsed(), page.url());

  // The caller hangs up while waiting (the provider requests the Enqueue action with
  // QueueResult=hangup, then the status callback): they leave the waiting figure, again
  // without a reload.
  const enqueued = call.documents.find((xml) => xml.includes('<Enqueue'));
  const action = /<Enqueue\b[^>]*\baction="([^"]*)"/.exec(enqueued)[1].replace(/&amp;/g, '&');
  const left = await ctx.webhook(action, [
    ['CallSid', call.callSid],
    ['AccountSid', 'AC' + '0123456789abcdef'.repeat(2)],
    ['From', call.from],
    ['To', '+18005550100'],
    ['CallStatus', 'in-progress'],
    ['QueueResult', 'hangup'],
    ['QueueTime', '3'],
  ]);
  assert.equal(left.status, 200, left.body);
  await ctx.hangUp(call);
  await page.waitForFunction(
    (before) =>
      Number(document.querySelector('[data-testid="waiting"]')?.textContent) === before,
    waitingBefore,
    { timeout: 5000 },
  );

  // An operator may not open the board.
  const operator = await ctx.newPage();
  await ctx.login(operator, 'operator');
  const refused = await operator.goto('/console/wallboard');
  assert.equal(refused.status(), 403);
}
