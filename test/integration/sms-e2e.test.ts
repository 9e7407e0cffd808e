/**
 * SMS on the real app: a signed Messaging webhook at /twilio/sms is answered by the agent (the call
 * core, the Realtime engine in text mode, the local Realtime server) with an SMS through the fake
 * Twilio REST API; POST /api/messages sends one within the limits. Both are sms call records with
 * transcripts, listed and searchable with calls.
 */
import { randomBytes } from 'node:crypto';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { eventually, TEST_AUTH_TOKEN, TEST_PUBLIC_URL } from '../../scripts/lib/bridge-harness';
import { FAKE_ACCOUNT_SID, startFakeTwilioRest, type FakeTwilioRest } from '../helpers/fake-twilio-rest';

const TOKEN = 'sms-e2e-api-token-0123456789';
const OUR_NUMBER = '+15550001111';
let ai: LocalRealtimeServer;
let t: TestApp;
let twilioApi: FakeTwilioRest;

beforeAll(async () => {
  twilioApi = await startFakeTwilioRest(FAKE_ACCOUNT_SID, TEST_AUTH_TOKEN);
  ai = await LocalRealtimeServer.start({
    ttsEngine: 'tone',
    realtimePace: false,
    replies: (ctx) => `Reply ${ctx.turn + 1}: we moved your booking.`,
  });
  t = await startTestApp({
    OPENAI_REALTIME_URL: ai.url,
    API_TOKENS: TOKEN,
    AGENT_GREETS_FIRST: 'false',
    PUBLIC_URL: TEST_PUBLIC_URL,
    TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
    TWILIO_ACCOUNT_SID: FAKE_ACCOUNT_SID,
    TWILIO_PHONE_NUMBER: OUR_NUMBER,
    TWILIO_API_BASE_URL: twilioApi.baseUrl,
  });
});

afterAll(async () => {
  await t?.close();
  await ai?.close();
  await twilioApi?.close();
});

const sent = () => twilioApi.requests.filter((r) => r.path.endsWith('/Messages.json')).map((r) => r.params);

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${t.baseUrl}/api${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

test('an inbound SMS is answered by the agent by SMS, and the conversation is an sms call record', async () => {
  const params = {
    MessageSid: `SM${randomBytes(16).toString('hex')}`,
    AccountSid: FAKE_ACCOUNT_SID,
    From: '+15557654321',
    To: OUR_NUMBER,
    Body: 'Please move my booking to Friday',
    NumMedia: '0',
  };
  const signature = computeTwilioSignature(TEST_AUTH_TOKEN, `${TEST_PUBLIC_URL}/twilio/sms`, params);
  const res = await fetch(`${t.baseUrl}/twilio/sms`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
    body: new URLSearchParams(params).toString(),
  });
  expect(res.status).toBe(200);
  const [reply] = await eventually(() => sent().length > 0 && sent(), 15000);
  expect(reply).toMatchObject({
    To: '+15557654321',
    From: OUR_NUMBER,
    Body: expect.stringMatching(/moved your booking/),
  });

  const bad = await fetch(`${t.baseUrl}/twilio/sms`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'forged' },
    body: new URLSearchParams({ ...params, MessageSid: `SM${'0'.repeat(32)}` }).toString(),
  });
  expect(bad.status).toBe(403);

  const list = await eventually(async () => {
    const page = await api<{ items: { id: string; provider?: string }[] }>('/calls?q=Friday');
    return page.items.length > 0 && page;
  }, 15000);
  const detail = await api<{ provider: string; from: string; transcripts: { speaker: string; text: string }[] }>(
    `/calls/${list.items[0].id}`,
  );
  expect(detail.provider).toBe('sms');
  expect(detail.from).toBe('+15557654321');
  expect(detail.transcripts[0]).toMatchObject({ speaker: 'caller', text: 'Please move my booking to Friday' });
  await eventually(async () => {
    const d = await api<{ transcripts: { speaker: string }[] }>(`/calls/${list.items[0].id}`);
    return d.transcripts.some((x) => x.speaker === 'agent');
  }, 15000);
});

test('POST /api/messages sends through Twilio and records an outbound sms conversation; no token is 401', async () => {
  const post = (token: string | null) =>
    fetch(`${t.baseUrl}/api/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ to: '+15553334444', body: 'Your order A-1001 has shipped.' }),
    });
  expect((await post(null)).status).toBe(401);
  const before = sent().length;
  const res = await post(TOKEN);
  expect(res.status).toBe(201);
  const json = (await res.json()) as { callId: string; message: { sid: string } };
  expect(sent().slice(before)).toEqual([
    { To: '+15553334444', From: OUR_NUMBER, Body: 'Your order A-1001 has shipped.' },
  ]);
  const detail = await eventually(async () => {
    const d = await api<{
      provider: string;
      direction: string;
      status: string;
      transcripts: { speaker: string; text: string }[];
    }>(`/calls/${json.callId}`);
    return d.transcripts.length > 0 && d;
  });
  expect(detail).toMatchObject({ provider: 'sms', direction: 'outbound', status: 'completed' });
  expect(detail.transcripts).toEqual([
    expect.objectContaining({ speaker: 'agent', text: 'Your order A-1001 has shipped.' }),
  ]);
  const found = await api<{ items: { id: string }[] }>('/calls?q=shipped');
  expect(found.items.map((c) => c.id)).toContain(json.callId);
});
