/**
 * Unauthenticated load (issue 10.8), over real sockets: every surface is rate-limited (/health, the
 * dashboard and docs and unknown paths per IP; Twilio webhooks and /streams upgrades per IP with
 * their own high budgets; /metrics per token with its own budget), TRUST_PROXY decides whether
 * X-Forwarded-For keys the limits, /health probes are cached, SSE streams are capped per token and
 * in total (and counted in /metrics), and slow clients cannot hold sockets (while SSE streams and
 * WebSockets outlive the request timeouts).
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import express from 'express';
import request from 'supertest';
import WebSocket, { WebSocketServer } from 'ws';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { connectSse, type SseConnection } from '../../scripts/lib/sse-client';
import { clientIpOf, httpServerOptions, trustProxySetting, upgradeRateLimiter } from '../../src/http/security';
import { ConfigError, testConfig } from '../../src/config';

const TOKEN_A = 'load-token-aaaaaaaaaaaaaaaa';
const TOKEN_B = 'load-token-bbbbbbbbbbbbbbbb';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Opens a WebSocket and resolves with the HTTP status it got: 101, or the refusal's status. */
function upgradeStatus(url: string): Promise<{ status: number; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
    });
    ws.once('error', (err) => reject(err));
  });
}

describe('rate limits on every surface', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      API_TOKENS: `${TOKEN_A},${TOKEN_B}`,
      PUBLIC_RATE_LIMIT_PER_MIN: '20',
      WEBHOOK_RATE_LIMIT_PER_MIN: '5',
      API_RATE_LIMIT_PER_MIN: '3',
    });
  });
  afterAll(() => t.close());

  it('answers a flood on /health with 429 JSON and Retry-After; the dashboard, docs and unknown paths share that budget', async () => {
    const flood = await Promise.all(Array.from({ length: 50 }, () => request(t.baseUrl).get('/health')));
    const statuses = flood.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBe(20);
    expect(statuses.filter((s) => s === 429).length).toBe(30);
    const limited = flood.find((r) => r.status === 429) as request.Response;
    expect(limited.body).toEqual({ error: { code: 'rate_limited', message: expect.stringMatching(/too many/) } });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    for (const p of [
      '/',
      '/assets/config.json',
      '/assets/js/api.js',
      '/assets/vendor/chart.umd.min.js',
      '/api/docs/',
      '/api/openapi.json',
      '/API/calls',
      '/nope',
    ]) {
      expect({ p, status: (await request(t.baseUrl).get(p)).status }).toEqual({ p, status: 429 });
    }
    // Surfaces with a budget of their own are not starved by it.
    await request(t.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN_A}`).expect(200);
    await request(t.baseUrl).get('/metrics').set('Authorization', `Bearer ${TOKEN_A}`).expect(200);
    expect((await request(t.baseUrl).post('/twilio/call-status').type('form').send({})).status).not.toBe(429);
  });

  it('limits Twilio webhooks per IP (WEBHOOK_RATE_LIMIT_PER_MIN), whatever the path under /twilio', async () => {
    const statuses: number[] = [];
    for (const p of [
      '/twilio/call-status',
      '/twilio/incoming-call',
      '/twilio/stream-ended',
      '/twilio/nope',
      '/twilio/call-status',
      '/twilio/call-status',
    ]) {
      statuses.push((await request(t.baseUrl).post(p).type('form').send({ CallSid: 'CAload0001' })).status);
    }
    // One was used by the previous test.
    expect(statuses.slice(0, 4).every((s) => s !== 429)).toBe(true);
    expect(statuses.slice(4)).toEqual([429, 429]);
  });

  it('limits /streams upgrades per IP with their own budget: 429 before any WebSocket is made', async () => {
    const url = `ws://127.0.0.1:${t.port}/streams`;
    const results = [];
    for (let i = 0; i < 7; i++) results.push(await upgradeStatus(url));
    expect(results.map((r) => r.status)).toEqual([101, 101, 101, 101, 101, 429, 429]);
    for (const r of results) r.ws?.terminate();
  });

  it('limits /metrics per token with a budget apart from the API', async () => {
    // TOKEN_B: untouched so far. Three scrapes, then 429; the API budget of the same token is whole.
    for (let i = 0; i < 3; i++)
      await request(t.baseUrl).get('/metrics').set('Authorization', `Bearer ${TOKEN_B}`).expect(200);
    await request(t.baseUrl).get('/metrics').set('Authorization', `Bearer ${TOKEN_B}`).expect(429);
    await request(t.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN_B}`).expect(200);
    // Without a token: per IP, and 401 until the budget is gone.
    const guesses = [];
    for (let i = 0; i < 4; i++) guesses.push((await request(t.baseUrl).get('/metrics')).status);
    expect(guesses).toEqual([401, 401, 401, 429]);
  });
});

describe('TRUST_PROXY and X-Forwarded-For', () => {
  /** Statuses of /health requests carrying these X-Forwarded-For values (limit 3 per minute). */
  async function statusesWith(trustProxy: string | undefined, forwardedFor: string[]): Promise<number[]> {
    const t = await startTestApp({
      PUBLIC_RATE_LIMIT_PER_MIN: '3',
      ...(trustProxy ? { TRUST_PROXY: trustProxy } : {}),
    });
    try {
      const out: number[] = [];
      for (const xff of forwardedFor)
        out.push((await request(t.baseUrl).get('/health').set('X-Forwarded-For', xff)).status);
      return out;
    } finally {
      await t.close();
    }
  }
  const distinct = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5'];

  it('ignores X-Forwarded-For by default: a client cannot pick a fresh address per request', async () => {
    expect(await statusesWith(undefined, distinct)).toEqual([200, 200, 200, 429, 429]);
  });

  it('keys the limit by the forwarded client when the proxy is trusted (loopback), one budget per client', async () => {
    expect(await statusesWith('loopback', distinct)).toEqual([200, 200, 200, 200, 200]);
    expect(await statusesWith('loopback', Array(5).fill('198.51.100.9'))).toEqual([200, 200, 200, 429, 429]);
  });

  it('trusts only the configured hops: with one hop, addresses a client prepends are ignored', async () => {
    const spoofed = distinct.map((ip) => `${ip}, 203.0.113.7`);
    expect(await statusesWith('1', spoofed)).toEqual([200, 200, 200, 429, 429]);
  });

  it('ignores X-Forwarded-For from a peer outside the trusted CIDR list', async () => {
    expect(await statusesWith('10.0.0.0/8, 192.168.0.1', distinct)).toEqual([200, 200, 200, 429, 429]);
  });

  it('accepts what Express accepts and refuses the rest at start', () => {
    expect(testConfig({}).http.trustProxy).toBe(false);
    expect(testConfig({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(testConfig({ TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(
      testConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8, fd00::/8, 192.168.1.0/255.255.255.0' }).http.trustProxy,
    ).toEqual(['loopback', '10.0.0.0/8', 'fd00::/8', '192.168.1.0/255.255.255.0']);
    for (const bad of ['yes', '10.0.0.0/33', 'proxy.example.com', '1.2.3.4/8/9']) {
      expect(() => testConfig({ TRUST_PROXY: bad })).toThrow(ConfigError);
    }
  });

  it('gives upgrade handlers the client IP exactly as Express computes req.ip', async () => {
    const app = express();
    app.set('trust proxy', trustProxySetting(['loopback']));
    let expressIp: string | undefined;
    let rawIp: string | undefined;
    app.get('/', (req, res) => {
      expressIp = req.ip;
      rawIp = clientIpOf(req, app);
      res.end();
    });
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const xff of ['203.0.113.5', '203.0.113.5, 127.0.0.1', '10.1.1.1, 203.0.113.6']) {
        await request(base).get('/').set('X-Forwarded-For', xff);
        expect(rawIp).toBe(expressIp);
      }
      expect(rawIp).toBe('203.0.113.6');
      app.set('trust proxy', false);
      await request(base).get('/').set('X-Forwarded-For', '203.0.113.5');
      expect(rawIp).toBe(expressIp);
      expect(rawIp).toBe('127.0.0.1');
    } finally {
      await new Promise((r) => server.close(r));
    }
    // And the upgrade limiter counts per such address, in fixed windows.
    let now = 0;
    const allow = upgradeRateLimiter({ limit: 2, windowMs: 1000, now: () => now });
    expect([allow('192.0.2.1'), allow('192.0.2.1'), allow('192.0.2.1'), allow('192.0.2.2')]).toEqual([
      true,
      true,
      false,
      true,
    ]);
    now = 1000;
    expect(allow('192.0.2.1')).toBe(true);
  });
});

describe('SSE client caps', () => {
  let t: TestApp;
  const open: SseConnection[] = [];
  beforeAll(async () => {
    t = await startTestApp({
      API_TOKENS: `${TOKEN_A},${TOKEN_B}`,
      SSE_MAX_CLIENTS: '3',
      SSE_MAX_CLIENTS_PER_TOKEN: '2',
    });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await t.close();
  });

  const connect = async (token: string): Promise<SseConnection> => {
    const c = await connectSse(`${t.baseUrl}/api/status`, { Authorization: `Bearer ${token}` });
    open.push(c);
    return c;
  };
  const sseGauge = async (): Promise<number> => {
    const res = await request(t.baseUrl).get('/metrics').set('Authorization', `Bearer ${TOKEN_A}`).expect(200);
    return Number(/^switchboard_sse_clients (\d+)$/m.exec(res.text)?.[1]);
  };

  it('refuses a stream beyond the per-token cap and beyond the total with 429 JSON; a closed stream frees its slot', async () => {
    expect(await sseGauge()).toBe(0);
    const a1 = await connect(TOKEN_A);
    const a2 = await connect(TOKEN_A);
    expect([a1.status, a2.status]).toEqual([200, 200]);
    await a2.waitFor((m) => m.event === 'snapshot');
    const a3 = await request(t.baseUrl).get('/api/status').set('Authorization', `Bearer ${TOKEN_A}`);
    expect(a3.status).toBe(429);
    expect(a3.body.error).toEqual({ code: 'rate_limited', message: expect.stringMatching(/for this token/) });
    // The query-token form is the same token.
    expect((await connect(TOKEN_B)).status).toBe(200);
    const b2 = await request(t.baseUrl).get(`/api/status?access_token=${TOKEN_B}`);
    expect(b2.status).toBe(429);
    expect(b2.body.error.message).toMatch(/on this server/);
    expect(await sseGauge()).toBe(3);

    a1.close();
    await waitFor(async () => (await sseGauge()) === 2);
    const again = await connect(TOKEN_A);
    expect(again.status).toBe(200);
    expect(await sseGauge()).toBe(3);
  });
});

describe('SSE client caps on an open API', () => {
  it('counts per IP, so made-up tokens do not get a budget each', async () => {
    const t = await startTestApp({ SSE_MAX_CLIENTS: '10', SSE_MAX_CLIENTS_PER_TOKEN: '2' });
    const open: SseConnection[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        open.push(await connectSse(`${t.baseUrl}/api/status`, { Authorization: `Bearer made-up-${i}` }));
        expect(open[i].status).toBe(200);
      }
      const third = await request(t.baseUrl).get('/api/status').set('Authorization', 'Bearer made-up-2');
      expect(third.status).toBe(429);
    } finally {
      for (const c of open) c.close();
      await t.close();
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(25);
  }
}

describe('slow clients and long responses', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      HTTP_HEADERS_TIMEOUT_MS: '500',
      HTTP_REQUEST_TIMEOUT_MS: '1000',
      HEALTH_CACHE_MS: '1000',
    });
  });
  afterAll(() => t.close());

  /** A raw socket that writes `first`, then `drip` every `everyMs` until the server closes it. */
  function slowClient(first: string, drip: string, everyMs: number): Promise<{ closedAfterMs: number; reply: string }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = net.connect(t.port, '127.0.0.1', () => socket.write(first));
      let reply = '';
      const timer = setInterval(() => {
        if (socket.writable) socket.write(drip);
      }, everyMs);
      const giveUp = setTimeout(() => {
        clearInterval(timer);
        socket.destroy();
        reject(new Error('the server kept the slow client for 10 s'));
      }, 10_000);
      socket.on('data', (d: Buffer) => (reply += d.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        clearTimeout(giveUp);
        resolve({ closedAfterMs: Date.now() - started, reply });
      });
    });
  }

  it('disconnects a slowloris client that sends its headers slowly', async () => {
    const { closedAfterMs, reply } = await slowClient('GET /health HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n', 100);
    expect(closedAfterMs).toBeLessThan(2500);
    expect(reply).not.toMatch(/HTTP\/1\.1 200/);
  });

  it('disconnects a client that connects and sends nothing', async () => {
    const { closedAfterMs } = await slowClient('', '', 100);
    expect(closedAfterMs).toBeLessThan(2500);
  });

  it('disconnects a client that trickles its body', async () => {
    const head =
      'POST /twilio/call-status HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n';
    const { closedAfterMs } = await slowClient(head, 'a', 100);
    expect(closedAfterMs).toBeLessThan(3500);
  });

  it('keeps an SSE stream open long past the request timeouts', async () => {
    const sse = await connectSse(`${t.baseUrl}/api/status`);
    try {
      expect(sse.status).toBe(200);
      await sse.waitFor((m) => m.event === 'snapshot');
      await sleep(2500);
      const call = await t.sb.callManager.createCall({ callSid: 'CAslow0001' });
      await sse.waitFor((m) => m.event === 'call.started');
      await t.sb.callManager.endCall(call.id, { reason: 'caller-hangup' });
    } finally {
      sse.close();
    }
  });

  it('keeps a WebSocket open past the request timeouts (same server options, ws 8 upgrade)', async () => {
    const server = http.createServer(
      httpServerOptions({ headersTimeoutMs: 500, requestTimeoutMs: 1000, keepAliveTimeoutMs: 500 }),
      (_req, res) => res.end(),
    );
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(m))),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    try {
      await new Promise((r) => ws.once('open', r));
      await sleep(2500);
      expect(ws.readyState).toBe(WebSocket.OPEN);
      const echo = new Promise((r) => ws.once('message', (m) => r(m.toString())));
      ws.send('still here');
      expect(await echo).toBe('still here');
    } finally {
      ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('caches the /health probes for a second: a broken folder shows after the cache expires', async () => {
    await sleep(1100);
    expect((await request(t.baseUrl).get('/health').expect(200)).body.checks.recordings).toEqual({ ok: true });
    rmSync(t.sb.recordingsDir, { recursive: true, force: true });
    writeFileSync(t.sb.recordingsDir, 'not a folder');
    try {
      // Within the second: the cached probe (a flood costs one probe per second).
      const burst = await Promise.all(Array.from({ length: 20 }, () => request(t.baseUrl).get('/health')));
      expect(burst.every((r) => r.body.checks.recordings.ok === true)).toBe(true);
      await sleep(1100);
      const res = await request(t.baseUrl).get('/health').expect(200);
      expect(res.body.checks.recordings).toEqual({ ok: false, detail: 'recordings folder is not writable (ENOTDIR)' });
    } finally {
      rmSync(t.sb.recordingsDir, { force: true });
      mkdirSync(t.sb.recordingsDir, { recursive: true });
    }
  });

  it('refuses timeouts that contradict each other at start', () => {
    expect(() => testConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).toThrow(ConfigError);
    expect(testConfig({}).http).toMatchObject({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5000,
    });
  });
});
