/**
 * The dashboard's softphone in Debian's chromium with a fake microphone fed from a speech WAV
 * (espeak-ng): a web call over a real peer connection reaches the agent (the real app, the Realtime
 * engine against the local Realtime server), the agent is heard in the page (measured level), the
 * live transcript shows both sides, hang-up ends the call, and the call is in history with a stereo
 * recording. The echo test reports a round-trip time. The console stays clean (strict CSP).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { eventually } from '../../scripts/lib/bridge-harness';
import { launchBrowser, waitForJs, type BrowserSession } from '../../scripts/lib/browser';
import { collectWrtcGarbage } from '../helpers/webrtc-peer';

const ECHO_DELAY_MS = 300;
let dir: string;
let ai: LocalRealtimeServer | undefined;
let t: TestApp | undefined;
let browser: BrowserSession | undefined;
let page: Page;

type Detail = {
  provider: string;
  status: string;
  endedAt: string | null;
  transcripts: { speaker: string; text: string }[];
  recordings: { channels: number }[];
};

async function api<T>(p: string): Promise<T> {
  const res = await fetch(`${t!.baseUrl}/api${p}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'softphone-'));
  const speech = path.join(dir, 'speech.wav');
  const raw = path.join(dir, 'raw.wav');
  // One sentence, then 2.5 s of silence (the fake microphone loops the file): the agent's VAD takes turns.
  execFileSync('espeak-ng', ['-s', '150', '-w', raw, 'Hello, where is my order? I ordered it last week.']);
  execFileSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', speech, 'pad', '0.3', '2.5']);
  ai = await LocalRealtimeServer.start({
    ttsEngine: 'tone',
    replies: (ctx) => (ctx.turn === 0 ? 'Hello, this is the agent. How can I help?' : 'Your order shipped yesterday.'),
    callerTranscripts: ['Where is my order', 'I ordered it last week', 'Thanks', 'More', 'More'],
  });
  t = await startTestApp({ OPENAI_REALTIME_URL: ai.url, ECHO_DELAY_MS: String(ECHO_DELAY_MS) });
  browser = await launchBrowser({
    args: [
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${speech}`,
    ],
  });
  page = await browser.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await ai?.close();
  t = undefined;
  ai = undefined;
  rmSync(dir, { recursive: true, force: true });
  await collectWrtcGarbage();
});

test('a softphone call: agent heard, live transcript of both sides, hang-up, history with a stereo recording', async () => {
  await page.goto(`${t!.baseUrl}/#/talk`);
  await waitForJs(page, `document.querySelectorAll('#talk-profile option').length > 0`);
  expect(await page.locator('#talk-echo').isVisible()).toBe(true);
  await page.selectOption('#talk-language', 'en');
  await page.click('#talk-call');
  await waitForJs(page, `document.getElementById('talk-status').dataset.state === 'connected'`, 15_000);
  const callId = await page.getAttribute('#talk-status', 'data-call-id');
  expect(callId).toBeTruthy();
  // The agent's greeting and answers (tone speech) reach the page's audio.
  await waitForJs(page, `Number(document.getElementById('talk-agent-level').dataset.peak) > 0.05`, 20_000);
  await waitForJs(
    page,
    `document.querySelector('.talk-line[data-speaker="caller"]') && document.querySelectorAll('.talk-line[data-speaker="agent"]').length >= 2`,
    30_000,
  );
  const lines = await page.locator('.talk-line').allTextContents();
  expect(lines.some((l) => /You: Where is my order/.test(l))).toBe(true);
  expect(lines.some((l) => /Agent: Your order shipped yesterday/.test(l))).toBe(true);
  await page.click('#talk-hangup');
  await waitForJs(page, `document.getElementById('talk-status').dataset.state === 'ended'`, 10_000);
  const detail = await eventually(async () => {
    const d = await api<Detail>(`/calls/${callId}`);
    return d.endedAt !== null && d.recordings.length > 0 && d;
  }, 15_000);
  expect(detail).toMatchObject({ provider: 'webrtc', status: 'completed' });
  expect(detail.recordings[0].channels).toBe(2);
  // In the dashboard's history.
  await page.goto(`${t!.baseUrl}/#/history`);
  await waitForJs(
    page,
    `[...document.querySelectorAll('a')].some((a) => a.getAttribute('href') === '#/calls/${callId}')`,
  );
  expect(browser!.problems).toEqual([]);
}, 90_000);

test('the echo test reports a round-trip time', async () => {
  await page.goto(`${t!.baseUrl}/#/talk`);
  await waitForJs(page, `document.querySelectorAll('#talk-profile option').length > 0`);
  await page.click('#talk-echo');
  await waitForJs(page, `document.getElementById('talk-rtt').dataset.ms !== undefined`, 40_000);
  const ms = Number(await page.getAttribute('#talk-rtt', 'data-ms'));
  const text = await page.textContent('#talk-rtt');
  process.stderr.write(`softphone echo test: ${text}\n`);
  expect(ms).toBeGreaterThan(ECHO_DELAY_MS);
  expect(ms).toBeLessThan(ECHO_DELAY_MS + 1500);
  await page.click('#talk-hangup');
  await waitForJs(page, `document.getElementById('talk-status').dataset.state === 'ended'`, 10_000);
  expect(browser!.problems).toEqual([]);
}, 90_000);
