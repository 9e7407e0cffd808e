/**
 * The dashboard shows the cascaded engine's per-stage turn latency: the call detail's table (p50,
 * p95, max per stage and each turn) and the analytics page's stage cards, in Debian's chromium
 * against the real app; a call without stage figures shows no such section. Console stays clean.
 */
import type { Page } from 'playwright-core';
import { launchBrowser, type BrowserSession } from '../../scripts/lib/browser';
import { seedCall } from '../../scripts/lib/seed';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { summarizeStageLatencies } from '../../src/calls/stage-latency';

describe('dashboard: per-stage turn latency', () => {
  let t: TestApp;
  let browser: BrowserSession;
  let page: Page;
  let pipelineCall: string;
  let realtimeCall: string;

  beforeAll(async () => {
    t = await startTestApp();
    const now = Date.now();
    const stages = summarizeStageLatencies([
      { itemId: 'a', transcriptMs: 150, firstTokenMs: 402, firstSpeechByteMs: 611, firstAudioMs: 613 },
      { itemId: 'b', transcriptMs: 170, firstTokenMs: 433, firstSpeechByteMs: 650, firstAudioMs: 1234 },
    ])!;
    pipelineCall = await seedCall(t.sb, {
      from: '+15557770001',
      startedAt: new Date(now - 3_600_000),
      analytics: { latencyP50Ms: 613, latencyP95Ms: 1234, stageLatencies: stages },
    });
    realtimeCall = await seedCall(t.sb, {
      from: '+15557770002',
      startedAt: new Date(now - 7_200_000),
      analytics: { latencyP50Ms: 500, latencyP95Ms: 700 },
    });
    browser = await launchBrowser();
    page = await browser.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  afterEach(() => {
    expect(browser.problems.splice(0)).toEqual([]);
  });

  it("the call detail lists each stage's p50/p95/max and every turn", async () => {
    await page.goto(`${t.baseUrl}/#/calls/${pipelineCall}`);
    const table = page.locator('#call-stage-latency');
    await table.waitFor();
    const row = (stage: string) => page.locator(`#call-stage-latency tr[data-stage="${stage}"] td`).allTextContents();
    await expect(row('firstAudioMs')).resolves.toEqual(['First agent audio', '613 ms', '1,234 ms', '1,234 ms']);
    await expect(row('transcriptMs')).resolves.toEqual(['Transcript', '150 ms', '170 ms', '170 ms']);
    const turns = await page.locator('#call-stage-turns tbody tr').allTextContents();
    expect(turns).toHaveLength(2);
    await expect(page.locator('#call-stage-turns tbody tr').nth(1).locator('td').allTextContents()).resolves.toEqual([
      '2',
      '170 ms',
      '433 ms',
      '650 ms',
      '1,234 ms',
    ]);
  });

  it('a call without stage figures has no stage section', async () => {
    await page.goto(`${t.baseUrl}/#/calls/${realtimeCall}`);
    await page.locator('#call-analytics').waitFor();
    await expect(page.locator('#call-stage-latency').count()).resolves.toBe(0);
  });

  it("the analytics page shows each stage's mean median and p95 over the period", async () => {
    await page.goto(`${t.baseUrl}/#/analytics?period=24h`);
    const card = page.locator('#kpi-stage-firstAudioMs');
    await card.waitFor();
    await expect(card.locator('.kpi-value').textContent()).resolves.toBe('613 ms');
    await expect(card.locator('.kpi-hint').textContent()).resolves.toBe('p95 1,234 ms · 1 call');
    await expect(page.locator('#analytics-stages .kpi').count()).resolves.toBe(4);
  });
});
