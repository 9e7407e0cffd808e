/**
 * Web-call counters in /metrics on the real app: live web calls (a real peer connection up, then
 * hung up) and refused requests by reason (no credential, forged session token, bad offer), every
 * reason listed from the start at 0.
 */
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { eventually } from '../../scripts/lib/bridge-harness';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { WEB_CALL_REFUSALS } from '../../src/channels/webrtc/routes';
import { collectWrtcGarbage, TestPeer, waitFor } from '../helpers/webrtc-peer';

const TOKEN = 'metrics-webrtc-token-0123456789';
let ai: LocalRealtimeServer | undefined;
let t: TestApp;
let peer: TestPeer | undefined;

beforeAll(async () => {
  ai = await LocalRealtimeServer.start({ ttsEngine: 'tone', replies: ['Hello.'] });
  t = await startTestApp({ OPENAI_REALTIME_URL: ai.url, API_TOKENS: TOKEN, ECHO_DELAY_MS: '100' });
});

afterAll(async () => {
  peer?.close();
  peer = undefined;
  await t?.close();
  await ai?.close();
  t = undefined as unknown as TestApp;
  ai = undefined;
  await collectWrtcGarbage();
});

async function metrics(): Promise<string> {
  const res = await fetch(`${t.baseUrl}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const refused = (reason: string) => `switchboard_web_calls_refused_total{reason="${reason}"}`;

async function offer(body: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${t.baseUrl}/api/web-calls/offer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('refusals by reason: every reason at 0 at start, then counted', async () => {
  const before = await metrics();
  expect(value(before, 'switchboard_web_calls')).toBe(0);
  for (const reason of WEB_CALL_REFUSALS) expect(value(before, refused(reason))).toBe(0);

  expect((await offer({ sdp: 'v=0' })).status).toBe(401);
  expect(
    (await offer({ sdp: 'v=0' }, 'wcs1.eyJwIjoiZGVmYXVsdCJ9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status,
  ).toBe(401);
  expect((await offer({ sdp: 'not an sdp at all' }, TOKEN)).status).toBe(400);
  expect((await offer({ sdp: 'not an sdp at all' }, TOKEN)).status).toBe(400);

  const after = await metrics();
  expect(value(after, refused('unauthorized'))).toBe(1);
  expect(value(after, refused('session-forged'))! + value(after, refused('session-malformed'))!).toBe(1);
  expect(value(after, refused('bad-offer'))).toBe(2);
  expect(value(after, refused('busy'))).toBe(0);
});

test('active web calls: 1 while a peer connection is up, 0 after it hangs up', async () => {
  peer = new TestPeer();
  peer.amplitude = 0;
  const res = await offer({ sdp: await peer.offer(), profile: 'echo' }, TOKEN);
  expect(res.status).toBe(200);
  await peer.answer(res.body.sdp as string);
  await waitFor(() => peer!.control.readyState === 'open', 10_000, 'control open');
  expect(value(await metrics(), 'switchboard_web_calls')).toBe(1);
  peer.control.send(JSON.stringify({ type: 'hangup' }));
  await eventually(async () => value(await metrics(), 'switchboard_web_calls') === 0, 10_000);
  peer.close();
  peer = undefined;
});
