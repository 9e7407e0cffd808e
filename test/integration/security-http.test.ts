/**
 * HTTP security over real sockets: helmet headers and the strict CSP, the /api rate limit (per
 * token, per IP without a valid token), the JSON body limit, no stack traces or secrets in responses
 * or logs, recordings served only by id from the recordings folder, and the polite refusal beyond
 * the concurrent-call cap.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import request from 'supertest';
import winston from 'winston';
import { createApp, type SwitchboardApp } from '../../src/app';
import { testConfig } from '../../src/config';
import { createLogger } from '../../src/logging/logger';
import { sqliteFilePath } from '../../src/db/migrations';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import { BUSY_MESSAGE } from '../../src/channels/twilio/routes';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

const TOKEN_A = 'token-aaaaaaaaaaaaaaaaaaaa';
const TOKEN_B = 'token-bbbbbbbbbbbbbbbbbbbb';
const TWILIO_TOKEN = 'twilio-secret-auth-token-42';
const OPENAI_KEY = 'sk-test-openai-secret-key-0001';
const PUBLIC_URL = 'https://switchboard.example.test';

interface Running {
  sb: SwitchboardApp;
  baseUrl: string;
  tmp: TempDir;
  logs: string[];
}

async function start(env: Record<string, string>): Promise<Running> {
  const tmp = createTempDatabase();
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', json: true });
  logger.clear();
  logger.add(
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(chunk.toString());
          done();
        },
      }),
    }),
  );
  const config = testConfig({
    DATABASE_URL: tmp.databaseUrl,
    RECORDING_STORAGE_PATH: tmp.recordingsDir,
    API_TOKENS: `${TOKEN_A},${TOKEN_B}`,
    TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
    PUBLIC_URL,
    // Calls are never bridged in this file; the URL only has to be valid and not the default.
    OPENAI_REALTIME_URL: 'ws://127.0.0.1:9/v1/realtime',
    OPENAI_API_KEY: OPENAI_KEY,
    ...env,
  });
  const sb = await createApp(config, { logger });
  const port = await sb.listen(0, '127.0.0.1');
  return { sb, baseUrl: `http://127.0.0.1:${port}`, tmp, logs };
}

async function stop(r: Running): Promise<void> {
  await r.sb.close();
  r.tmp.cleanup();
}

describe('security headers', () => {
  let r: Running;
  beforeAll(async () => {
    r = await start({});
  });
  afterAll(() => stop(r));

  it('sends a strict same-origin CSP with no inline scripts, and helmet headers, on every response', async () => {
    for (const res of [
      await request(r.baseUrl).get('/health'),
      await request(r.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN_A}`),
      await request(r.baseUrl).get('/api/calls'),
      await request(r.baseUrl).get('/nope'),
    ]) {
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("script-src-attr 'none'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('lets only the Swagger page use inline styles, never inline scripts', async () => {
    const res = await request(r.baseUrl).get('/api/docs/').set('Authorization', `Bearer ${TOKEN_A}`).expect(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("style-src 'self' 'unsafe-inline'");
    expect(csp).toContain("script-src 'self'");
    expect(csp.match(/script-src [^;]*/)?.[0]).not.toContain('unsafe-inline');
    // The page itself loads its scripts from files (the CSP does not break it).
    expect(res.text).not.toMatch(/<script>(?!\s*<\/script>)/);
  });
});

