/**
 * The webhook lane (src/http/webhook-lane.ts) attacked over real sockets on the real app: Twilio's
 * voice webhook, status callback and <Connect action> are answered in front of express, so every
 * guard the express stack gave them is checked here again: other spellings and methods, forged,
 * missing and replayed signatures, oversized, compressed and malformed bodies, aborted uploads, the
 * shared rate limit, security headers, HSTS behind a proxy.
 */
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';

const AUTH_TOKEN = 'lane-auth-token-0123456789abcdef';
const PUBLIC_URL = 'https://lane.example.test';

const form = (sid: string): Record<string, string> => ({
  CallSid: sid,
  AccountSid: 'ACtest',
  From: '+15550001111',
  To: '+15559990000',
  CallStatus: 'ringing',
  Direction: 'inbound',
});
const sign = (pathAndQuery: string, params: Record<string, string>): string =>
  computeTwilioSignature(AUTH_TOKEN, `${PUBLIC_URL}${pathAndQuery}`, params);

/** Sends raw bytes and reads the whole answer (the server closes, or `waitMs` passes). */
function raw(port: number, bytes: string | Buffer, waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
    socket.write(bytes);
  });
}

describe('webhook lane: spellings, methods, signatures, replays', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ TWILIO_AUTH_TOKEN: AUTH_TOKEN, PUBLIC_URL });
  });
  afterAll(() => t.close());

  it('answers a signed voice webhook with TwiML and the same security headers as any express response', async () => {
    const params = form('CAlane0001');
    const res = await request(t.baseUrl)
      .post('/twilio/incoming-call')
      .set('X-Twilio-Signature', sign('/twilio/incoming-call', params))
      .type('form')
      .send(params)
      .expect(200);
    expect(res.headers['content-type']).toBe('text/xml; charset=utf-8');
    expect(res.text).toContain('<Connect action="https://lane.example.test/twilio/stream-ended?callId=');
    const health = await request(t.baseUrl).get('/health');
    for (const name of [
      'content-security-policy',
      'x-content-type-options',
      'x-frame-options',
      'referrer-policy',
      'cross-origin-opener-policy',
      'cross-origin-resource-policy',
      'strict-transport-security',
      'x-dns-prefetch-control',
      'x-download-options',
      'x-permitted-cross-domain-policies',
      'origin-agent-cluster',
      'x-xss-protection',
    ]) {
      expect({ name, value: res.headers[name] }).toEqual({ name, value: health.headers[name] });
      expect(res.headers[name]).toBeDefined();
    }
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers.ratelimit).toMatch(/limit=\d+/);
  });

  it('leaves every other spelling and method of the paths to express: 404 JSON, no call created', async () => {
    const params = form('CAlane0002');
    const signed = (p: string) => sign(p, params);
    for (const p of [
      '/twilio/incoming-call/',
      '/Twilio/incoming-call',
      '/twilio/Incoming-Call',
      '/twilio//incoming-call',
      '//twilio/incoming-call',
      '/twilio/%69ncoming-call',
      '/twilio/incoming-call%2F',
      '/twilio/incoming-call;x',
      '/twilio/./incoming-call',
      '/twilio/x/../incoming-call',
    ]) {
      const res = await request(t.baseUrl).post(p).set('X-Twilio-Signature', signed(p)).type('form').send(params);
      expect({ p, status: res.status, code: res.body?.error?.code }).toEqual({ p, status: 404, code: 'not_found' });
    }
    for (const method of ['get', 'put', 'delete', 'patch'] as const) {
      const res = await request(t.baseUrl)[method]('/twilio/incoming-call').type('form').send(params);
      expect({ method, status: res.status }).toEqual({ method, status: 404 });
    }
    // Absolute-form request target: not the lane's (a proxy form Twilio never sends).
    const absolute = await raw(
      t.port,
      'POST http://lane.example.test/twilio/incoming-call HTTP/1.1\r\nHost: lane.example.test\r\n' +
        'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
    expect(absolute).toMatch(/^HTTP\/1\.1 (403|404)/);
    expect(await t.sb.callManager.findByCallSid('CAlane0002')).toBeNull();
  });

  it('refuses a missing, forged or replayed-elsewhere signature with 403 JSON, counts it, creates no call', async () => {
    const params = form('CAlane0003');
    const before = t.sb.counters.signatureFailures;
    const attempts = [
      request(t.baseUrl).post('/twilio/incoming-call').type('form').send(params),
      request(t.baseUrl).post('/twilio/incoming-call').set('X-Twilio-Signature', 'forged').type('form').send(params),
      // Signed for another route, another query, another host, other parameters.
      request(t.baseUrl)
        .post('/twilio/incoming-call')
        .set('X-Twilio-Signature', sign('/twilio/call-status', params))
        .type('form')
        .send(params),
      request(t.baseUrl)
        .post('/twilio/incoming-call?x=1')
        .set('X-Twilio-Signature', sign('/twilio/incoming-call', params))
        .type('form')
        .send(params),
      request(t.baseUrl)
        .post('/twilio/incoming-call')
        .set('X-Twilio-Signature', computeTwilioSignature(AUTH_TOKEN, 'https://evil.test/twilio/incoming-call', params))
        .type('form')
        .send(params),
      request(t.baseUrl)
        .post('/twilio/incoming-call')
        .set('X-Twilio-Signature', sign('/twilio/incoming-call', params))
        .type('form')
        .send({ ...params, From: '+15550009999' }),
      // The signed fields sent as JSON: the form is empty, so the signature does not match it.
      request(t.baseUrl)
        .post('/twilio/incoming-call')
        .set('X-Twilio-Signature', sign('/twilio/incoming-call', params))
        .type('json')
        .send(params),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ error: { code: 'forbidden', message: 'invalid Twilio signature' } });
      expect(res.headers['content-security-policy']).toBeDefined();
    }
    expect(t.sb.counters.signatureFailures - before).toBe(attempts.length);
    expect(await t.sb.callManager.findByCallSid('CAlane0003')).toBeNull();
  });

  it('a replayed signed voice webhook answers for the same call: one call, never two', async () => {
    const params = form('CAlane0004');
    const post = () =>
      request(t.baseUrl)
        .post('/twilio/incoming-call')
        .set('X-Twilio-Signature', sign('/twilio/incoming-call', params))
        .type('form')
        .send(params);
    const [a, b] = await Promise.all([post(), post()]);
    const c = await post();
    const ids = [a, b, c].map((r) => /name="callId" value="([^"]+)"/.exec(r.text)?.[1]).filter(Boolean);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(1);
    await t.sb.callManager.flush();
    const calls = await t.sb.db.call.findMany({ where: { callSid: 'CAlane0004' } });
    expect(calls).toHaveLength(1);
    await t.sb.bridge.closeAll('server-shutdown');
  });

  it('takes a repeated callId in the query as missing (400), never its first or last value', async () => {
    const params = { CallSid: 'CAlane0005', AccountSid: 'ACtest' };
    const p = '/twilio/outbound-call?callId=a&callId=b';
    const res = await request(t.baseUrl).post(p).set('X-Twilio-Signature', sign(p, params)).type('form').send(params);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_body', field: 'callId' });
  });
});

