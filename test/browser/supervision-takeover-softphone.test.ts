/**
 * Take a live call over to the supervisor's own browser softphone, in chromium with a fake microphone
 * fed from an espeak-ng WAV: a Twilio-simulated call with the AI agent; on the live board the
 * supervisor clicks "Take the call here". The AI's summary is shown, the agent announces the
 * colleague, then the AI is gone: the supervisor hears the caller (energy measured in the page while
 * the caller speaks, silence before) and the caller hears the supervisor's microphone (energy
 * measured at the simulated caller, which hears nothing of the AI after the hand-over). The timeline
 * has the take-over (action softphone, with the summary) and the join; a read-only token gets 403, a
 * second take-over 409; the supervisor's hang-up ends the call. No console error or CSP violation.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { launchBrowser, waitForJs, type BrowserSession } from '../../scripts/lib/browser';
import { decodeMulaw } from '../../src/audio/g711';
import { synthesize } from '../../src/simulators/tts';
import { collectWrtcGarbage } from '../helpers/webrtc-peer';

const SUPERVISOR = 'super-token-softphone-0123456789';
const VIEWER = 'viewer-token-softphone-0123456789';
const CALLER = '+15554440017';

let dir: string;
let h: BridgeHarness | undefined;
let browser: BrowserSession | undefined;
let page: Page;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'takeover-softphone-'));
  const raw = path.join(dir, 'raw.wav');
  const speech = path.join(dir, 'supervisor.wav');
  // The supervisor's voice: one sentence, then a short pause (the fake microphone loops the file).
  execFileSync('espeak-ng', ['-s', '150', '-w', raw, 'Hello, this is Sue, the supervisor. I can help you with that.']);
  execFileSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', speech, 'pad', '0.2', '0.5']);
  h = await startBridgeHarness(
    {
      ttsEngine: 'tone',
      replies: ['Hello, how can I help?', 'Let me check that for you.', 'A colleague joins you now.'],
      callerTranscripts: ['I want a refund for my order'],
    },
    { API_TOKENS: `supervisor:sue:${SUPERVISOR},read-only:${VIEWER}` },
  );
  browser = await launchBrowser({
    args: [
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${speech}`,
    ],
  });
  page = await browser.newPage();
  await page.addInitScript(`sessionStorage.setItem('switchboard.apiToken', ${JSON.stringify(SUPERVISOR)})`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
  await collectWrtcGarbage();
});

/** RMS (int16 scale) of base64 mu-law. */
function rmsOf(payloadB64: string): number {
  const samples = decodeMulaw(Buffer.from(payloadB64, 'base64'));
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

const eventData = (e: { data: unknown }): Record<string, unknown> =>
  (typeof e.data === 'string' ? JSON.parse(e.data) : e.data) as Record<string, unknown>;

test('a supervisor takes a live call in their browser: both hear each other, the AI is gone', async () => {
  const t = h!.t;
  await page.goto(`${t.baseUrl}/#/live`);
  // Agent audio at the caller: loud 100 ms windows, before and after the supervisor joined.
  let joined = false;
  let loudBeforeJoin = 0;
  let loudAfterJoin = 0;
  let window: number[] = [];
  const handle = h!.call({
    from: CALLER,
    script: [{ untilAgentSilentMs: 500 }, { say: 'I want a refund for my order' }, { silenceMs: 60_000 }],
    mediaTap: {
      incoming(payloadB64) {
        window.push(rmsOf(payloadB64));
        if (window.length < 5) return;
        const level = Math.max(...window);
        window = [];
        if (level > 1500) {
          if (joined) loudAfterJoin++;
          else loudBeforeJoin++;
        }
      },
    },
  });
  try {
    const card = page.locator('.live-card', { hasText: CALLER });
    await card.locator('.line-agent', { hasText: 'Hello, how can I help?' }).waitFor({ timeout: 20_000 });
    const call = await eventually(() => t.sb.db.call.findFirst({ where: { callSid: handle.callSid } }));
    const url = `${t.baseUrl}/api/calls/${call.id}/take-over`;
    const post = (token: string, body: unknown) =>
      fetch(url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post(VIEWER, { action: 'softphone', sdp: 'v=0' })).status).toBe(403);
    // Wait for the caller's question to be answered, so the summary has something to say.
    await card.locator('.line-agent', { hasText: 'Let me check that for you.' }).waitFor({ timeout: 20_000 });

    await card.locator('.takeover-here').click();
    await card.locator('.takeover-summary', { hasText: 'AI summary:' }).waitFor({ timeout: 15_000 });
    const second = await post(SUPERVISOR, { action: 'end' });
    expect(second.status).toBe(409);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('conflict');

    // The agent's announcement plays, then the supervisor has the call.
    const joinedEvent = await eventually(
      () => t.sb.db.callEvent.findFirst({ where: { callId: call.id, type: 'supervisor.joined' } }),
      20_000,
    );
    expect(eventData(joinedEvent)).toMatchObject({ by: 'sue' });
    joined = true;
    const box = card.locator('.takeover-softphone');
    await waitForJs(page, `document.querySelector('.takeover-softphone').dataset.state === 'connected'`, 10_000);

    // The caller hears the supervisor's microphone (the AI is closed: nothing else can speak now).
    await eventually(() => loudAfterJoin >= 5, 15_000);
    expect(loudBeforeJoin).toBeGreaterThan(0); // the AI's tone speech before, for comparison

    // The supervisor hears the caller: quiet while the caller is silent, loud once they speak.
    const quietPeak = Number((await box.getAttribute('data-caller-peak')) ?? 0);
    expect(quietPeak).toBeLessThan(0.01);
    handle.inject(
      await synthesize('Thank you, I would like my money back please.', { format: 'pcmu', engine: 'espeak' }),
    );
    await waitForJs(page, `Number(document.querySelector('.takeover-softphone').dataset.callerPeak) > 0.03`, 15_000);

    process.stderr.write(
      `softphone take-over: caller heard ${loudAfterJoin} loud 100 ms windows after the join (${loudBeforeJoin} of the AI before); ` +
        `page: caller peak ${quietPeak.toFixed(3)} while silent, ${Number(await box.getAttribute('data-caller-peak')).toFixed(3)} speaking\n`,
    );
    // The timeline: the take-over with the summary, then the join.
    const events = await t.sb.db.callEvent.findMany({ where: { callId: call.id }, orderBy: { offsetMs: 'asc' } });
    const takeOver = events.find((e) => e.type === 'supervisor.takeover');
    expect(takeOver).toBeDefined();
    expect(eventData(takeOver!)).toMatchObject({ by: 'sue', action: 'softphone' });
    expect(String(eventData(takeOver!).summary).length).toBeGreaterThan(0);

    // The supervisor hangs up: the call ends.
    await card.locator('.takeover-hangup').click();
    const ended = await eventually(
      () => t.sb.db.call.findFirst({ where: { id: call.id, endedAt: { not: null } } }),
      15_000,
    );
    expect(ended.endReason).toBe('agent-hangup');
    const summary = await handle.done;
    expect(summary.closedBy).toBe('server');
  } finally {
    await handle.hangup();
  }
  expect(browser!.problems).toEqual([]);
}, 120_000);
