/**
 * Every Telnyx entry point attacked over real sockets: webhook signatures (missing, malformed,
 * forged, tampered, expired, replayed), bodies (huge, malformed), other path spellings, stream
 * upgrades on other paths, streams without a valid token or start, and malformed stream frames.
 */
import { generateKeyPairSync } from 'node:crypto';
import request from 'supertest';
import WebSocket from 'ws';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signTelnyxWebhook } from '../../src/channels/telnyx/signature';
import { eventually } from '../../scripts/lib/bridge-harness';
import { startTelnyxHarness, type TelnyxHarness } from '../../scripts/lib/telnyx-harness';

const now = (): number => Math.floor(Date.now() / 1000);

function voiceBody(callSid: string): string {
  return new URLSearchParams({
    AccountSid: 'acct-1',
    CallSid: callSid,
    From: '+15550001111',
    To: '+15559990000',
    CallStatus: 'ringing',
    Direction: 'inbound',
  }).toString();
}

function openSocket(port: number, path: string): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      ws.terminate();
    });
    ws.once('error', () => undefined);
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

describe('Telnyx webhooks and streams under attack', () => {
  let h: TelnyxHarness;
  const signed = (body: string, timestampS = now(), key = (): typeof h.privateKey => h.privateKey) => ({
    'content-type': 'application/x-www-form-urlencoded',
    [SIGNATURE_HEADER]: signTelnyxWebhook(key(), timestampS, body),
    [TIMESTAMP_HEADER]: String(timestampS),
  });

  beforeAll(async () => {
    h = await startTelnyxHarness({ replies: ['Hello there.'] });
  });
  afterAll(() => h.close());

  const post = (path: string, body: string, headers: Record<string, string>) =>
    request(h.t.baseUrl).post(path).set(headers).send(body);

  it('refuses missing, malformed, forged, tampered and expired signatures with a 403 JSON error and no call', async () => {
    const body = voiceBody('v3:attack-1');
    const good = signed(body);
    const other = generateKeyPairSync('ed25519').privateKey;
    const cases: Record<string, string>[] = [
      { 'content-type': 'application/x-www-form-urlencoded' },
      { ...good, [SIGNATURE_HEADER]: 'not base64 at all' },
      { ...good, [TIMESTAMP_HEADER]: 'yesterday' },
      signed(body, now(), () => other),
      signed(`${body}&Extra=1`),
      signed(body, now() - 600),
      signed(body, now() + 600),
    ];
    for (const headers of cases) {
      const res = await post('/telnyx/voice', body, headers).expect(403);
      expect(res.body).toEqual({ error: { code: 'forbidden', message: expect.stringMatching(/Telnyx signature/) } });
    }
    // The tampered case: signed over another body.
    await post('/telnyx/voice', `${body}&To=%2B1999`, good).expect(403);
    expect(await h.t.sb.db.call.count({ where: { callSid: 'v3:attack-1' } })).toBe(0);
  });

  it('accepts a signed webhook once: the same request replayed is refused', async () => {
    const body = voiceBody('v3:replay-1');
    const headers = signed(body);
    const first = await post('/telnyx/voice', body, headers).expect(200);
    expect(first.text).toContain('<Stream url="wss://switchboard.example.test/telnyx/stream"');
    const replay = await post('/telnyx/voice', body, headers).expect(403);
    expect(replay.body.error.message).toMatch(/replayed/);
    expect(await h.t.sb.db.call.count({ where: { callSid: 'v3:replay-1' } })).toBe(1);
  });

  it('answers bad bodies with clear JSON errors: missing CallSid 400, huge body 413, bad status JSON 400', async () => {
    const noSid = 'From=%2B1555';
    const res = await post('/telnyx/voice', noSid, signed(noSid)).expect(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_body', field: 'CallSid' });
    const huge = `CallSid=v3:x&Pad=${'a'.repeat(40 * 1024)}`;
    const tooBig = await post('/telnyx/voice', huge, signed(huge)).expect(413);
    expect(tooBig.body.error.code).toBe('payload_too_large');
    const json = { ...signed('{not json'), 'content-type': 'application/json' };
    expect((await post('/telnyx/status', '{not json', json).expect(400)).body.error.code).toBe('invalid_body');
    const noPayload = JSON.stringify({ data: { event_type: 'call.hangup' } });
    await post('/telnyx/status', noPayload, { ...signed(noPayload), 'content-type': 'application/json' }).expect(400);
    const unknown = JSON.stringify({ data: { event_type: 'call.hangup', payload: { call_control_id: 'v3:nobody' } } });
    const nf = await post('/telnyx/status', unknown, { ...signed(unknown), 'content-type': 'application/json' });
    expect(nf.status).toBe(404);
    expect(nf.body.error.code).toBe('not_found');
  });

  it('answers other path spellings and methods with 404 JSON, and refuses WebSocket upgrades off /telnyx/stream', async () => {
    const body = voiceBody('v3:paths');
    for (const path of ['/telnyx/Voice', '/Telnyx/voice', '/telnyx/voice/', '/telnyx//voice', '/telnyx/voice.xml']) {
      const res = await post(path, body, signed(body));
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    expect((await request(h.t.baseUrl).get('/telnyx/voice')).status).toBe(404);
    for (const path of ['/telnyx/stream/', '/telnyx/Stream', '/Telnyx/stream', '/telnyx/stream2', '/telnyx']) {
      expect((await openSocket(h.t.port, path)).status).toBe(404);
    }
    expect(await h.t.sb.db.call.count({ where: { callSid: 'v3:paths' } })).toBe(0);
  });

  it('closes a stream whose start carries no valid token, and one that never starts', async () => {
    const forged = h.telnyxCall({
      parametersOverride: { callId: 'nope', token: '1.forged' },
      script: [{ silenceMs: 3000 }],
    });
    const summary = await forged.done;
    expect(summary.closedBy).toBe('server');
    expect(summary.closeCode).toBe(1008);
    expect(summary.framesReceived).toBe(0);

    // A real call's id with a forged token: the call never gets this stream.
    const real = await post('/telnyx/voice', voiceBody('v3:token-1'), signed(voiceBody('v3:token-1'))).expect(200);
    const callId = /name="callId" value="([^"]+)"/.exec(real.text)![1];
    const stolen = h.telnyxCall({
      parametersOverride: { callId, token: '1700000000000.AAAA' },
      script: [{ silenceMs: 3000 }],
    });
    expect((await stolen.done).closeCode).toBe(1008);

    const { ws } = await openSocket(h.t.port, '/telnyx/stream');
    expect(ws).toBeDefined();
    const started = Date.now();
    expect(await closed(ws!)).toBe(1008);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('counts malformed frames without ending the call, and the call still completes', async () => {
    const before = h.t.sb.bridge.counters.protocolErrors;
    const handle = h.telnyxCall({ script: [{ untilAgentSilentMs: 400 }, { silenceMs: 600 }] });
    await eventually(() => handle.nowMs > 300);
    // A second socket pretending to be the same stream cannot join; garbage on a fresh socket is counted.
    const { ws } = await openSocket(h.t.port, '/telnyx/stream');
    for (const frame of [
      'not json',
      '{"event":"media"}',
      '{"event":"media","stream_id":"s","media":{"payload":"@@"}}',
      '[]',
    ]) {
      ws!.send(frame);
    }
    ws!.send(Buffer.from([0, 1, 2]));
    await eventually(() => h.t.sb.bridge.counters.protocolErrors >= before + 5);
    ws!.terminate();
    const summary = await handle.done;
    expect(summary.errors).toEqual([]);
    expect(summary.ok).toBe(true);
  });
});
