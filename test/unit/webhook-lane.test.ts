/**
 * createWebhookLane on a plain node server (real sockets): what it takes and leaves, the order of
 * its guards, and its answers when a route or the limiter fails.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebhookLane, parseForm, type LaneMiddleware, type WebhookRoutes } from '../../src/http/webhook-lane';
import { ApiError } from '../../src/http/errors';
import { createLogger } from '../../src/logging/logger';

interface Served {
  url: string;
  seen: string[];
  errors: string[];
  close(): Promise<void>;
}

async function serve(routes: WebhookRoutes, limiter: LaneMiddleware): Promise<Served> {
  const seen: string[] = [];
  const errors: string[] = [];
  const logger = createLogger({ level: 'error', json: true, silent: true });
  logger.error = ((message: string) => {
    errors.push(message);
    return logger;
  }) as typeof logger.error;
  const lane = createWebhookLane({
    mounts: [{ mount: '/hooks', routes, limiter }],
    headers: [['X-Fixed', 'yes']],
    clientIp: (req) => req.socket.remoteAddress,
    logger,
  });
  const server = http.createServer((req, res) => {
    if (lane(req, res)) return;
    seen.push(`${req.method} ${req.url}`);
    res.statusCode = 404;
    res.end('fallthrough');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    errors,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });

describe('createWebhookLane', () => {
  it('takes only POSTs of its exact paths; runs limiter, parser, credential check, route, in that order', async () => {
    const order: string[] = [];
    const s = await serve(
      {
        authenticate(req) {
          order.push(`auth ${req.body.a}`);
          if (req.headers['x-key'] !== 'k') throw new ApiError('forbidden', 'no');
        },
        post: {
          '/a': (req) => {
            order.push(`route ${req.query.get('q')}`);
            return { contentType: 'text/plain', body: `a=${String(req.body.a)} ip-set` };
          },
        },
      },
      (req, _res, next) => {
        order.push(`limit ${(req as { ip?: string }).ip}`);
        next();
      },
    );
    try {
      const ok = await post(`${s.url}/hooks/a?q=1`, 'a=1&a=2', { 'x-key': 'k' });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-fixed')).toBe('yes');
      expect(await ok.text()).toBe('a=1,2 ip-set');
      expect(order).toEqual(['limit 127.0.0.1', 'auth 1,2', 'route 1']);
      const refused = await post(`${s.url}/hooks/a`, 'a=3');
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({ error: { code: 'forbidden', message: 'no' } });
      expect(order).toHaveLength(5);
      for (const p of ['/hooks/a/', '/hooks/A', '/hooks//a', '/hooks', '/a']) await post(`${s.url}${p}`, '');
      await fetch(`${s.url}/hooks/a`);
      expect(s.seen).toEqual([
        'POST /hooks/a/',
        'POST /hooks/A',
        'POST /hooks//a',
        'POST /hooks',
        'POST /a',
        'GET /hooks/a',
      ]);
    } finally {
      await s.close();
    }
  });

  it('answers a route that throws with a bare 500 JSON (logged) and a limiter that answers with its own', async () => {
    let limit = false;
    const s = await serve(
      {
        post: {
          '/boom': () => {
            throw new Error('secret detail at /work/x.ts:1');
          },
          '/async-boom': async () => Promise.reject(new Error('later')),
        },
      },
      (_req, res, next) => {
        if (!limit) return next();
        res.statusCode = 429;
        res.end('slow down');
      },
    );
    try {
      for (const p of ['/hooks/boom', '/hooks/async-boom']) {
        const res = await post(`${s.url}${p}`, 'x=1');
        expect(res.status).toBe(500);
        expect(await res.text()).toBe('{"error":{"code":"internal","message":"internal server error"}}');
      }
      expect(s.errors).toEqual(['unhandled error in request', 'unhandled error in request']);
      limit = true;
      const limited = await post(`${s.url}/hooks/boom`, 'x=1');
      expect(limited.status).toBe(429);
      expect(await limited.text()).toBe('slow down');
    } finally {
      await s.close();
    }
  });

  it('answers a limiter failure (its store down) with 500, not a hang', async () => {
    const s = await serve({ post: { '/a': () => ({ contentType: 'text/plain', body: 'a' }) } }, (_req, _res, next) =>
      next(new Error('store unreachable')),
    );
    try {
      const res = await post(`${s.url}/hooks/a`, '');
      expect(res.status).toBe(500);
    } finally {
      await s.close();
    }
  });

  it('refuses route paths that are not exact paths', () => {
    const make = (p: string) => () =>
      createWebhookLane({
        mounts: [{ mount: '/x', routes: { post: { [p]: () => ({ contentType: 't', body: '' }) } }, limiter: () => 0 }],
        headers: [],
        clientIp: () => undefined,
        logger: createLogger({ level: 'error', json: true, silent: true }),
      });
    expect(make('a')).toThrow(/invalid/);
    expect(make('/a/')).toThrow(/invalid/);
    expect(make('/a')).not.toThrow();
  });
});

describe('parseForm', () => {
  it('keeps repeated fields in order, `__proto__` as a plain field, and stops past the field limit', () => {
    const fields = parseForm(Buffer.from('a=1&b=x+y&a=2&a=3&__proto__=p&c=%E2%82%AC'), 10) as Record<string, unknown>;
    expect(Object.keys(fields)).toEqual(['a', 'b', '__proto__', 'c']);
    expect([fields.a, fields.b, fields['__proto__'], fields.c]).toEqual([['1', '2', '3'], 'x y', 'p', '€']);
    expect(Object.getPrototypeOf(fields)).toBeNull();
    expect(({} as Record<string, unknown>).p).toBeUndefined();
    expect(parseForm(Buffer.from('a=1&b=2&c=3'), 2)).toBeNull();
    expect(parseForm(Buffer.from(''), 2)).toEqual(Object.create(null));
  });
});
