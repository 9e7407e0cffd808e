import request from 'supertest';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { readSqliteSettings, SQLITE_BUSY_TIMEOUT_MS } from '../../src/db/prisma';

describe('GET /health', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('reports ok with a reachable database, no active calls and the version', async () => {
    const res = await request(t.baseUrl).get('/health').expect(200);
    expect(res.body).toMatchObject({ status: 'ok', database: { reachable: true }, activeCalls: 0, version: '0.1.0' });
    expect(typeof res.body.uptimeSec).toBe('number');
  });

  it('runs SQLite in WAL mode with synchronous=NORMAL and a busy timeout', async () => {
    expect(await readSqliteSettings(t.sb.db)).toEqual({
      journalMode: 'wal',
      synchronous: 1,
      busyTimeoutMs: SQLITE_BUSY_TIMEOUT_MS,
    });
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await request(t.baseUrl).get('/nope').expect(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: 'no route for GET /nope' } });
  });
});
