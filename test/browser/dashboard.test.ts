/**
 * The supervisor dashboard in Debian's chromium against the real app: a simulated call through the
 * local Realtime server (tone speech) on the live board, then the call history (filters, search,
 * pagination, CSV export), the call's detail page (recording played and seeked, note saved) and the
 * analytics charts; the SSE stream is cut by a proxy and the board catches up. The console must
 * stay clean throughout (no errors, no page errors, no CSP violations).
 */
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { launchBrowser, startTcpProxy, waitForJs, type BrowserSession, type TcpProxy } from '../../scripts/lib/browser';
import { seedCall } from '../../scripts/lib/seed';
import type { CallHandle } from '../../src/simulators/twilio-caller';

const GREETING =
  'Hello and welcome to Switchboard. Let me tell you about our plans: the basic plan includes unlimited calls and ' +
  'ten gigabytes of data, and the premium plan adds roaming and priority support every day of the year.';
const ANSWER = 'Sure, your order shipped yesterday.';
const CALLER_LINE = 'Wait, where is my order';
const DAY_MS = 86_400_000;

describe('supervisor dashboard in chromium', () => {
  let h: BridgeHarness;
  let browser: BrowserSession;
  let page: Page;
  let liveCallId: string;
  const seeded: Record<string, string> = {};

  beforeAll(async () => {
    h = await startBridgeHarness({ ttsEngine: 'tone', replies: [GREETING, ANSWER], callerTranscripts: [CALLER_LINE] });
    const sb = h.t.sb;
    const now = Date.now();
    // 22 ordinary completed calls over the last week (enough for two pages of 20)...
    for (let i = 0; i < 22; i++) {
      await seedCall(sb, {
        from: `+1555200${String(1000 + i)}`,
        startedAt: new Date(now - (i + 1) * 3_600_000),
        durationMs: 60_000 + i * 1000,
        transcripts: [{ speaker: 'caller', text: 'I want to upgrade my plan', startMs: 1000 }],
        analytics: {
          sentimentLabel: 'neutral',
          latencyP50Ms: 400 + i,
          latencyP95Ms: 600 + i,
          interruptions: i % 3,
          callerTalkMs: 20_000,
          agentTalkMs: 30_000,
          estimatedCostUsd: 0.05,
        },
      });
    }
    // ...and a few that the filters must single out.
    seeded.refund = await seedCall(sb, {
      from: '+15553334444',
      agent: 'billing',
      startedAt: new Date(now - 2 * DAY_MS),
      transcripts: [{ speaker: 'caller', text: 'I need a refund for the broken headset', startMs: 500 }],
      analytics: {
        sentimentLabel: 'negative',
        latencyP50Ms: 900,
        latencyP95Ms: 1500,
        interruptions: 2,
        estimatedCostUsd: 0.12,
      },
    });
    seeded.failed = await seedCall(sb, {
      from: '+15556667777',
      status: 'failed',
      startedAt: new Date(now - 3 * DAY_MS),
    });
    seeded.old = await seedCall(sb, {
      from: '+15558889999',
      startedAt: new Date(now - 20 * DAY_MS),
      analytics: { sentimentLabel: 'positive', latencyP50Ms: 300, latencyP95Ms: 450 },
    });
    browser = await launchBrowser();
    page = await browser.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  afterEach(() => {
    // Each test answers for its own console.
    expect(browser.problems.splice(0)).toEqual([]);
  });

  it('shows a live call with its caller, ticking duration, transcript and stats while it runs; it leaves the board when it ends', async () => {
    await page.goto(`${h.t.baseUrl}/`);
    await page.locator('#conn-state[data-state="live"]').waitFor();
    await page.locator('#live-empty').waitFor();

    let handle: CallHandle | undefined = h.call({
      from: '+15551230001',
      ttsEngine: 'tone',
      hangupAfterScript: false,
      hangupAfterMs: 60_000,
      script: [{ waitForAgentMs: 2500 }, { say: CALLER_LINE }, { untilAgentSilentMs: 600 }],
    });
    try {
      const card = page.locator('.live-card', { hasText: '+15551230001' });
      await card.waitFor({ timeout: 5000 });
      liveCallId = (await card.getAttribute('data-call-id')) as string;
      expect(liveCallId).toBeTruthy();
      await expect(page.locator('#live-empty').isHidden()).resolves.toBe(true);

      // The transcript streams in: the caller's words, the agent's cut-off greeting, then its answer.
      await card.locator('.line-caller', { hasText: CALLER_LINE }).waitFor({ timeout: 15_000 });
      await card.locator('.line-agent', { hasText: ANSWER }).waitFor({ timeout: 15_000 });
      // The part of the greeting the caller never heard is shown struck through.
      const unheard = (await card.locator('.line-agent del.unheard').textContent()) ?? '';
      expect(unheard.trim().length).toBeGreaterThan(0);
      expect(GREETING.endsWith(unheard.trim())).toBe(true);
      // call.stats: the barge-in and a measured latency.
      await card.locator('[data-stat="interruptions"]', { hasText: '1' }).waitFor();
      await expect(card.locator('[data-stat="latencyLastMs"]').textContent()).resolves.toMatch(/^\d[\d,]* ms$/);
      await expect(card.locator('.badge').textContent()).resolves.toBe('streaming');
      // The duration ticks.
      const duration = card.locator('.live-duration');
      const before = await duration.textContent();
      await eventually(async () => (await duration.textContent()) !== before, 3000);
      expect(await duration.textContent()).toMatch(/^\d+:\d\d$/);

      const summary = await handle.hangup();
      handle = undefined;
      expect(summary.ok).toBe(true);
      await card.waitFor({ state: 'detached', timeout: 5000 });
      await page.locator('#recent-calls a', { hasText: '+15551230001' }).waitFor();
      await page.locator('#live-empty').waitFor();
    } finally {
      await handle?.hangup();
    }
  });

  it('catches up after the live stream drops (EventSource reconnects with Last-Event-ID)', async () => {
    const proxy: TcpProxy = await startTcpProxy(h.t.port);
    const viaProxy = await browser.context.newPage();
    const cm = h.t.sb.callManager;
    let callId: string | undefined;
    try {
      await viaProxy.goto(`http://127.0.0.1:${proxy.port}/#/live`);
      await viaProxy.locator('#conn-state[data-state="live"]').waitFor();
      // The network goes away: the open stream is cut and new connections are refused for a while.
      proxy.setPaused(true);
      proxy.dropAll();
      await viaProxy.locator('#conn-state[data-state="connecting"]').waitFor();
      const call = await cm.createCall({ from: '+15554440000', callSid: 'CAdashboarddrop' });
      callId = call.id;
      cm.addTranscript(call.id, { speaker: 'caller', text: 'said while the supervisor was offline', startMs: 300 });
      await cm.flush();
      proxy.setPaused(false);
      const card = viaProxy.locator(`.live-card[data-call-id="${call.id}"]`);
      await card
        .locator('.line-caller', { hasText: 'said while the supervisor was offline' })
        .waitFor({ timeout: 15_000 });
      await viaProxy.locator('#conn-state[data-state="live"]').waitFor();
      await cm.endCall(call.id, { reason: 'caller-hangup' });
      callId = undefined;
      await card.waitFor({ state: 'detached' });
      // The browser reports the connections the proxy cut (the fault this test injects); nothing else.
      const cut = (p: string): boolean => p.includes(`127.0.0.1:${proxy.port}/api/status`) && p.includes('net::ERR_');
      const injected = browser.problems.filter(cut);
      expect(injected.length).toBeGreaterThan(0);
      browser.problems.splice(0, browser.problems.length, ...browser.problems.filter((p) => !cut(p)));
    } finally {
      if (callId) await cm.endCall(callId, { reason: 'caller-hangup' });
      await viaProxy.close();
      await proxy.close();
    }
  });

  it('filters, searches, pages and exports the call history', async () => {
    await page.goto(`${h.t.baseUrl}/#/history`);
    const summary = page.locator('#history-summary');
    const total = 22 + 3 + 2; // seeded + the simulated call + the call made during the drop
    await summary.filter({ hasText: `of ${total} calls` }).waitFor();
    await expect(page.locator('.calls-table tbody tr').count()).resolves.toBe(20);
    await expect(summary.textContent()).resolves.toBe(`Showing 1–20 of ${total} calls`);

    // Pagination.
    await page.locator('#page-next').click();
    await summary.filter({ hasText: `21–${total} of ${total}` }).waitFor();
    await expect(page.locator('.calls-table tbody tr').count()).resolves.toBe(total - 20);
    await page.locator('#page-prev').click();
    await summary.filter({ hasText: `1–20 of ${total}` }).waitFor();

    // Status filter (applies on change).
    await page.locator('select[name="status"]').selectOption('failed');
    await summary.filter({ hasText: 'of 1 calls' }).waitFor();
    await expect(page.locator('.calls-table tbody tr').getAttribute('data-call-id')).resolves.toBe(seeded.failed);
    await page.locator('button[type="reset"]').click();
    await summary.filter({ hasText: `of ${total} calls` }).waitFor();

    // Transcript search.
    await page.locator('input[name="q"]').fill('refund headset');
    await page.locator('input[name="q"]').press('Enter');
    await summary.filter({ hasText: 'of 1 calls' }).waitFor();
    await expect(page.locator('.calls-table tbody tr').getAttribute('data-call-id')).resolves.toBe(seeded.refund);
    expect(page.url()).toContain('q=refund+headset');

    // Caller, agent and sentiment filters, together with a date range that excludes the 20-day-old call.
    await page.goto(`${h.t.baseUrl}/#/history?sentiment=positive`);
    await summary.filter({ hasText: 'of 1 calls' }).waitFor();
    const from = new Date(Date.now() - 10 * DAY_MS).toISOString().slice(0, 10);
    await page.locator('input[name="startDate"]').fill(from);
    await summary.filter({ hasText: 'No calls match' }).waitFor();
    await page.locator('.empty', { hasText: 'No calls found' }).waitFor();
    await page.goto(`${h.t.baseUrl}/#/history?agent=billing&caller=%2B15553334444`);
    await summary.filter({ hasText: 'of 1 calls' }).waitFor();

    // CSV export of the filtered list.
    await page.goto(`${h.t.baseUrl}/#/history?status=completed&q=upgrade`);
    await summary.filter({ hasText: 'of 22 calls' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export-csv').click()]);
    const csv = readFileSync((await download.path()) as string, 'utf8')
      .trim()
      .split('\r\n');
    expect(csv[0].startsWith('id,callSid,startedAt')).toBe(true);
    expect(csv).toHaveLength(23);
    expect(csv.slice(1).every((line) => line.includes(',completed,'))).toBe(true);
    expect(download.suggestedFilename()).toMatch(/^calls-\d{4}-\d\d-\d\d\.csv$/);
  });

  it('shows the call detail: conversation with unheard text, recording that plays and seeks, timeline, and saves a note', async () => {
    const recordingResponses: number[] = [];
    page.on('response', (res) => {
      if (res.url().includes(`/api/calls/${liveCallId}/recording`)) recordingResponses.push(res.status());
    });
    // The recording and analytics are stored when the call has ended.
    await eventually(() => h.t.sb.db.analytics.findUnique({ where: { callId: liveCallId } }));
    await page.goto(`${h.t.baseUrl}/#/history`);
    await page.locator(`tr[data-call-id="${liveCallId}"]`).click();
    await page.waitForURL(`**/#/calls/${liveCallId}`);

    const transcript = page.locator('#call-transcript');
    await transcript.locator('.from-caller', { hasText: CALLER_LINE }).waitFor();
    const cut = transcript.locator('.from-agent', { has: page.locator('del.unheard') });
    await expect(cut.locator('.unheard-label').textContent()).resolves.toBe('Not heard');
    await expect(transcript.locator('.from-agent', { hasText: ANSWER }).count()).resolves.toBe(1);
    await page.locator('#call-timeline .tl-warn', { hasText: 'Caller barged in' }).waitFor();
    await page.locator('#call-analytics .kpi', { hasText: 'Interruptions' }).filter({ hasText: '1' }).waitFor();

    // The recording loads (stereo WAV), plays, and seeks where a transcript time is clicked.
    await waitForJs(page, 'document.querySelector("#call-audio").duration > 3');
    const answerTime = transcript.locator('.from-agent', { hasText: ANSWER }).locator('.time-link');
    const startMs = Number(await answerTime.getAttribute('data-start-ms'));
    expect(startMs).toBeGreaterThan(1000);
    await answerTime.click();
    await waitForJs(
      page,
      `(() => { const a = document.querySelector('#call-audio'); return !a.paused && a.currentTime > ${startMs / 1000} && a.currentTime < ${startMs / 1000 + 3}; })()`,
    );
    // Played on: time advances from the seek point.
    const t1 = Number(await page.evaluate('document.querySelector("#call-audio").currentTime'));
    await waitForJs(page, `document.querySelector('#call-audio').currentTime > ${t1 + 0.2}`);
    // Seek back to the start through the element itself.
    await page.evaluate(
      '(() => { const a = document.querySelector("#call-audio"); a.pause(); a.currentTime = 0.5; })()',
    );
    await waitForJs(
      page,
      '(() => { const a = document.querySelector("#call-audio"); return !a.seeking && Math.abs(a.currentTime - 0.5) < 0.05; })()',
    );
    expect(recordingResponses.length).toBeGreaterThan(0);
    expect(recordingResponses.every((s) => s === 200 || s === 206)).toBe(true);
    expect(recordingResponses).toContain(206); // the player asked for byte ranges
    // Channel selector (Web Audio): the agent channel alone.
    await page.locator('.segmented label', { hasText: 'Agent (right)' }).click();
    await expect(page.locator('input[name="channel"][value="agent"]').isChecked()).resolves.toBe(true);

    // Notes are saved through the API and are there after a reload.
    const note = 'Follow up: customer asked where the order is.';
    await page.locator('#call-notes').fill(note);
    await page.locator('#save-notes').click();
    await page.locator('#notes-status[data-state="saved"]').waitFor();
    const stored = await h.t.sb.db.call.findUnique({ where: { id: liveCallId } });
    expect(stored?.notes).toBe(note);
    await page.reload();
    await expect(page.locator('#call-notes').inputValue()).resolves.toBe(note);
  });

  it('renders the analytics charts with the period data', async () => {
    await page.goto(`${h.t.baseUrl}/#/analytics?period=7d`);
    await page.locator('#chart-calls').waitFor();
    const api = (await (
      await fetch(
        `${h.t.baseUrl}/api/analytics?interval=day&startDate=${new Date(Date.now() - 7 * DAY_MS).toISOString()}`,
      )
    ).json()) as {
      summary: { calls: number; interruptions: number };
    };
    expect(api.summary.calls).toBe(22 + 2 + 2);
    const sum = (id: string, dataset = -1): Promise<number> =>
      page.evaluate(
        `(() => { const c = Chart.getChart(document.getElementById('${id}')); const sets = c.data.datasets;
          return (${dataset} < 0 ? sets : [sets[${dataset}]]).flatMap((d) => d.data).reduce((a, b) => a + (b || 0), 0); })()`,
      ) as Promise<number>;
    expect(await sum('chart-calls')).toBe(api.summary.calls);
    expect(await sum('chart-interruptions')).toBe(api.summary.interruptions);
    expect(await sum('chart-latency', 0)).toBeGreaterThan(0);
    expect(await sum('chart-sentiment')).toBe(api.summary.calls);
    expect(await sum('chart-talk')).toBeGreaterThan(0);
    expect(await sum('chart-cost')).toBeGreaterThan(0);
    await expect(page.locator('#kpi-calls .kpi-value').textContent()).resolves.toBe(String(api.summary.calls));
    // Drawn: the canvases have pixels on them.
    const inked = await page.evaluate(`(() => { const c = document.getElementById('chart-calls');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()`);
    expect(inked).toBeGreaterThan(1000);
    // Another period re-queries.
    await page.locator('#period-picker label', { hasText: 'Last 30 days' }).click();
    await page.waitForURL('**/#/analytics?period=30d');
    await waitForJs(
      page,
      `Number(document.querySelector('#kpi-calls .kpi-value')?.textContent) === ${api.summary.calls + 1}`,
    );
  });
});