describe('API limits and errors', () => {
  let r: Running;
  beforeAll(async () => {
    r = await start({ API_RATE_LIMIT_PER_MIN: '5' });
  });
  afterAll(() => stop(r));

  it('rate-limits /api per token with a 429 JSON error and Retry-After; other tokens are not affected', async () => {
    for (let i = 0; i < 5; i++) {
      const ok = await request(r.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN_A}`);
      expect(ok.status).toBe(200);
      expect(ok.headers.ratelimit).toMatch(/limit=5/);
    }
    const limited = await request(r.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN_A}`).expect(429);
    expect(limited.body).toEqual({
      error: { code: 'rate_limited', message: expect.stringMatching(/too many requests/) },
    });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Same client IP, another token: its own budget.
    await request(r.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN_B}`).expect(200);
    // The access_token query form (accepted on the SSE stream) counts against the same token.
    await request(r.baseUrl).get(`/api/status?access_token=${TOKEN_A}`).expect(429);
  });

  it('limits token guessing per IP: made-up tokens share one budget and are then refused with 429', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await request(r.baseUrl).get('/api/calls').set('Authorization', `Bearer guess-${i}-xxxxxxxxxxxxxxxx`);
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });
});

describe('bodies, errors, secrets', () => {
  let r: Running;
  beforeAll(async () => {
    r = await start({});
  });
  afterAll(() => stop(r));

  it('refuses a JSON body over 64 KiB with 413 and malformed JSON with 400, both as JSON errors', async () => {
    const call = await r.sb.callManager.createCall({ callSid: 'CAbody0001' });
    const big = await request(r.baseUrl)
      .post(`/api/calls/${call.id}/notes`)
      .set('Authorization', `Bearer ${TOKEN_A}`)
      .type('json')
      .send(JSON.stringify({ notes: 'x'.repeat(100 * 1024) }))
      .expect(413);
    expect(big.body).toEqual({ error: { code: 'payload_too_large', message: 'request body is too large' } });
    const bad = await request(r.baseUrl)
      .post(`/api/calls/${call.id}/notes`)
      .set('Authorization', `Bearer ${TOKEN_A}`)
      .type('json')
      .send('{"notes": "unterminated')
      .expect(400);
    expect(bad.body).toEqual({ error: { code: 'invalid_body', message: 'request body is not valid JSON' } });
    expect(JSON.stringify(bad.body)).not.toMatch(/at .*\.(js|ts):\d+/);
    await r.sb.callManager.endCall(call.id, { reason: 'caller-hangup' });
  });

  it('answers a failing query with a bare 500: no stack, no SQL, no file paths; the process lives on', async () => {
    // A real fault: the table disappears under the server (renamed by a second connection).
    const file = sqliteFilePath(r.tmp.databaseUrl);
    const other = new Database(file);
    other.exec('ALTER TABLE "Call" RENAME TO "Call_gone"');
    try {
      const res = await request(r.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN_A}`).expect(500);
      expect(res.body).toEqual({ error: { code: 'internal', message: 'internal server error' } });
      expect(res.text).not.toMatch(/Call_gone|no such table|SELECT|\/work|node_modules|\.ts:\d+/i);
    } finally {
      other.exec('ALTER TABLE "Call_gone" RENAME TO "Call"');
      other.close();
    }
    await request(r.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN_A}`).expect(200);
  });

  it('never writes a token, key or signature to the logs', async () => {
    await request(r.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN_A}`).expect(200);
    // A token in the URL is refused outside the SSE stream, and not logged either.
    await request(r.baseUrl).get(`/api/calls?access_token=${TOKEN_B}`).expect(401);
    await request(r.baseUrl).get('/api/calls').set('Authorization', 'Bearer wrong-token-yyyyyyyyyyyyyy').expect(401);
    const form = { CallSid: 'CAlog0001', From: '+15550001111', To: '+15559990000' };
    const sig = computeTwilioSignature(TWILIO_TOKEN, `${PUBLIC_URL}/twilio/incoming-call`, form);
    await request(r.baseUrl).post('/twilio/incoming-call').set('X-Twilio-Signature', 'forged').type('form').send(form);
    await request(r.baseUrl).post('/twilio/incoming-call').set('X-Twilio-Signature', sig).type('form').send(form);
    await r.sb.bridge.closeAll('server-shutdown');
    const all = r.logs.join('');
    expect(r.logs.length).toBeGreaterThan(3);
    for (const secret of [TOKEN_A, TOKEN_B, TWILIO_TOKEN, OPENAI_KEY, sig, 'wrong-token-yyyyyyyyyyyyyy']) {
      expect(all).not.toContain(secret);
    }
    // Phone numbers are kept out too unless LOG_PII is on.
    expect(all).not.toContain('+15550001111');
  });
});

