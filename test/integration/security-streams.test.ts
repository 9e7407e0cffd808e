/**
 * The media-stream entry point, attacked over real sockets (issue: every WebSocket upgrade is
 * authenticated or refused before the socket opens, whatever its path; a stream attaches only to a
 * call a signed webhook prepared, with that call's single-use token).
 */
import net from 'node:net';
import request from 'supertest';
import WebSocket from 'ws';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import { parseTwiml, twilioStartMessage } from '../../src/simulators/twilio-caller';
import { MAX_PENDING_STARTS } from '../../src/calls/call-bridge';
import {
  startBridgeHarness,
  eventually,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_URL,
  type BridgeHarness,
} from '../../scripts/lib/bridge-harness';

const STREAM_URL = 'wss://switchboard.example.test/streams';
const GOOD_SIGNATURE = computeTwilioSignature(TEST_AUTH_TOKEN, STREAM_URL, {});

/** Sends a raw upgrade request for exactly this path; resolves with the status line's code. */
function rawUpgrade(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      const line = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (line) {
        resolve(Number(line[1]));
        socket.destroy();
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(0));
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
  });
}

function openSignedStream(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/streams`, { headers: { 'X-Twilio-Signature': GOOD_SIGNATURE } });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function startMessage(callSid: string, customParameters: Record<string, string>): string {
  return twilioStartMessage({ streamSid: `MZ${callSid}`, callSid, accountSid: 'ACtest', customParameters });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

async function signedWebhook(h: BridgeHarness, callSid: string): Promise<Record<string, string>> {
  const form = { CallSid: callSid, AccountSid: 'ACtest', From: '+15550007777', To: '+15559990000' };
  const res = await request(h.t.baseUrl)
    .post('/twilio/incoming-call')
    .set('X-Twilio-Signature', computeTwilioSignature(TEST_AUTH_TOKEN, `${TEST_PUBLIC_URL}/twilio/incoming-call`, form))
    .type('form')
    .send(form)
    .expect(200);
  return parseTwiml(res.text).parameters;
}

describe('the /streams upgrade', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ replies: ['Hello.'], ttsEngine: 'tone' }, { MAX_CONCURRENT_CALLS: '2' });
  });
  afterAll(() => h.close());

  it('refuses every other spelling of the path before the socket opens, signed or not', async () => {
    const sessionsBefore = h.ai.sessions.length;
    const spellings = [
      '/streams/',
      '/Streams',
      '/STREAMS',
      '/streams/?x=1',
      '//streams',
      '/streams%2F',
      '/%73treams',
      '/streams/.',
      '/./streams',
      '/twilio/../streams',
      '/api/status',
      '/',
      '/twilio/incoming-call',
      '*',
    ];
    for (const path of spellings) {
      expect([path, await rawUpgrade(h.t.port, path)]).toEqual([path, 404]);
      expect([path, await rawUpgrade(h.t.port, path, { 'X-Twilio-Signature': GOOD_SIGNATURE })]).toEqual([path, 404]);
    }
    expect(h.t.sb.counters.upgradesRefused.path).toBe(spellings.length * 2);
    expect(h.ai.sessions.length).toBe(sessionsBefore);
  });

  it('refuses an unsigned or wrongly signed upgrade of the exact path with 403, and a query needs its own signature', async () => {
    const rejectedBefore = h.t.sb.counters.handshakesRejected;
    expect(await rawUpgrade(h.t.port, '/streams')).toBe(403);
    expect(await rawUpgrade(h.t.port, '/streams?x=1')).toBe(403);
    // The signature of the bare URL does not cover a query string.
    expect(await rawUpgrade(h.t.port, '/streams?x=1', { 'X-Twilio-Signature': GOOD_SIGNATURE })).toBe(403);
    const other = computeTwilioSignature(TEST_AUTH_TOKEN, 'wss://other.host/streams', {});
    expect(await rawUpgrade(h.t.port, '/streams', { 'X-Twilio-Signature': other })).toBe(403);
    expect(h.t.sb.counters.handshakesRejected - rejectedBefore).toBe(4);
    // Signed exactly as Twilio would: accepted (101).
    expect(await rawUpgrade(h.t.port, '/streams', { 'X-Twilio-Signature': GOOD_SIGNATURE })).toBe(101);
    const withQuery = computeTwilioSignature(TEST_AUTH_TOKEN, `${STREAM_URL}?x=1`, {});
    expect(await rawUpgrade(h.t.port, '/streams?x=1', { 'X-Twilio-Signature': withQuery })).toBe(101);
  });

  it('refuses a non-WebSocket upgrade (400)', async () => {
    const status = await new Promise<number>((resolve) => {
      const socket = net.connect(h.t.port, '127.0.0.1');
      socket.setEncoding('latin1');
      socket.once('data', (d: string) => {
        resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(d)?.[1]));
        socket.destroy();
      });
      socket.write(`GET /streams HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n`);
    });
    expect(status).toBe(400);
  });
});

describe('the /streams upgrade behind a trusted proxy', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness(
      { replies: ['Hello.'], ttsEngine: 'tone' },
      { TRUST_PROXY: 'loopback', WEBHOOK_RATE_LIMIT_PER_MIN: '2' },
    );
  });
  afterAll(() => h.close());

  it('rate-limits upgrades per forwarded client, not per proxy', async () => {
    const signed = (xff: string) =>
      rawUpgrade(h.t.port, '/streams', { 'X-Twilio-Signature': GOOD_SIGNATURE, 'X-Forwarded-For': xff });
    const distinct = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4'];
    const statuses: number[] = [];
    for (const ip of distinct) statuses.push(await signed(ip));
    expect(statuses).toEqual([101, 101, 101, 101]);
    const same: number[] = [];
    for (let i = 0; i < 3; i++) same.push(await signed('198.51.100.9'));
    expect(same).toEqual([101, 101, 429]);
  });
});

describe('a stream start', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ replies: ['Hello.'], ttsEngine: 'tone' });
  });
  afterAll(() => h.close());

  it('with a valid signature but no call prepared by a webhook gets no call and no AI session', async () => {
    const callsBefore = await h.t.sb.db.call.count();
    const aiBefore = h.ai.sessions.length;
    const rejectedBefore = h.t.sb.bridge.counters.streamsRejected;
    const attempts: Record<string, string>[] = [
      {},
      { callId: 'made-up' },
      { callId: 'made-up', token: '1999999999999.abc' },
    ];
    for (const params of attempts) {
      const ws = await openSignedStream(h.t.port);
      const done = closed(ws);
      ws.send(startMessage('CAattacker1', params));
      expect(await done).toEqual({ code: 1008, reason: 'stream not authorised' });
    }
    expect(h.t.sb.bridge.counters.streamsRejected - rejectedBefore).toBe(3);
    expect(await h.t.sb.db.call.count()).toBe(callsBefore);
    expect(h.ai.sessions.length).toBe(aiBefore);
  });

  it('is refused without the call token, with another call token, with the wrong CallSid, and when replayed', async () => {
    const a = await signedWebhook(h, 'CAreplay0001');
    const b = await signedWebhook(h, 'CAreplay0002');
    const appendsOf = (): number => h.ai.sessions.reduce((n, s) => n + s.appends, 0);
    const attempts: [string, Record<string, string>][] = [
      ['CAreplay0001', { callId: a.callId }],
      ['CAreplay0001', { callId: a.callId, token: b.token }],
      ['CAreplay0001', { callId: a.callId, token: `${a.token}x` }],
      ['CAsomeoneelse', a],
    ];
    for (const [callSid, params] of attempts) {
      const ws = await openSignedStream(h.t.port);
      const done = closed(ws);
      ws.send(startMessage(callSid, params));
      expect(await done).toEqual({ code: 1008, reason: 'stream not authorised' });
    }
    expect(h.t.sb.bridge.streamRefusals).toMatchObject({
      'token-missing': 1,
      'token-forged': 1,
      'token-malformed': 1,
      'call-mismatch': 1,
    });

    // The real stream of call A attaches; a replay of its very start message on another socket does not.
    const real = await openSignedStream(h.t.port);
    real.send(startMessage('CAreplay0001', a));
    await eventually(() => h.t.sb.db.call.findFirst({ where: { id: a.callId, streamSid: 'MZCAreplay0001' } }));
    const replay = await openSignedStream(h.t.port);
    const replayClosed = closed(replay);
    replay.send(startMessage('CAreplay0001', a));
    expect((await replayClosed).reason).toBe('stream not authorised');
    const before = appendsOf();
    expect(replay.readyState).toBe(WebSocket.CLOSED);
    // After call A ends, its start (token still unexpired) opens nothing.
    await h.t.sb.bridge.end(a.callId, 'caller-hangup');
    real.terminate();
    const late = await openSignedStream(h.t.port);
    const lateClosed = closed(late);
    late.send(startMessage('CAreplay0001', a));
    expect((await lateClosed).reason).toBe('stream not authorised');
    expect(appendsOf()).toBe(before);
    await h.t.sb.bridge.end(b.callId, 'caller-hangup');
  });
});

describe('a started stream (ws 8 under the gate)', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ replies: ['Hello.'], ttsEngine: 'tone' });
  });
  afterAll(() => h.close());

  it('counts binary frames and messages over 64 KiB as protocol errors and keeps the call', async () => {
    const params = await signedWebhook(h, 'CAbinary0001');
    const ws = await openSignedStream(h.t.port);
    ws.send(startMessage('CAbinary0001', params));
    await eventually(() => h.t.sb.db.call.findFirst({ where: { id: params.callId, streamSid: 'MZCAbinary0001' } }));
    ws.send(Buffer.alloc(160, 0xff), { binary: true });
    ws.send(JSON.stringify({ event: 'media', streamSid: 'MZCAbinary0001', pad: 'x'.repeat(100 * 1024) }));
    await eventually(() => (h.t.sb.bridge.protocolErrorReasons['message too large'] ?? 0) >= 1);
    expect(h.t.sb.bridge.protocolErrorReasons).toMatchObject({ 'binary frame': 1, 'message too large': 1 });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(h.t.sb.bridge.get(params.callId)?.active).toBe(true);
    ws.close();
    await eventually(() => h.t.sb.db.call.findFirst({ where: { id: params.callId, endedAt: { not: null } } }));
  });
});

describe('signed sockets that never send start (a replayed handshake header)', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ replies: ['Hello.'], ttsEngine: 'tone' }, { MAX_CONCURRENT_CALLS: '2' });
  });
  afterAll(() => h.close());

  it('cannot hold the server: beyond 64 waiting sockets the oldest is closed, a real call still streams', async () => {
    const idle: WebSocket[] = [];
    for (let i = 0; i < MAX_PENDING_STARTS; i++) idle.push(await openSignedStream(h.t.port));
    const firstClosed = closed(idle[0]);
    idle.push(await openSignedStream(h.t.port));
    expect(await firstClosed).toEqual({ code: 1008, reason: 'no start message' });
    expect(idle.slice(1).every((ws) => ws.readyState === WebSocket.OPEN)).toBe(true);
    // A real call's stream is accepted and attached while the idle sockets are there.
    const params = await signedWebhook(h, 'CAidle00001');
    const real = await openSignedStream(h.t.port);
    real.send(startMessage('CAidle00001', params));
    await eventually(() => h.t.sb.db.call.findFirst({ where: { id: params.callId, streamSid: 'MZCAidle00001' } }));
    // And every idle socket is closed within the 3 s start timeout.
    const started = Date.now();
    await Promise.all(idle.slice(1).map((ws) => (ws.readyState === WebSocket.CLOSED ? undefined : closed(ws))));
    expect(Date.now() - started).toBeLessThan(4500);
    expect(h.t.sb.bridge.streamRefusals['no-start']).toBe(MAX_PENDING_STARTS + 1);
    expect(real.readyState).toBe(WebSocket.OPEN);
    real.close();
  }, 20_000);
});

describe('a call whose stream never starts', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ replies: ['Hello.'], ttsEngine: 'tone' }, { STREAM_TOKEN_TTL_MS: '1500' });
  });
  afterAll(() => h.close());

  it('ends as stream-timeout once its token expires, and its AI session is closed', async () => {
    const params = await signedWebhook(h, 'CAnostream01');
    expect(h.t.sb.bridge.get(params.callId)).toBeDefined();
    const call = await eventually(
      () => h.t.sb.db.call.findFirst({ where: { id: params.callId, endedAt: { not: null } } }),
      8000,
    );
    expect(call).toMatchObject({ endReason: 'stream-timeout', status: 'failed' });
    // The conversation leaves the bridge once its close has finished (just after the row is written).
    await eventually(() => (h.t.sb.bridge.get(params.callId) === undefined ? true : null), 5000);
    // Its token is no good any more either.
    const ws = await openSignedStream(h.t.port);
    const done = closed(ws);
    ws.send(startMessage('CAnostream01', params));
    expect(await done).toEqual({ code: 1008, reason: 'stream not authorised' });
  });
});
