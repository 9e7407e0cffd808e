/**
 * Twilio signatures on the webhooks and the /streams handshake, and malformed stream input, over
 * real sockets.
 */
import request from 'supertest';
import WebSocket from 'ws';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import {
  startBridgeHarness,
  eventually,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_URL,
  type BridgeHarness,
} from '../../scripts/lib/bridge-harness';

const FORM = {
  CallSid: 'CAsec0001',
  AccountSid: 'ACtest',
  From: '+15550001111',
  To: '+15559990000',
  CallStatus: 'ringing',
  Direction: 'inbound',
};

function openStream(port: number, signature: string | undefined): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/streams`, {
      headers: signature ? { 'X-Twilio-Signature': signature } : {},
    });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      ws.terminate();
    });
    ws.once('error', () => undefined);
  });
}

describe('Twilio signatures', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ replies: ['Hello there.'] });
  });
  afterAll(() => h.close());

  it('rejects an unsigned or wrongly signed webhook with 403 and creates no call', async () => {
    await request(h.t.baseUrl).post('/twilio/incoming-call').type('form').send(FORM).expect(403);
    const wrong = computeTwilioSignature(TEST_AUTH_TOKEN, 'https://evil.example/twilio/incoming-call', FORM);
    await request(h.t.baseUrl)
      .post('/twilio/incoming-call')
      .set('X-Twilio-Signature', wrong)
      .type('form')
      .send(FORM)
      .expect(403);
    const badToken = computeTwilioSignature('not-the-token', `${TEST_PUBLIC_URL}/twilio/incoming-call`, FORM);
    await request(h.t.baseUrl)
      .post('/twilio/incoming-call')
      .set('X-Twilio-Signature', badToken)
      .type('form')
      .send(FORM)
      .expect(403);
    await request(h.t.baseUrl)
      .post('/twilio/call-status')
      .type('form')
      .send({ CallSid: 'CAsec0001', CallStatus: 'completed' })
      .expect(403);
    expect(await h.t.sb.db.call.count()).toBe(0);
    expect(h.t.sb.counters.signatureFailures).toBe(4);
  });

  it('answers a signed webhook with TwiML connecting to the wss stream URL of PUBLIC_URL', async () => {
    const sig = computeTwilioSignature(TEST_AUTH_TOKEN, `${TEST_PUBLIC_URL}/twilio/incoming-call`, FORM);
    const res = await request(h.t.baseUrl)
      .post('/twilio/incoming-call')
      .set('X-Twilio-Signature', sig)
      .type('form')
      .send(FORM)
      .expect(200);
    expect(res.headers['content-type']).toMatch(/text\/xml/);
    expect(res.text).toContain('<Stream url="wss://switchboard.example.test/streams">');
    const call = await h.t.sb.db.call.findUniqueOrThrow({ where: { callSid: 'CAsec0001' } });
    expect(res.text).toContain(`<Parameter name="callId" value="${call.id}"/>`);
    expect(call).toMatchObject({ from: '+15550001111', to: '+15559990000', status: 'ringing', direction: 'inbound' });
    // Twilio retries a webhook: same call, not a second one.
    await request(h.t.baseUrl)
      .post('/twilio/incoming-call')
      .set('X-Twilio-Signature', sig)
      .type('form')
      .send(FORM)
      .expect(200);
    expect(await h.t.sb.db.call.count()).toBe(1);
    await h.t.sb.bridge.end(call.id, 'caller-hangup');
  });

  it('rejects a /streams handshake whose signature does not match the stream URL before any audio reaches the AI', async () => {
    const sessionsBefore = h.ai.sessions.length;
    const unsigned = await openStream(h.t.port, undefined);
    expect(unsigned.status).toBe(403);
    const wrongUrl = await openStream(
      h.t.port,
      computeTwilioSignature(TEST_AUTH_TOKEN, 'wss://other.host/streams', {}),
    );
    expect(wrongUrl.status).toBe(403);
    expect(h.t.sb.counters.handshakesRejected).toBe(2);
    const appendsAfter = h.ai.sessions.slice(sessionsBefore).reduce((n, s) => n + s.appends, 0);
    expect(appendsAfter).toBe(0);
    const good = await openStream(
      h.t.port,
      computeTwilioSignature(TEST_AUTH_TOKEN, 'wss://switchboard.example.test/streams', {}),
    );
    expect(good.ws).toBeDefined();
    good.ws!.close();
  });

  it('survives malformed stream messages: counted, and the other call goes on', async () => {
    const healthy = h.call({ script: [{ untilAgentSilentMs: 400 }, { silenceMs: 2500 }] });
    await new Promise((r) => healthy.events.once('stream-start', r));
    const { ws } = await openStream(
      h.t.port,
      computeTwilioSignature(TEST_AUTH_TOKEN, 'wss://switchboard.example.test/streams', {}),
    );
    const errorsBefore = h.t.sb.bridge.counters.protocolErrors;
    const garbage = [
      'not json at all',
      '{"event":"media"}',
      '{"event":"start"}',
      JSON.stringify({ event: 'media', streamSid: 'MZx', media: { payload: '!!!notbase64', timestamp: '0' } }),
      JSON.stringify({ event: 'mystery', streamSid: 'MZx' }),
      'x'.repeat(200 * 1024),
      '[]',
      'null',
    ];
    for (const g of garbage) ws!.send(g);
    await eventually(() => h.t.sb.bridge.counters.protocolErrors - errorsBefore >= garbage.length - 1);
    const summary = await healthy.done;
    expect(summary.ok).toBe(true);
    expect(summary.closedBy).toBe('caller');
    expect(summary.marksEchoed).toBeGreaterThan(0);
    ws!.close();
    const call = await eventually(() =>
      h.t.sb.db.call.findFirst({ where: { callSid: summary.callSid, endedAt: { not: null } } }),
    );
    expect(call.endReason).toBe('caller-hangup');
    // The garbage left the AI, the writes and the queue healthy. (The event-loop check is left out: it
    // reflects the load of the machine running the tests, not this call.)
    const health = await request(h.t.baseUrl).get('/health').expect(200);
    const { eventLoop: _eventLoop, ...checks } = health.body.checks as Record<string, { ok: boolean; detail?: string }>;
    expect(Object.keys(checks)).toEqual(expect.arrayContaining(['ai', 'databaseWrites', 'writeQueue']));
    for (const [name, check] of Object.entries(checks)) expect({ name, ...check }).toMatchObject({ name, ok: true });
  });
});
