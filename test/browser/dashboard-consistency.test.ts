/**
 * The dashboard says the same thing the same way everywhere: one duration for a call on the live
 * board's "Recently ended" list, in the history and on its detail page; cost-axis labels with one
 * number of decimals; and the history filters readable (nothing clipped) on a 1440 px laptop screen.
 */
import type { Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { launchBrowser, waitForJs, type BrowserSession } from '../../scripts/lib/browser';
import { seedCall } from '../../scripts/lib/seed';

const DAY_MS = 86_400_000;

describe('dashboard consistency in chromium (1440 px)', () => {
  let t: TestApp;
  let browser: BrowserSession;
  let page: Page;

  beforeAll(async () => {
    t = await startTestApp();
    const now = Date.now();
    // Daily cost totals between $0.05 and $0.17: the axis spans values on both sides of $0.10.
    const costs = [0.05, 0.12, 0.17, 0.08];
    for (let i = 0; i < costs.length; i++) {
      await seedCall(t.sb, {
        from: `+1555300${String(1000 + i)}`,
        startedAt: new Date(now - (i + 1) * DAY_MS + 3_600_000),
        analytics: { sentimentLabel: 'neutral', estimatedCostUsd: costs[i] },
      });
    }
    browser = await launchBrowser({ viewport: { width: 1440, height: 900 } });
    page = await browser.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  afterEach(() => {
    expect(browser.problems.splice(0)).toEqual([]);
  });

  it('shows a call’s duration the same on the live board, in the history and on its detail page', async () => {
    await page.goto(`${t.baseUrl}/`);
    await page.locator('#conn-state[data-state="live"]').waitFor();
    const cm = t.sb.callManager;
    // 28.7 s measured by the server at hang-up; Twilio's status callback then bills 29 s (whole
    // seconds, rounded), which the history and detail show.
    const startedAt = new Date(Date.now() - 30_000);
    const call = await cm.createCall({ from: '+15553339999', callSid: 'CAdurationcheck', startedAt });
    await page.locator('.live-card', { hasText: '+15553339999' }).waitFor();
    await cm.endCall(call.id, { reason: 'caller-hangup', endedAt: new Date(startedAt.getTime() + 28_700) });
    await cm.applyTwilioStatus('CAdurationcheck', 'completed', 29);

    const recent = page.locator('#recent-calls li', { hasText: '+15553339999' });
    await recent.waitFor();
    const liveText = (await recent.textContent()) ?? '';
    const liveDuration = /(\d+:\d\d) · ended/.exec(liveText)?.[1];

    await page.goto(`${t.baseUrl}/#/history?caller=%2B15553339999`);
    const row = page.locator('#history-results tbody tr', { hasText: '+15553339999' });
    await row.waitFor();
    const historyDuration = (await row.locator('td[data-label="Duration"]').textContent())?.trim();

    await page.goto(`${t.baseUrl}/#/calls/${call.id}`);
    const detailDuration = await waitForJs(
      page,
      `[...document.querySelectorAll('dt')].find((dt) => dt.textContent === 'Duration')?.nextElementSibling?.textContent`,
    );

    expect(historyDuration).toBe('0:29');
    expect(detailDuration).toBe(historyDuration);
    expect(liveDuration).toBe(historyDuration);
  });

  it('shows a call’s live stats at once on a board opened mid-call (from the SSE snapshot)', async () => {
    const cm = t.sb.callManager;
    const call = await cm.createCall({ from: '+15553338888', callSid: 'CAmidcall' });
    cm.publishStats(call.id, { interruptions: 2, latencyLastMs: 1480, latencyAvgMs: 455, aiReconnects: 1 });
    const late = await browser.context.newPage();
    try {
      await late.goto(`${t.baseUrl}/`);
      const card = late.locator('.live-card', { hasText: '+15553338888' });
      await card.waitFor();
      // No call.stats event after the page opened: these come from the snapshot.
      await expect(card.locator('[data-stat="interruptions"]').textContent()).resolves.toBe('2');
      await expect(card.locator('[data-stat="latencyLastMs"]').textContent()).resolves.toBe('1,480 ms');
      await expect(card.locator('[data-stat="latencyAvgMs"]').textContent()).resolves.toBe('455 ms');
      await expect(card.locator('[data-stat="aiReconnects"]').textContent()).resolves.toBe('1');
    } finally {
      await late.close();
      await cm.endCall(call.id, { reason: 'caller-hangup' });
    }
  });

  it('labels the cost axis with one number of decimals', async () => {
    await page.goto(`${t.baseUrl}/#/analytics?period=7d`);
    await page.locator('#chart-cost').waitFor();
    const labels = (await waitForJs(
      page,
      `(() => { const c = window.Chart && Chart.getChart(document.getElementById('chart-cost'));
        return c && c.scales.y.ticks.length > 2 ? c.scales.y.ticks.map((t) => String(t.label)) : null; })()`,
    )) as string[];
    // e.g. $0.00 $0.02 … $0.18, never "$0.0500" beside "$0.10".
    expect(labels.length).toBeGreaterThan(2);
    const decimals = labels.map((l) => /^\$\d+\.(\d+)$/.exec(l)?.[1].length);
    expect(decimals.every((d) => d !== undefined)).toBe(true);
    expect(new Set(decimals).size).toBe(1);
    expect(new Set(labels).size).toBe(labels.length);
  });

  it('fits the history filters at 1440 px: no placeholder, date or value clipped', async () => {
    // Dates filled in (as after picking them), the text fields showing their placeholders.
    await page.goto(`${t.baseUrl}/#/history?startDate=2026-11-25&endDate=2026-12-02`);
    await page.locator('#history-filters input[name="q"]').waitFor();
    // For each field: the room inside it against the width its content needs (placeholder text, or
    // a date input's own minimum width as chromium lays it out with no width set).
    const fields = (await page.evaluate(`(() => {
      const canvas = document.createElement('canvas').getContext('2d');
      return [...document.querySelectorAll('#history-filters input, #history-filters select')].map((el) => {
        const cs = getComputedStyle(el);
        const inner = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
        let needed;
        if (el.type === 'date') {
          const probe = el.cloneNode();
          probe.style.width = 'auto';
          probe.style.minWidth = '0';
          probe.style.position = 'absolute';
          el.after(probe);
          needed = probe.getBoundingClientRect().width - 1;
          probe.remove();
          return { name: el.name, room: el.getBoundingClientRect().width, needed };
        }
        canvas.font = cs.font;
        // A select must fit its longest option (plus its arrow); a text field its placeholder.
        needed =
          el.tagName === 'SELECT'
            ? Math.max(...[...el.options].map((o) => canvas.measureText(o.text).width)) + 16
            : canvas.measureText(el.placeholder || el.value).width;
        return { name: el.name, room: inner, needed, scroll: el.scrollWidth, client: el.clientWidth };
      });
    })()`)) as { name: string; room: number; needed: number; scroll?: number; client?: number }[];
    expect(fields.map((f) => f.name)).toEqual(['q', 'startDate', 'endDate', 'caller', 'agent', 'status', 'sentiment']);
    const clipped = fields.filter((f) => f.needed > f.room || (f.scroll ?? 0) > (f.client ?? Infinity));
    expect(clipped).toEqual([]);
  });
});
