/**
 * Web calls on the real app: a website's server mints a session token with its API token, the page
 * (a Node wrtc peer here; chromium in test/browser) posts its offer with the session token, and the
 * call runs through the call core with the Realtime engine against the local Realtime server:
 * the agent is heard in the browser, both sides are transcribed, the record carries provider
 * `webrtc`, the language hint and a stereo recording. The built-in echo profile plays the caller back.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { eventually } from '../../scripts/lib/bridge-harness';
import { collectWrtcGarbage, TestPeer, waitFor } from '../helpers/webrtc-peer';

const TOKEN = 'e2e-webrtc-token-0123456789';
let ai: LocalRealtimeServer | undefined;
let t: TestApp;
const peers: TestPeer[] = [];
let dir: string;

beforeAll(async () => {
  ai = await LocalRealtimeServer.start({
    ttsEngine: 'tone',
    replies: ['Hello, this is the agent speaking.', 'Your order shipped yesterday.'],
    callerTranscripts: ['Where is my order'],
  });
  dir = mkdtempSync(path.join(os.tmpdir(), 'webrtc-profiles-'));
  const profiles = path.join(dir, 'profiles.json');
  writeFileSync(profiles, JSON.stringify({ profiles: { spanish: { languageHint: 'es' } } }));
  t = await startTestApp({
    OPENAI_REALTIME_URL: ai.url,
    API_TOKENS: TOKEN,
    ECHO_DELAY_MS: '300',
    AGENT_PROFILES_FILE: profiles,
  });
});

afterAll(async () => {
  for (const p of peers.splice(0)) p.close();
  await t?.close();
  await ai?.close();
  // Nothing may keep a peer connection reachable when the garbage is collected.
  t = undefined as unknown as TestApp;
  rmSync(dir, { recursive: true, force: true });
  ai = undefined;
  await collectWrtcGarbage();
});

type Detail = {
  provider: string;
  status: string;
  endedAt: string | null;
  agent: string | null;
  metadata: { language: string | null } | null;
  transcripts: { speaker: string; text: string }[];
  recordings: { channels: number; durationMs?: number }[];
};

async function api<T>(path: string, init: RequestInit = {}, token = TOKEN): Promise<{ status: number; body: T }> {
  const res = await fetch(`${t.baseUrl}/api${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', Authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function call(token: string, body: Record<string, unknown> = {}): Promise<{ peer: TestPeer; callId: string }> {
  const peer = new TestPeer();
  peer.amplitude = 0;
  peers.push(peer);
  const sdp = await peer.offer();
  const res = await api<{ callId: string; sdp: string }>(
    '/web-calls/offer',
    { method: 'POST', body: JSON.stringify({ sdp, ...body }) },
    token,
  );
  expect(res.status).toBe(200);
  await peer.answer(res.body.sdp);
  await waitFor(() => peer.pc.connectionState === 'connected', 10_000, 'connected');
  await waitFor(() => peer.control.readyState === 'open', 5_000, 'control open');
  return { peer, callId: res.body.callId };
}

test('a softphone call with a minted session token: agent heard, both transcripts, stereo recording, language hint', async () => {
  const minted = await api<{ token: string }>('/web-calls', {
    method: 'POST',
    body: JSON.stringify({ profile: 'default', languageHint: 'en' }),
  });
  expect(minted.status).toBe(201);
  const { peer, callId } = await call(minted.body.token);
  const live = t.sb.bridge.get(callId);
  expect(live?.call.provider).toBe('webrtc');
  // The greeting: agent audio reaches the browser.
  await waitFor(() => peer.heard.some((f) => f.rms > 1500), 15_000, 'greeting heard');
  await new Promise((r) => setTimeout(r, 2500));
  // The caller speaks for 0.9 s, then silence: the local AI's VAD takes a turn and answers.
  peer.amplitude = 8000;
  await new Promise((r) => setTimeout(r, 900));
  peer.amplitude = 0;
  const detailLive = await eventually(async () => {
    const d = (await api<Detail>(`/calls/${callId}`)).body;
    return (
      d.transcripts.some((x) => x.speaker === 'caller') &&
      d.transcripts.filter((x) => x.speaker === 'agent').length >= 2 &&
      d
    );
  }, 20_000);
  expect(detailLive.transcripts.find((x) => x.speaker === 'caller')?.text).toBe('Where is my order');
  await new Promise((r) => setTimeout(r, 1500));
  peer.control.send(JSON.stringify({ type: 'hangup' }));
  const detail = await eventually(async () => {
    const d = (await api<Detail>(`/calls/${callId}`)).body;
    return d.endedAt !== null && d.recordings.length > 0 && d;
  }, 15_000);
  expect(detail.provider).toBe('webrtc');
  expect(detail.status).toBe('completed');
  expect(detail.metadata?.language).toBe('en');
  expect(detail.recordings[0]).toMatchObject({ channels: 2 });
  const listed = await api<{ items: { id: string }[] }>('/calls?q=order');
  expect(listed.body.items.map((c) => c.id)).toContain(callId);
  // Filterable by its language hint, in the list and the CSV export.
  const english = await api<{ items: { id: string }[] }>('/calls?language=en');
  expect(english.body.items.map((c) => c.id)).toEqual([callId]);
  expect((await api<{ items: unknown[] }>('/calls?language=fr')).body.items).toEqual([]);
  const bad = await api<{ error: { field: string } }>('/calls?language=english%20please');
  expect(bad.status).toBe(400);
  expect(bad.body.error.field).toBe('language');
  const csv = await fetch(`${t.baseUrl}/api/calls/export.csv?language=fr`, {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  expect((await csv.text()).trim().split('\n')).toHaveLength(1);
});

test('the echo profile plays the caller back after ECHO_DELAY_MS', async () => {
  const { peer, callId } = await call(TOKEN, { profile: 'echo' });
  expect(t.sb.bridge.get(callId)?.call.agent).toBe('echo');
  await new Promise((r) => setTimeout(r, 500));
  const sentAt = performance.now();
  peer.amplitude = 8000;
  await waitFor(() => peer.heard.some((f) => f.at > sentAt && f.rms > 1500), 5_000, 'echo heard');
  const roundTripMs = peer.heard.find((f) => f.at > sentAt && f.rms > 1500)!.at - sentAt;
  // 300 ms of echo delay plus the way there and back (Opus, jitter buffers, the pacer).
  expect(roundTripMs).toBeGreaterThan(300);
  expect(roundTripMs).toBeLessThan(1500);
  peer.amplitude = 0;
  peer.control.send(JSON.stringify({ type: 'hangup' }));
  await eventually(async () => Boolean((await api<Detail>(`/calls/${callId}`)).body.endedAt), 10_000);
});

test('GET /api/web-calls/profiles lists the profiles for an API token only', async () => {
  const res = await api<{ profiles: { name: string; engine: string; default: boolean; echoDelayMs?: number }[] }>(
    '/web-calls/profiles',
  );
  expect(res.status).toBe(200);
  expect(res.body.profiles).toEqual(
    expect.arrayContaining([
      { name: 'default', engine: 'realtime', default: true },
      { name: 'echo', engine: 'echo', default: false, echoDelayMs: 300 },
    ]),
  );
  expect((await api('/web-calls/profiles', {}, 'wrong-token-0123456789')).status).toBe(401);
});

test("a call to a profile with a language hint stores the profile's hint when the client names none", async () => {
  const { peer, callId } = await call(TOKEN, { profile: 'spanish' });
  peer.control.send(JSON.stringify({ type: 'hangup' }));
  const detail = await eventually(async () => {
    const d = (await api<Detail>(`/calls/${callId}`)).body;
    return d.endedAt !== null && d;
  }, 10_000);
  expect(detail.metadata?.language).toBe('es');
  expect((await api<{ items: { id: string }[] }>('/calls?language=es')).body.items.map((c) => c.id)).toEqual([callId]);
});
