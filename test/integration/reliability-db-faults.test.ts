/**
 * A real database fault during a call: a second connection holds a write transaction (the database
 * is locked) far beyond the busy timeout. The call goes on (the caller keeps talking and hearing),
 * /health reports the failing writes, and once the lock is gone every queued row is written.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import request from 'supertest';
import { createApp, type SwitchboardApp } from '../../src/app';
import { testConfig } from '../../src/config';
import { createDb } from '../../src/db/prisma';
import { importDeadLetters } from '../../src/db/dead-letter-import';
import { sqliteFilePath } from '../../src/db/migrations';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { placeCall } from '../../src/simulators/twilio-caller';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';
import { eventually } from '../../scripts/lib/bridge-harness';

const AUTH = 'dbfault-test-twilio-token-000001';
const PUBLIC_URL = 'https://switchboard.example.test';
const GREETING = 'Hello, database fault line.';

describe('database locked by another connection mid-call', () => {
  let ai: LocalRealtimeServer;
  let tmp: TempDir;
  let sb: SwitchboardApp;
  let baseUrl: string;

  beforeAll(async () => {
    ai = await LocalRealtimeServer.start({ replies: [GREETING], ttsEngine: 'tone' });
    tmp = createTempDatabase();
    const config = testConfig({
      DATABASE_URL: tmp.databaseUrl,
      RECORDING_STORAGE_PATH: tmp.recordingsDir,
      TWILIO_AUTH_TOKEN: AUTH,
      PUBLIC_URL,
      OPENAI_REALTIME_URL: ai.url,
    });
    sb = await createApp(config, { db: await createDb(tmp.databaseUrl, { busyTimeoutMs: 50 }) });
    baseUrl = `http://127.0.0.1:${await sb.listen(0, '127.0.0.1')}`;
  });
  afterAll(async () => {
    await sb.close();
    await ai.close();
    tmp.cleanup();
  });

  it('retries the writes, never drops the call, reports it on /health, and loses no row', async () => {
    const handle = placeCall({
      baseUrl,
      publicUrl: PUBLIC_URL,
      authToken: AUTH,
      callSid: 'CAdbfault01',
      ttsEngine: 'tone',
      script: [{ untilAgentSilentMs: 300 }, { silenceMs: 60_000 }],
    });
    await eventually(() => sb.db.transcript.count().then((n) => n === 1), 15_000);

    const lock = new Database(sqliteFilePath(tmp.databaseUrl));
    lock.exec('BEGIN IMMEDIATE');
    let released = false;
    try {
      handle.pressDigits('1');
      // A batch has failed after all its retries (rows kept), and /health says so.
      await eventually(() => sb.callManager.stats.writeFailures >= 1, 20_000);
      const health = await request(baseUrl).get('/health').expect(200);
      expect(health.body.status).toBe('degraded');
      expect(health.body.checks.databaseWrites).toMatchObject({ ok: false });
      expect(health.body.checks.databaseWrites.detail).toMatch(/rows queued/);
      // Kept queued and retried, not dead-lettered: /metrics shows the queue, /health no dead letter.
      expect(health.body.checks.writeQueue).toEqual({ ok: true });
      const metrics = (await request(baseUrl).get('/metrics').expect(200)).text;
      expect(Number(/^switchboard_db_write_queue_rows (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
      expect(metrics).toMatch(/^switchboard_db_dead_lettered_rows_total 0$/m);
      // The call is still up and audio still flows.
      const before = handle.nowMs;
      await new Promise((r) => setTimeout(r, 300));
      expect(handle.nowMs).toBeGreaterThan(before);
      expect(sb.bridge.size).toBe(1);
      lock.exec('ROLLBACK');
      released = true;
    } finally {
      if (!released) lock.exec('ROLLBACK');
      lock.close();
    }
    handle.pressDigits('2');
    await eventually(
      () => sb.callManager.queuedRows === 0 && sb.callManager.lastWriteOkAt > sb.callManager.lastWriteFailedAt,
      10_000,
    );
    const summary = await handle.hangup();
    expect(summary.ok).toBe(true);
    expect(summary.closedBy).toBe('caller');

    const call = await eventually(() =>
      sb.db.call.findFirst({
        where: { callSid: 'CAdbfault01', endedAt: { not: null } },
        include: { events: true, transcripts: true, recordings: true },
      }),
    );
    expect(call.endReason).toBe('caller-hangup');
    expect(call.events.filter((e) => e.type === 'dtmf').map((e) => (e.data as { digit: string }).digit)).toEqual([
      '1',
      '2',
    ]);
    expect(call.transcripts.map((t) => t.text)).toEqual([GREETING]);
    expect(call.recordings).toHaveLength(1);
    expect(sb.callManager.stats.writeRetries).toBeGreaterThan(0);
    const health = await request(baseUrl).get('/health').expect(200);
    expect(health.body.checks.databaseWrites).toEqual({ ok: true });
    expect(health.body.checks.writeQueue).toEqual({ ok: true });
    expect(sb.callManager.stats).toMatchObject({ rowsDeadLettered: 0, rowsDropped: 0, rowsRejected: 0 });
    expect(existsSync(path.join(tmp.dir, 'dead-letter'))).toBe(false);
  });
});

describe('server shut down while the database is locked', () => {
  it('writes the rows it cannot flush to the dead letter next to the database; db:reimport restores them', async () => {
    const tmp = createTempDatabase();
    const config = testConfig({ DATABASE_URL: tmp.databaseUrl, RECORDING_STORAGE_PATH: tmp.recordingsDir });
    const sb = await createApp(config, {
      db: await createDb(tmp.databaseUrl, { busyTimeoutMs: 50 }),
      realtimeUrl: 'ws://127.0.0.1:9',
    });
    const lock = new Database(sqliteFilePath(tmp.databaseUrl));
    try {
      const call = await sb.callManager.createCall({ callSid: 'CAshutlock' });
      lock.exec('BEGIN IMMEDIATE');
      sb.callManager.addTranscript(call.id, { speaker: 'caller', text: 'said just before shutdown', startMs: 0 });
      sb.callManager.addEvent(call.id, 'dtmf', { digit: '9' });
      await sb.close();
      // Before the fix these rows were dropped without a word.
      expect(sb.callManager.stats.rowsDeadLettered).toBe(2);
      const dir = path.join(tmp.dir, 'dead-letter');
      const files = readdirSync(dir);
      expect(files).toEqual([expect.stringMatching(/^writes-\d{8}\.jsonl$/)]);
      expect(statSync(path.join(dir, files[0])).mode & 0o777).toBe(0o600);
      lock.exec('ROLLBACK');

      const db = await createDb(tmp.databaseUrl);
      try {
        expect(await importDeadLetters(db, dir)).toMatchObject({ rows: 2, imported: 2, failed: 0 });
        expect(await db.transcript.findFirst({ where: { callId: call.id } })).toMatchObject({
          text: 'said just before shutdown',
        });
        expect(await db.callEvent.count({ where: { callId: call.id, type: 'dtmf' } })).toBe(1);
      } finally {
        await db.$disconnect();
      }
    } finally {
      if (lock.inTransaction) lock.exec('ROLLBACK');
      lock.close();
      tmp.cleanup();
    }
  }, 60_000);
});