describe('webhook lane: bodies', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ TWILIO_AUTH_TOKEN: AUTH_TOKEN, PUBLIC_URL });
  });
  afterAll(() => t.close());

  const head = (length: number | 'chunked', extra = ''): string =>
    'POST /twilio/call-status HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
    (length === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${length}\r\n`) +
    extra +
    '\r\n';

  it('refuses a declared body over the 8 MB it would read off at once, 413 JSON, and closes the connection', async () => {
    const reply = await raw(t.port, head(64 * 1024 * 1024));
    expect(reply).toMatch(/^HTTP\/1\.1 413/);
    expect(reply).toMatch(/connection: close/i);
    expect(reply).toContain('{"error":{"code":"payload_too_large","message":"request body is too large"}}');
  });

  it('refuses a body over 32 KB, by its Content-Length or once a chunked one passes it, after reading the rest off', async () => {
    const declared = await raw(t.port, head(40 * 1024) + 'a'.repeat(40 * 1024));
    expect(declared).toMatch(/^HTTP\/1\.1 413/);
    expect(declared).toMatch(/connection: close/i);
    const chunk = `8000\r\n${'a'.repeat(0x8000)}\r\n`;
    const reply = await raw(t.port, head('chunked') + chunk + chunk + '0\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 413/);
    expect(reply).toContain('payload_too_large');
  });

  it('answers 413 after 3 s to a client that stops sending a refused body, then closes', async () => {
    const started = Date.now();
    const reply = await raw(t.port, head(40 * 1024) + 'a'.repeat(33 * 1024), 6000);
    expect(reply).toMatch(/^HTTP\/1\.1 413/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    expect(Date.now() - started).toBeLessThan(5500);
  });

  it('answers 413 to a 4 MB body even to a client that reads nothing until its body is sent', async () => {
    // The server reads the rest off (discarding it) before it answers and closes: a close with
    // unread bytes would reset the connection and lose the answer (a client's "write EPIPE").
    const body = Buffer.alloc(4 * 1024 * 1024, 'a');
    const chunked = Buffer.concat([
      Buffer.from(head('chunked') + `${body.length.toString(16)}\r\n`),
      body,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    for (const bytes of [chunked, Buffer.concat([Buffer.from(head(body.length)), body])]) {
      const reply = await new Promise<string>((resolve) => {
        const socket = net.connect(t.port, '127.0.0.1');
        socket.pause();
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('error', (e) => (text += `[${e.message}]`));
        socket.on('close', () => resolve(text));
        socket.write(bytes, () => setTimeout(() => socket.resume(), 200));
      });
      expect(reply).toMatch(/^HTTP\/1\.1 413/);
      expect(reply).toContain('payload_too_large');
    }
  });

  it('refuses more than 200 fields (413), another charset (415), a compressed body (415)', async () => {
    const many = Array.from({ length: 201 }, (_, i) => `f${i}=1`).join('&');
    const fields = await request(t.baseUrl).post('/twilio/call-status').type('form').send(many);
    expect(fields.status).toBe(413);
    expect(fields.body.error.code).toBe('payload_too_large');
    const latin1 = await request(t.baseUrl)
      .post('/twilio/call-status')
      .set('Content-Type', 'application/x-www-form-urlencoded; charset=iso-8859-1')
      .send('CallSid=CA1');
    expect(latin1.status).toBe(415);
    expect(latin1.body.error.code).toBe('unsupported_media_type');
    const gzipped = gzipSync(Buffer.from('CallSid=CA1&CallStatus=completed'));
    const compressed = await raw(
      t.port,
      Buffer.concat([Buffer.from(head(gzipped.length, 'Content-Encoding: gzip\r\n')), gzipped]),
    );
    expect(compressed).toMatch(/^HTTP\/1\.1 415/);
  });

  it('survives malformed forms and clients that go away mid-body; the next webhook is answered', async () => {
    // Signatures are checked after parsing: a malformed form reaches the check and is refused there.
    for (const body of ['%', '%zz=%%&&&==', '=&=&=', 'a=%E0%A4%A', '\u0000=\u0000', '__proto__=x&constructor=y']) {
      const res = await request(t.baseUrl).post('/twilio/call-status').type('form').send(body);
      expect({ body, status: res.status }).toEqual({ body, status: 403 });
    }
    // Half a body, then the socket closes.
    await raw(t.port, head(1000) + 'CallSid=CA', 200);
    const params = { CallSid: 'CAlane0100', CallStatus: 'completed' };
    const res = await request(t.baseUrl)
      .post('/twilio/call-status')
      .set('X-Twilio-Signature', sign('/twilio/call-status', params))
      .type('form')
      .send(params);
    // An unknown call: the signed status callback reached the route, which answers so.
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: 'call not found' } });
  });
});

describe('webhook lane: rate limit and HSTS behind a proxy', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      // http: HSTS only when a trusted proxy says the request came over HTTPS.
      PUBLIC_URL: 'http://lane.example.test',
      TRUST_PROXY: 'loopback',
      WEBHOOK_RATE_LIMIT_PER_MIN: '6',
    });
  });
  afterAll(() => t.close());

  it('sends HSTS only when the trusted proxy forwarded HTTPS', async () => {
    const plain = await request(t.baseUrl).post('/twilio/stream-ended').type('form').send({});
    expect(plain.status).toBe(403);
    expect(plain.headers['strict-transport-security']).toBeUndefined();
    const forwarded = await request(t.baseUrl)
      .post('/twilio/stream-ended')
      .set('X-Forwarded-Proto', 'https')
      .type('form')
      .send({});
    expect(forwarded.headers['strict-transport-security']).toMatch(/max-age=31536000/);
  });

  it('counts lane paths and every other /twilio path in one budget per client (the forwarded one)', async () => {
    const statuses: number[] = [];
    // Two used above, from 127.0.0.1 (no X-Forwarded-For).
    for (const p of [
      '/twilio/incoming-call',
      '/twilio/nope',
      '/twilio/call-status',
      '/twilio/Stream-Ended',
      '/twilio/stream-ended',
    ]) {
      statuses.push((await request(t.baseUrl).post(p).type('form').send({})).status);
    }
    expect(statuses).toEqual([403, 404, 403, 404, 429]);
    const limited = await request(t.baseUrl).post('/twilio/incoming-call').type('form').send({});
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ error: { code: 'rate_limited', message: expect.stringMatching(/too many/) } });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['content-security-policy']).toBeDefined();
    // Another client behind the trusted proxy has its own budget.
    const other = await request(t.baseUrl)
      .post('/twilio/incoming-call')
      .set('X-Forwarded-For', '203.0.113.7')
      .type('form')
      .send({});
    expect(other.status).toBe(403);
  });
});
