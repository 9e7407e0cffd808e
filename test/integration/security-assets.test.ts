/**
 * Dashboard assets and HTTPS-only headers, over real HTTP:
 * - /assets/vendor/<name> looks names up in a Map: Object.prototype's members (`__proto__`,
 *   `constructor`, `toString`, ...) are a JSON 404, never a 500 with a stack in the log (issue 10.9);
 * - Strict-Transport-Security is sent only when PUBLIC_URL is https:// or the request is secure
 *   (X-Forwarded-Proto honoured only with TRUST_PROXY), never over plain-HTTP localhost (issue 11.8).
 */
import http from 'node:http';
import { Writable } from 'node:stream';
import winston from 'winston';
import request from 'supertest';
import { createApp, type SwitchboardApp } from '../../src/app';
import { testConfig } from '../../src/config';
import { createLogger } from '../../src/logging/logger';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

interface Running {
  sb: SwitchboardApp;
  baseUrl: string;
  port: number;
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
  const config = testConfig({ DATABASE_URL: tmp.databaseUrl, RECORDING_STORAGE_PATH: tmp.recordingsDir, ...env });
  const sb = await createApp(config, { logger });
  const port = await sb.listen(0, '127.0.0.1');
  return { sb, baseUrl: `http://127.0.0.1:${port}`, port, tmp, logs };
}

async function stop(r: Running): Promise<void> {
  await r.sb.close();
  r.tmp.cleanup();
}

/** Raw GET: the path goes on the wire exactly as written. */
function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

const PROTOTYPE_NAMES = [
  '__proto__',
  'constructor',
  'toString',
  'toLocaleString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  '%5F%5Fproto%5F%5F',
  'constructor.prototype',
  'prototype',
];

describe('/assets/vendor names', () => {
  let r: Running;
  beforeAll(async () => {
    r = await start({});
  });
  afterAll(() => stop(r));

  it.each(PROTOTYPE_NAMES)('answers /assets/vendor/%s with a JSON 404, no stack', async (name) => {
    const res = await get(r.port, `/assets/vendor/${name}`);
    expect(res.status).toBe(404);
    expect(res.type).toMatch(/application\/json/);
    expect(JSON.parse(res.body).error.code).toBe('not_found');
    expect(res.body).not.toMatch(/TypeError|at .*\.(js|ts):\d+/);
  });

  it('logs no error for any of them, and still serves the real vendored files', async () => {
    for (const name of PROTOTYPE_NAMES) await get(r.port, `/assets/vendor/${name}`);
    const errors = r.logs.filter((l) => /"level":"error"/.test(l));
    expect(errors).toEqual([]);
    const chart = await request(r.baseUrl).get('/assets/vendor/chart.umd.min.js').expect(200);
    expect(chart.headers['content-type']).toMatch(/javascript/);
    expect(chart.headers['cache-control']).toMatch(/max-age=86400/);
  });

  it('answers traversal attempts under /assets with a JSON 404', async () => {
    for (const p of [
      '/assets/vendor/..%2F..%2Fpackage.json',
      '/assets/..%2F..%2F..%2Fpackage.json',
      '/assets/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/assets/vendor/chart.umd.min.js%00.map',
    ]) {
      const res = await get(r.port, p);
      expect({ p, status: res.status }).toEqual({ p, status: 404 });
      expect(res.body).not.toContain('"dependencies"');
    }
  });
});

describe('Strict-Transport-Security only over HTTPS', () => {
  const paths = ['/', '/health', '/api/calls', '/api/docs/', '/assets/config.json', '/nope'];

  it('is not sent when PUBLIC_URL is plain http (localhost), even with X-Forwarded-Proto when no proxy is trusted', async () => {
    const r = await start({ PUBLIC_URL: 'http://localhost:3000' });
    try {
      for (const p of paths) {
        const res = await request(r.baseUrl).get(p);
        expect({ p, hsts: res.headers['strict-transport-security'] }).toEqual({ p, hsts: undefined });
        expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      }
      const spoofed = await request(r.baseUrl).get('/health').set('X-Forwarded-Proto', 'https');
      expect(spoofed.headers['strict-transport-security']).toBeUndefined();
    } finally {
      await stop(r);
    }
  });

  it('is sent on every response when PUBLIC_URL is https', async () => {
    const r = await start({ PUBLIC_URL: 'https://calls.example.test' });
    try {
      for (const p of paths) {
        const res = await request(r.baseUrl).get(p);
        expect({ p, hsts: res.headers['strict-transport-security'] }).toEqual({
          p,
          hsts: 'max-age=31536000; includeSubDomains',
        });
      }
    } finally {
      await stop(r);
    }
  });

  it('is sent for a request a trusted proxy says came over https', async () => {
    const r = await start({ PUBLIC_URL: 'http://localhost:3000', TRUST_PROXY: 'loopback' });
    try {
      const secure = await request(r.baseUrl).get('/health').set('X-Forwarded-Proto', 'https');
      expect(secure.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      const plain = await request(r.baseUrl).get('/health').set('X-Forwarded-Proto', 'http');
      expect(plain.headers['strict-transport-security']).toBeUndefined();
    } finally {
      await stop(r);
    }
  });
});
