/**
 * The app channels on the real app: the call core, the Realtime engine against the local Realtime
 * server, SQLite. A chat over /ws, a voice conversation over /voice-gateway and an audio turn over
 * /ws each become a call record with both sides' transcripts (searchable with calls), and a voice
 * one a recording.
 */
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { eventually } from '../../scripts/lib/bridge-harness';
import { TestClient, tone16k } from '../helpers/app-ws-server';

const TOKEN = 'e2e-app-ws-token-0123456789';
let ai: LocalRealtimeServer;
let t: TestApp;
const clients: TestClient[] = [];

beforeAll(async () => {
  ai = await LocalRealtimeServer.start({
    ttsEngine: 'tone',
    realtimePace: false,
    replies: (ctx) => `Answer ${ctx.turn + 1}: noted.`,
    callerTranscripts: ['I need to change my booking', 'Thanks a lot', 'one more', 'and more'],
  });
  t = await startTestApp({ OPENAI_REALTIME_URL: ai.url, API_TOKENS: TOKEN, AGENT_GREETS_FIRST: 'false' });
});

afterAll(async () => {
  await t?.close();
  await ai?.close();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

async function open(path: string): Promise<TestClient> {
  const client = await TestClient.open(`ws://127.0.0.1:${t.port}${path}`, { Authorization: `Bearer ${TOKEN}` });
  clients.push(client);
  return client;
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${t.baseUrl}/api${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

type Detail = {
  provider: string;
  status: string;
  transcripts: { speaker: string; text: string }[];
  recordings: { channels: number }[];
};

test('a chat over /ws is a text conversation: the agent answers, the record has both sides and is searchable', async () => {
  const client = await open('/ws');
  await client.waitForType('connection');
  client.send({ type: 'text', text: 'Can I move my reservation to Friday?' });
  const [reply] = await client.waitForType('text_response', 1, 15000);
  expect(reply.response).toMatch(/noted/);
  const callId = await eventually(() => t.sb.bridge.all().find((c) => c.call.provider === 'chat')?.callId);
  await client.close();
  const detail = await eventually(async () => {
    const d = await api<Detail>(`/calls/${callId}`);
    return d.status !== 'in-progress' && d.transcripts.length >= 2 && d;
  }, 15000);
  expect(detail.provider).toBe('chat');
  expect(detail.transcripts[0]).toMatchObject({ speaker: 'caller', text: 'Can I move my reservation to Friday?' });
  expect(detail.transcripts.some((x) => x.speaker === 'agent' && /noted/.test(x.text))).toBe(true);
  const found = await api<{ items: { id: string }[] }>(`/calls?q=reservation`);
  expect(found.items.map((c) => c.id)).toContain(callId);
});

test('a voice conversation over /voice-gateway: transcripts both ways, agent audio back, a recording', async () => {
  const client = await open('/voice-gateway');
  client.send({ type: 'init', callId: 'e2e-voice', languageHint: 'en' });
  const [ready] = await client.waitForType('ready', 1, 15000);
  const callId = ready.conversationId as string;
  const speech = Buffer.concat([tone16k(800), Buffer.alloc(16000 * 2)]);
  for (let o = 0; o < speech.length; o += 3200) {
    client.send({ type: 'audio', callId: 'e2e-voice', chunk: speech.subarray(o, o + 3200).toString('base64') });
  }
  await client.waitFor(() => client.ofType('transcript').some((m) => m.role === 'assistant'), 15000);
  expect(client.ofType('transcript')[0]).toEqual({
    type: 'transcript',
    role: 'caller',
    text: 'I need to change my booking',
  });
  const out = client.ofType('audio_out').map((m) => Buffer.from(m.chunk as string, 'base64'));
  expect(out.length).toBeGreaterThan(0);
  expect(out.every((b) => b.length % 2 === 0)).toBe(true);
  // The person hears the reply in real time: hang up once it has played (an earlier hang-up would
  // rightly store the unheard part apart).
  const audioMs = out.reduce((n, b) => n + b.length, 0) / 32;
  await new Promise((r) => setTimeout(r, audioMs + 500));
  await client.close();
  const detail = await eventually(async () => {
    const d = await api<Detail>(`/calls/${callId}`);
    return d.status !== 'in-progress' && d.recordings.length > 0 && d;
  }, 15000);
  expect(detail.provider).toBe('app-ws');
  expect(detail.transcripts.map((x) => x.speaker)).toEqual(expect.arrayContaining(['caller', 'agent']));
  expect(detail.recordings[0]).toMatchObject({ channels: 2 });
});

test('an audio turn over /ws: audio_response with the transcript and a voice_url that plays', async () => {
  const client = await open('/ws');
  await client.waitForType('connection');
  client.send({ type: 'audio', audio_data: tone16k(700).toString('base64'), user_id: 'e2e-user' });
  await client.waitForType('audio_ack');
  const [reply] = await client.waitForType('audio_response', 1, 15000);
  expect(reply.response).toMatch(/noted/);
  expect(typeof reply.transcribed_text).toBe('string');
  expect((reply.transcribed_text as string).length).toBeGreaterThan(0);
  const url = new URL(reply.voice_url as string);
  const res = await fetch(`${t.baseUrl}${url.pathname}`);
  expect(res.status).toBe(200);
  expect(Buffer.from(await res.arrayBuffer()).length).toBeGreaterThan(44 + 3200);
});

test('a website widget: a session token minted with POST /api/web-calls opens one voice-gateway socket, bound to its profile', async () => {
  const mint = await fetch(`${t.baseUrl}/api/web-calls`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ profile: 'default', ttlSec: 60, languageHint: 'ar' }),
  });
  expect(mint.status).toBe(201);
  const { token } = (await mint.json()) as { token: string };
  const client = await TestClient.open(
    `ws://127.0.0.1:${t.port}/voice-gateway?session_token=${encodeURIComponent(token)}`,
  );
  clients.push(client);
  client.send({ type: 'init', callId: 'widget-1' });
  const [ready] = await client.waitForType('ready', 1, 15000);
  const callId = ready.conversationId as string;
  const detail = await api<{ agent: string; metadata: { language: string | null } | null }>(`/calls/${callId}`);
  expect(detail.agent).toBe('default');
  expect(detail.metadata?.language).toBe('ar');
  // Single use, and never an API credential.
  await expect(
    TestClient.open(`ws://127.0.0.1:${t.port}/voice-gateway?session_token=${encodeURIComponent(token)}`),
  ).rejects.toMatchObject({ status: 401 });
  const res = await fetch(`${t.baseUrl}/api/calls`, { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status).toBe(401);
});

test('/metrics reports open app sockets and bad app messages', async () => {
  const client = await open('/ws');
  await client.waitForType('connection');
  client.send('not json');
  await client.waitForType('error');
  const res = await fetch(`${t.baseUrl}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const text = await res.text();
  expect(text).toMatch(/^switchboard_app_sockets [1-9]/m);
  expect(text).toMatch(/^switchboard_app_protocol_errors_total [1-9]/m);
  expect(text).toMatch(/^switchboard_sms_replies_total 0/m);
});
