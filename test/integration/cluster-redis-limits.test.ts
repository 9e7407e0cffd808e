/**
 * Cluster-wide rate limits on the real Redis (127.0.0.1:6379, a random key prefix per run, deleted
 * at the end): two express apps, each with its own Redis connection as two instances would have,
 * share one client's budget (API, webhooks, public, WebSocket upgrades). And Redis failing: a
 * private redis-server killed mid-run (and one never there) leaves webhooks answered within a
 * per-instance budget, the fallbacks counted and logged, nothing crashing; when it is back, the
 * budget is shared again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import { Redis } from 'ioredis';
import winston from 'winston';
import { RedisLimits } from '../../src/cluster/redis';
import { apiRateLimit, publicRateLimit, webhookRateLimit } from '../../src/http/security';
import { createLogger } from '../../src/logging/logger';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `sbtest:${randomBytes(6).toString('hex')}:`;
const TOKEN = 'token-cluster-limits-aaaaaaaa';

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

// Not lazyConnect: a lazily connected ioredis client keeps a jest worker from exiting after quit().
let admin: Redis;
const opened: RedisLimits[] = [];
const servers: http.Server[] = [];

async function limits(url = REDIS_URL, connectWaitMs = 2000, commandTimeoutMs = 500): Promise<RedisLimits> {
  const l = await RedisLimits.connect({ url, prefix: PREFIX, logger, connectWaitMs, commandTimeoutMs });
  opened.push(l);
  return l;
}

/** One "instance": an express app with the limiters given, answering 200 'ok'. */
async function serve(mount: (app: express.Express) => void): Promise<string> {
  const app = express();
  mount(app);
  app.use((_req, res) => {
    res.status(200).send('ok');
  });
  const server = http.createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

async function statuses(url: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(url, { headers, method: 'GET' });
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A private redis-server (so this file can kill it without touching the shared one). */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('Ready to accept connections')) resolve();
    });
  });
  child.stdout!.resume();
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

const once = (emitter: Redis, event: string) => new Promise<void>((resolve) => emitter.once(event, () => resolve()));

