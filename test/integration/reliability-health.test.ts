/**
 * /health degraded states from real faults: the recordings folder replaced by a file (writes fail
 * with ENOTDIR, whoever the process runs as), a blocked event loop, and draining.
 * (AI failures: reliability-ai-faults.test.ts; failing database writes: reliability-db-faults.test.ts.)
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import request from 'supertest';
import { EventLoopWatch } from '../../src/http/health';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';

function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: this is the fault
  }
}

describe('/health degraded states', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Probes uncached: each request sees the fault made just before it (the cache has its own test).
    t = await startTestApp({ HEALTH_CACHE_MS: '0' });
  });
  afterAll(() => t.close());

  it('reports a recordings folder that cannot be written, and recovers when it can', async () => {
    expect((await request(t.baseUrl).get('/health').expect(200)).body.checks.recordings).toEqual({ ok: true });
    rmSync(t.sb.recordingsDir, { recursive: true, force: true });
    writeFileSync(t.sb.recordingsDir, 'not a folder');
    try {
      const res = await request(t.baseUrl).get('/health').expect(200);
      expect(res.body.status).toBe('degraded');
      expect(res.body.checks.recordings).toEqual({
        ok: false,
        detail: 'recordings folder is not writable (ENOTDIR)',
      });
    } finally {
      rmSync(t.sb.recordingsDir, { force: true });
      mkdirSync(t.sb.recordingsDir, { recursive: true });
    }
    expect((await request(t.baseUrl).get('/health').expect(200)).body.checks.recordings).toEqual({ ok: true });
  });

  it('says draining with 503 once the server stops taking calls', async () => {
    await t.sb.bridge.drain(0);
    const res = await request(t.baseUrl).get('/health').expect(503);
    expect(res.body.status).toBe('draining');
  });
});

describe('event-loop watch', () => {
  it('reports a p99 above the limit after the loop was blocked repeatedly, and nothing while it was idle', async () => {
    const watch = new EventLoopWatch(1000);
    try {
      await new Promise((r) => setTimeout(r, 1100));
      // Idle: no stall of ours (the machine's own load can still delay a timer, hence no fixed bound here).
      const idleP99 = watch.p99Ms();
      // Within one 1 s window: several 250 ms stalls.
      const started = Date.now();
      while (Date.now() - started < 1000) {
        blockEventLoop(250);
        await new Promise((r) => setTimeout(r, 25));
      }
      // Reported for the rest of the window after the one that held the stalls.
      await new Promise((r) => setTimeout(r, 600));
      const stalledP99 = watch.p99Ms();
      expect(stalledP99).toBeGreaterThan(200);
      expect(stalledP99).toBeGreaterThan(idleP99);
    } finally {
      watch.stop();
    }
  });
});