describe('recordings only by id', () => {
  let r: Running;
  beforeAll(async () => {
    r = await start({});
  });
  afterAll(() => stop(r));

  it('never serves a file outside the recordings folder, whatever the URL or a tampered row says', async () => {
    const auth = { Authorization: `Bearer ${TOKEN_A}` };
    for (const url of [
      '/api/calls/..%2F..%2F..%2Fetc%2Fpasswd/recording',
      '/api/calls/%2Fetc%2Fpasswd/recording',
      '/api/calls/../../etc/passwd/recording',
      '/api/calls/x/recording?path=/etc/passwd',
      '/api/recordings/..%2F..%2Fetc%2Fpasswd',
    ]) {
      const res = await request(r.baseUrl).get(url).set(auth);
      expect([400, 404]).toContain(res.status);
      expect(res.headers['content-type']).toMatch(/json/);
      expect(res.text).not.toContain('root:');
    }
    // A row pointing outside the folder (tampered database) is refused as well.
    const call = await r.sb.callManager.createCall({ callSid: 'CArec0001' });
    await r.sb.callManager.endCall(call.id, { reason: 'caller-hangup' });
    for (const evil of ['../../../../etc/passwd', '/etc/passwd']) {
      await r.sb.db.recording.deleteMany({ where: { callId: call.id } });
      await r.sb.callManager.addRecording({
        callId: call.id,
        path: evil,
        container: 'wav',
        codec: 'pcm_s16le',
        sampleRateHz: 8000,
        channels: 2,
        durationMs: 1000,
        sizeBytes: 100,
      });
      const res = await request(r.baseUrl).get(`/api/calls/${call.id}/recording`).set(auth);
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('root:');
    }
  });
});

/**
 * A server capped at `maxCalls` whose AI endpoint accepts TCP and never answers: every call keeps its
 * slot while connecting. Registers the suite's set-up and tear-down; returns the running server.
 */
function cappedServerWithSilentAi(maxCalls: number): () => Running {
  let r: Running;
  const silent = net.createServer(() => undefined);
  const held = new Set<net.Socket>();
  silent.on('connection', (s) => held.add(s));
  beforeAll(async () => {
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    r = await start({
      MAX_CONCURRENT_CALLS: String(maxCalls),
      OPENAI_REALTIME_URL: `ws://127.0.0.1:${port}/v1/realtime`,
    });
  });
  afterAll(async () => {
    await stop(r);
    for (const s of held) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
  return () => r;
}

describe('concurrent-call cap', () => {
  const running = cappedServerWithSilentAi(1);

  const post = (callSid: string): request.Test => {
    const form = { CallSid: callSid, From: '+15550002222', To: '+15559990000', CallStatus: 'ringing' };
    return request(running().baseUrl)
      .post('/twilio/incoming-call')
      .set('X-Twilio-Signature', computeTwilioSignature(TWILIO_TOKEN, `${PUBLIC_URL}/twilio/incoming-call`, form))
      .type('form')
      .send(form);
  };

  it('refuses the call beyond the cap politely with TwiML (a spoken apology and a hang-up), storing nothing', async () => {
    // Hold the one slot.
    running()
      .sb.bridge.prepare(await running().sb.callManager.createCall({ callSid: 'CAcap0001' }))
      .catch(() => undefined);
    expect(running().sb.bridge.size).toBe(1);
    const res = await post('CAcap0002').expect(200);
    expect(res.headers['content-type']).toMatch(/text\/xml/);
    expect(res.text).toContain(`<Say`);
    expect(res.text).toContain(BUSY_MESSAGE);
    expect(res.text).toContain('<Hangup/>');
    expect(res.text).not.toContain('<Connect');
    expect(running().sb.counters.callsRefused).toBe(1);
    expect(await running().sb.db.call.count({ where: { callSid: 'CAcap0002' } })).toBe(0);
    const metrics = await request(running().baseUrl)
      .get('/metrics')
      .set('Authorization', `Bearer ${TOKEN_A}`)
      .expect(200);
    expect(metrics.text).toMatch(/switchboard_calls_refused_total 1/);
  });
});

describe('concurrent-call cap under a flood of webhooks', () => {
  const running = cappedServerWithSilentAi(2);

  it('admits exactly the cap when the webhooks arrive at once (each waits for its record in between; 60 at once overshot a cap of 2 before)', async () => {
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const form = { CallSid: `CAflood${i}`, From: '+15550002222', To: '+15559990000', CallStatus: 'ringing' };
        return request(running().baseUrl)
          .post('/twilio/incoming-call')
          .set('X-Twilio-Signature', computeTwilioSignature(TWILIO_TOKEN, `${PUBLIC_URL}/twilio/incoming-call`, form))
          .type('form')
          .send(form);
      }),
    );
    expect(results.every((res) => res.status === 200)).toBe(true);
    expect(results.filter((res) => res.text.includes('<Connect'))).toHaveLength(2);
    expect(results.filter((res) => res.text.includes(BUSY_MESSAGE))).toHaveLength(58);
    expect(running().sb.bridge.size).toBe(2);
    expect(running().sb.counters.callsRefused).toBe(58);
  });
});