beforeAll(async () => {
  admin = new Redis(REDIS_URL);
  await admin.ping();
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  for (const l of opened) await l.close();
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

describe('rate limits shared through Redis', () => {
  it('two instances share one API budget per token, kept under <prefix>rl:api:', async () => {
    const [a, b] = [await limits(), await limits()];
    const apiOf = (l: RedisLimits) => (app: express.Express) =>
      app.use(apiRateLimit({ limit: 5, windowMs: 60_000, apiTokens: [TOKEN], store: l.rateLimitStore('api') }));
    const [urlA, urlB] = [await serve(apiOf(a)), await serve(apiOf(b))];
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect(await statuses(`${urlA}/api/calls`, 3, auth)).toEqual([200, 200, 200]);
    expect(await statuses(`${urlB}/api/calls`, 3, auth)).toEqual([200, 200, 429]);
    expect(await statuses(`${urlA}/api/calls`, 1, auth)).toEqual([429]);
    // Another client (no token: counted per IP) still has its own budget.
    expect(await statuses(`${urlB}/api/calls`, 1)).toEqual([200]);
    const keys = await admin.keys(`${PREFIX}rl:api:*`);
    expect(keys.sort()).toEqual([`${PREFIX}rl:api:ip:127.0.0.1`, expect.stringMatching(/rl:api:token:[0-9a-f]{32}$/)]);
    expect(keys.join()).not.toContain(TOKEN);
    expect(a.guard.fallbacks['rate-limit'] + b.guard.fallbacks['rate-limit']).toBe(0);
  });

  it('webhook and public limiters share theirs too, each under its own name', async () => {
    const [a, b] = [await limits(), await limits()];
    const mount = (l: RedisLimits) => (app: express.Express) => {
      app.use(publicRateLimit(2, 60_000, l.rateLimitStore('public')));
      app.use('/twilio', webhookRateLimit(3, 60_000, l.rateLimitStore('webhook-twilio')));
    };
    const [urlA, urlB] = [await serve(mount(a)), await serve(mount(b))];
    expect(await statuses(`${urlA}/twilio/voice`, 2)).toEqual([200, 200]);
    expect(await statuses(`${urlB}/twilio/voice`, 2)).toEqual([200, 429]);
    expect(await statuses(`${urlA}/health`, 1)).toEqual([200]);
    expect(await statuses(`${urlB}/health`, 2)).toEqual([200, 429]);
    expect(await admin.get(`${PREFIX}rl:webhook-twilio:ip:127.0.0.1`)).toBe('4');
    expect(await admin.get(`${PREFIX}rl:public:ip:127.0.0.1`)).toBe('3');
    // A name is one limiter's: express-rate-limit forbids sharing a store, so does RedisLimits.
    expect(() => a.rateLimitStore('public')).toThrow(/already has a store/);
  });

  it('WebSocket upgrades per IP are limited across instances', async () => {
    const [a, b] = [await limits(), await limits()];
    const [allowA, allowB] = [a.upgradeLimiter({ limit: 4 }), b.upgradeLimiter({ limit: 4 })];
    expect([allowA('203.0.113.7'), allowA('203.0.113.7'), allowA('203.0.113.7')]).toEqual([true, true, true]);
    await allowA.settled();
    // B has not seen this address yet: its first upgrade is the 4th of the budget.
    expect(allowB('203.0.113.7')).toBe(true);
    await allowB.settled();
    expect(allowB('203.0.113.7')).toBe(false);
    expect(allowA('203.0.113.7')).toBe(true); // A's last count seen is 3 (it learns 4 from its next reply)...
    await allowA.settled();
    expect(allowA('203.0.113.7')).toBe(false); // ...and then refuses: 5 let through for a limit of 4.
    // Another address is untouched.
    expect(allowB('198.51.100.1')).toBe(true);
    await allowB.settled();
    const window = Math.floor(Date.now() / 60_000);
    const count = Number(await admin.get(`${PREFIX}rl:upgrade:${window}:ip:203.0.113.7`));
    expect(count).toBe(5);
  });
});

describe('Redis failing', () => {
  it('Redis killed mid-run: webhooks answered within a per-instance budget, counted and logged; shared again once back', async () => {
    const port = await freePort();
    let server = await startRedis(port);
    try {
      const l = await limits(`redis://127.0.0.1:${port}`);
      const url = await serve((app) =>
        app.use('/twilio', webhookRateLimit(3, 60_000, l.rateLimitStore('webhook-twilio'))),
      );
      expect(await statuses(`${url}/twilio/voice`, 2)).toEqual([200, 200]);

      const closed = once(l.client, 'close');
      await stopRedis(server);
      await closed;
      logs.length = 0;
      // The in-memory fallback starts its own count: 3 answered, then this instance's limit applies.
      expect(await statuses(`${url}/twilio/voice`, 4)).toEqual([200, 200, 200, 429]);
      expect(l.guard.fallbacks['rate-limit']).toBeGreaterThanOrEqual(4);
      const logged = logs.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(logged).toContainEqual(
        expect.objectContaining({
          level: 'error',
          message: 'redis unavailable: using the local fallback',
          use: 'rate-limit',
        }),
      );

      const ready = once(l.client, 'ready');
      server = await startRedis(port);
      await ready;
      // A fresh Redis: the shared count starts again (the fallback's count is not carried over).
      expect(await statuses(`${url}/twilio/voice`, 1)).toEqual([200]);
      const check = new Redis(`redis://127.0.0.1:${port}`);
      expect(await check.get(`${PREFIX}rl:webhook-twilio:ip:127.0.0.1`)).toBe('1');
      await check.quit();
    } finally {
      await stopRedis(server);
    }
  });

  it('Redis hanging: a webhook waits at most the command timeout, then the fallback answers at once until it is back', async () => {
    const port = await freePort();
    const server = await startRedis(port);
    const control = new Redis(`redis://127.0.0.1:${port}`);
    try {
      const l = await limits(`redis://127.0.0.1:${port}`, 2000, 1000);
      const url = await serve((app) =>
        app.use('/twilio', webhookRateLimit(10, 60_000, l.rateLimitStore('webhook-twilio'))),
      );
      expect(await statuses(`${url}/twilio/voice`, 1)).toEqual([200]);
      // Redis stops answering every client but this one for 5 s (a stalled server or network).
      await control.call('CLIENT', 'PAUSE', '5000', 'ALL');
      const timed = async () => {
        const started = performance.now();
        const [status] = await statuses(`${url}/twilio/voice`, 1);
        return { status, ms: performance.now() - started };
      };
      const first = await timed();
      expect(first.status).toBe(200);
      // The 1 s command timeout, not rate-limit-redis's retry after it too (2 s).
      expect(first.ms).toBeGreaterThanOrEqual(950);
      expect(first.ms).toBeLessThan(1800);
      const second = await timed();
      expect(second.status).toBe(200);
      expect(second.ms).toBeLessThan(600); // Redis skipped for a second after a timeout
      expect(l.guard.fallbacks['rate-limit']).toBe(2);
    } finally {
      await control.call('CLIENT', 'UNPAUSE');
      await control.quit();
      await stopRedis(server);
    }
  });

  it('Redis not there at start: the app starts, limits per instance, no unhandled rejection, closes cleanly', async () => {
    const port = await freePort();
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const started = Date.now();
      const l = await limits(`redis://127.0.0.1:${port}`, 300);
      expect(Date.now() - started).toBeLessThan(2000);
      const url = await serve((app) => {
        app.use(publicRateLimit(2, 60_000, l.rateLimitStore('public')));
        app.use('/twilio', webhookRateLimit(2, 60_000, l.rateLimitStore('webhook-twilio')));
      });
      expect(await statuses(`${url}/twilio/voice`, 3)).toEqual([200, 200, 429]);
      expect(await statuses(`${url}/health`, 3)).toEqual([200, 200, 429]);
      const allow = l.upgradeLimiter({ limit: 1 });
      expect([allow('192.0.2.1'), allow('192.0.2.1')]).toEqual([true, false]);
      expect(l.guard.fallbacks['rate-limit']).toBeGreaterThanOrEqual(6);
      expect(l.guard.fallbacks['upgrade-limit']).toBe(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});
