/**
 * The write queue's bounds and dead letter, on a real SQLite database with real faults: rows that
 * violate a foreign key (their call was deleted by another connection), invalid data (NaN), the
 * database locked by another connection, a dead-letter folder that cannot be created.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import express from 'express';
import request from 'supertest';
import { CallManager, type CallManagerOptions } from '../../src/calls/call-manager';
import { CallRepository } from '../../src/db/call-repository';
import { deadLetterFileName, type DeadLetterRecord } from '../../src/db/dead-letter';
import { importDeadLetters } from '../../src/db/dead-letter-import';
import { sqliteFilePath, PROJECT_ROOT } from '../../src/db/migrations';
import { createDb, type Db } from '../../src/db/prisma';
import { EventBus, type AnyBusEvent } from '../../src/events/event-bus';
import { createHealthRouter } from '../../src/http/health';
import { createLogger } from '../../src/logging/logger';
import { Metrics } from '../../src/observability/metrics';
import { eventually } from '../../scripts/lib/bridge-harness';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

const run = promisify(execFile);

function readDeadLetter(dir: string): DeadLetterRecord[] {
  const file = path.join(dir, deadLetterFileName(new Date()));
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as DeadLetterRecord);
}

describe('write queue: bounds and dead letter (real SQLite)', () => {
  let tmp: TempDir;
  let db: Db;
  let bus: EventBus;
  let published: AnyBusEvent[];
  let deadLetterDir: string;
  let managers: CallManager[];
  let lock: Database.Database | undefined;

  const makeManager = (options: Partial<CallManagerOptions> = {}): CallManager => {
    const m = new CallManager({
      repository: new CallRepository(db),
      bus,
      logger: createLogger({ level: 'error', json: true, silent: true }),
      flushIntervalMs: 20,
      maxWriteAttempts: 2,
      deadLetterDir,
      ...options,
    });
    managers.push(m);
    return m;
  };

  /** Another connection holds a write transaction: every write of ours fails with SQLITE_BUSY. */
  const lockDatabase = (): void => {
    lock = new Database(sqliteFilePath(tmp.databaseUrl));
    lock.exec('BEGIN IMMEDIATE');
  };
  const unlockDatabase = (): void => {
    lock?.exec('ROLLBACK');
    lock?.close();
    lock = undefined;
  };
  /** Another connection deletes a call (foreign keys off there): its queued rows now violate the FK. */
  const deleteCallElsewhere = (callId: string): void => {
    const other = new Database(sqliteFilePath(tmp.databaseUrl));
    other.prepare('DELETE FROM Call WHERE id = ?').run(callId);
    other.close();
  };

  beforeEach(async () => {
    tmp = createTempDatabase();
    // A short busy timeout: a locked database fails fast (the app's default is 100 ms).
    db = await createDb(tmp.databaseUrl, { busyTimeoutMs: 20 });
    bus = new EventBus();
    published = [];
    bus.subscribe((e) => published.push(e));
    deadLetterDir = path.join(tmp.dir, 'dead-letter');
    managers = [];
  });

  afterEach(async () => {
    unlockDatabase();
    for (const m of managers) await m.close();
    await db.$disconnect();
    tmp.cleanup();
  });

  it('writes every good row of a batch and dead-letters at once a row that violates a constraint', async () => {
    const manager = makeManager();
    const good = await manager.createCall({ callSid: 'CAgood' });
    const gone = await manager.createCall({ callSid: 'CAgone' });
    deleteCallElsewhere(gone.id);
    manager.addTranscript(good.id, { speaker: 'caller', text: 'before', startMs: 0 });
    manager.addTranscript(gone.id, { speaker: 'caller', text: 'poisoned', startMs: 10 });
    for (let i = 0; i < 20; i++)
      manager.addTranscript(good.id, { speaker: 'agent', text: `after ${i}`, startMs: 100 + i });
    manager.addEvent(good.id, 'dtmf', { digit: '7' });
    await manager.flush();

    // Nothing of the good call is held back by the bad row, and the queue is empty.
    expect(await db.transcript.count({ where: { callId: good.id } })).toBe(21);
    expect(await db.callEvent.count({ where: { callId: good.id, type: 'dtmf' } })).toBe(1);
    expect(manager.queuedRows).toBe(0);
    expect(manager.stats.rowsRejected).toBe(1);
    // Only committed transcripts are published.
    const texts = published.filter((e) => e.type === 'transcript.added').map((e) => e.data.transcript.text);
    expect(texts).toHaveLength(21);
    expect(texts).not.toContain('poisoned');

    // Later writes are not blocked either.
    manager.addTranscript(good.id, { speaker: 'caller', text: 'later', startMs: 500 });
    await manager.flush();
    expect(await db.transcript.count({ where: { callId: good.id } })).toBe(22);

    const report = await manager.close();
    expect(report).toEqual({ rowsLeft: 0, deadLettered: 0, dropped: 0, deadLetteredTotal: 1, droppedTotal: 0 });
    const [record] = readDeadLetter(deadLetterDir);
    expect(record).toMatchObject({
      table: 'transcript',
      reason: 'rejected',
      row: { callId: gone.id, text: 'poisoned', startMs: 10 },
    });
    expect(record.error).toMatch(/P2003|FOREIGN KEY/);
    expect(manager.stats.rowsDeadLettered).toBe(1);
  });

  it('dead-letters invalid data (NaN offset) alone and writes the rest of the batch', async () => {
    const manager = makeManager();
    const call = await manager.createCall({ callSid: 'CAnan' });
    manager.addTranscript(call.id, { speaker: 'caller', text: 'ok 1', startMs: 0 });
    manager.addTranscript(call.id, { speaker: 'caller', text: 'bad', startMs: Number.NaN });
    manager.addTranscript(call.id, { speaker: 'caller', text: 'ok 2', startMs: 20 });
    await manager.flush();
    expect((await db.transcript.findMany({ orderBy: { id: 'asc' } })).map((t) => t.text)).toEqual(['ok 1', 'ok 2']);
    await manager.close();
    expect(readDeadLetter(deadLetterDir)).toEqual([
      expect.objectContaining({ table: 'transcript', reason: 'rejected', error: expect.stringMatching(/startMs/) }),
    ]);
  });

  it('keeps retrying rows while the database is locked, then dead-letters those older than the age bound', async () => {
    const manager = makeManager({ maxPendingAgeMs: 1500, maxRetryDelayMs: 200 });
    const call = await manager.createCall({ callSid: 'CAlocked' });
    lockDatabase();
    manager.addTranscript(call.id, { speaker: 'caller', text: 'old', startMs: 0 });
    manager.addEvent(call.id, 'dtmf', { digit: '1' });
    // A transient failure is retried: the rows stay queued, nothing is dead-lettered yet.
    await eventually(() => manager.stats.writeFailures >= 2, 5000);
    expect(manager.queuedRows).toBe(2);
    expect(manager.stats.rowsDeadLettered).toBe(0);
    // Past the age bound they go to the dead letter.
    await eventually(() => manager.stats.rowsDeadLettered === 2, 10_000);
    expect(manager.queuedRows).toBe(0);
    const records = readDeadLetter(deadLetterDir);
    expect(records.map((r) => [r.table, r.reason])).toEqual([
      ['transcript', 'expired'],
      ['event', 'expired'],
    ]);
    expect(records[0].error).toMatch(/SQLITE_BUSY|locked|timed out/i);
    expect(records[1].row).toMatchObject({ callId: call.id, type: 'dtmf', data: { digit: '1' } });

    // Once the lock is gone, new rows are written at once.
    unlockDatabase();
    manager.addTranscript(call.id, { speaker: 'caller', text: 'new', startMs: 10 });
    await eventually(() => db.transcript.count().then((n) => n === 1), 10_000);
    expect(manager.queuedRows).toBe(0);
  });

  it('bounds the queue: beyond maxPendingRows the oldest rows go to the dead letter, and no row is lost', async () => {
    const manager = makeManager({ maxPendingRows: 100, maxQueuedRows: 50, maxRetryDelayMs: 100 });
    const call = await manager.createCall({ callSid: 'CAbound' });
    lockDatabase();
    for (let i = 0; i < 250; i++) {
      manager.addTranscript(call.id, { speaker: 'caller', text: `row ${i}`, startMs: i });
      expect(manager.queuedRows).toBeLessThanOrEqual(100);
    }
    expect(manager.writeQueueState()).toMatchObject({ maxRows: 100 });
    expect(manager.writeQueueCheck()).toMatchObject({ ok: false, detail: expect.stringMatching(/100-row bound/) });
    unlockDatabase();
    await eventually(async () => manager.queuedRows === 0 && manager.stats.rowsDeadLettered >= 150, 10_000);
    await manager.close();
    const inDb = (await db.transcript.findMany({ orderBy: { startMs: 'asc' } })).map((t) => t.startMs);
    const dead = readDeadLetter(deadLetterDir);
    expect(dead.every((r) => r.reason === 'overflow')).toBe(true);
    const deadStarts = dead.map((r) => r.row.startMs as number);
    // Every row is in exactly one place. (The evicted rows are the oldest of the queue; the batch
    // being written when the bound was hit is not evicted, it is retried.)
    expect(dead).toHaveLength(150);
    expect([...deadStarts, ...inDb].sort((a, b) => a - b)).toEqual([...Array(250).keys()]);
    expect(inDb).toContain(249);
  });

  it('close() with the database locked writes the queued rows to a 0600 dead-letter file and reports them; db:reimport puts them back once', async () => {
    const manager = makeManager();
    const call = await manager.createCall({ callSid: 'CAclose' });
    lockDatabase();
    manager.addTranscript(call.id, { speaker: 'caller', text: 'unsaved 1', startMs: 0, endMs: 900, itemId: 'it1' });
    manager.addTranscript(call.id, { speaker: 'agent', text: 'unsaved 2', startMs: 1000 });
    manager.addEvent(call.id, 'bargein', { atMs: 1200 }, 1200);
    const report = await manager.close();
    expect(report).toEqual({ rowsLeft: 3, deadLettered: 3, dropped: 0, deadLetteredTotal: 3, droppedTotal: 0 });
    const file = path.join(deadLetterDir, deadLetterFileName(new Date()));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readDeadLetter(deadLetterDir).map((r) => r.reason)).toEqual(['shutdown', 'shutdown', 'shutdown']);
    // A row that arrives after close() (nothing would flush it any more) goes straight to the dead letter.
    manager.addEvent(call.id, 'late', {});
    await eventually(() => manager.stats.rowsDeadLettered === 4, 5000);
    expect(readDeadLetter(deadLetterDir)[3]).toMatchObject({
      table: 'event',
      reason: 'shutdown',
      row: { type: 'late' },
    });
    unlockDatabase();

    // One of the rows made it after all (e.g. written by an earlier import that crashed): skipped.
    await db.transcript.create({ data: { callId: call.id, speaker: 'agent', text: 'unsaved 2', startMs: 1000 } });
    // A line cut short (the process killed mid-append) is counted, not fatal.
    appendFileSync(file, '{"v":1,"table":"transcr');
    const first = await importDeadLetters(db, deadLetterDir);
    expect(first).toMatchObject({ rows: 4, imported: 3, skipped: 1, failed: 0, malformed: 1 });
    expect(readdirSync(deadLetterDir)).toEqual([expect.stringMatching(/^writes-\d{8}\.jsonl\.\d+\.imported$/)]);
    const transcripts = await db.transcript.findMany({ where: { callId: call.id }, orderBy: { startMs: 'asc' } });
    expect(transcripts.map((t) => [t.text, t.endMs, t.itemId])).toEqual([
      ['unsaved 1', 900, 'it1'],
      ['unsaved 2', null, null],
    ]);
    const event = await db.callEvent.findFirstOrThrow({ where: { callId: call.id, type: 'bargein' } });
    expect(event).toMatchObject({ offsetMs: 1200, data: { atMs: 1200 } });
    // A second run finds nothing to do.
    expect(await importDeadLetters(db, deadLetterDir)).toMatchObject({ files: [], rows: 0 });
    expect(await db.transcript.count()).toBe(2);
    // A run that crashed after writing the rows left its `.importing` file: the next run imports
    // nothing twice (transcripts and events already present are skipped).
    const [imported] = readdirSync(deadLetterDir);
    copyFileSync(
      path.join(deadLetterDir, imported),
      path.join(deadLetterDir, imported.replace(/\.\d+\.imported$/, '.1.importing')),
    );
    expect(await importDeadLetters(db, deadLetterDir)).toMatchObject({ rows: 4, imported: 0, skipped: 4 });
    expect([await db.transcript.count(), await db.callEvent.count()]).toEqual([2, 2]);
  });

  it('npm run db:reimport: keeps a row that still fails for the next run, imports it once its call exists', async () => {
    const manager = makeManager();
    const call = await manager.createCall({ callSid: 'CAscript' });
    const gone = await manager.createCall({ callSid: 'CAscriptGone' });
    lockDatabase();
    manager.addTranscript(call.id, { speaker: 'caller', text: 'from the script', startMs: 0 });
    manager.addTranscript(gone.id, { speaker: 'caller', text: 'orphan', startMs: 0 });
    expect(await manager.close()).toMatchObject({ deadLettered: 2 });
    unlockDatabase();
    deleteCallElsewhere(gone.id);

    const tsx = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
    const script = path.join(PROJECT_ROOT, 'scripts', 'dead-letter-import.ts');
    const env = { ...process.env, DATABASE_URL: tmp.databaseUrl };
    const failing = await run(tsx, [script], { env, cwd: PROJECT_ROOT }).then(
      () => {
        throw new Error('expected exit code 1');
      },
      (err: { code: number; stdout: string }) => err,
    );
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/total: 2 rows, 1 imported, 0 already present, 1 failed/);
    expect(failing.stdout).toMatch(/P2003/);
    // The failed row is back in the dead letter, marked.
    expect(readDeadLetter(deadLetterDir)).toEqual([
      expect.objectContaining({ reason: 'reimport-failed', row: expect.objectContaining({ text: 'orphan' }) }),
    ]);

    await db.call.create({ data: { id: gone.id, callSid: 'CAscriptGone' } });
    const ok = await run(tsx, [script], { env, cwd: PROJECT_ROOT });
    expect(ok.stdout).toMatch(/total: 1 rows, 1 imported, 0 already present, 0 failed/);
    expect(await importDeadLetters(db, deadLetterDir)).toMatchObject({ files: [], rows: 0 });
    expect((await db.transcript.findMany({ orderBy: { id: 'asc' } })).map((t) => t.text)).toEqual([
      'from the script',
      'orphan',
    ]);
    expect(readdirSync(deadLetterDir).filter((n) => n.endsWith('.imported'))).toHaveLength(2);
  }, 120_000); // tsx takes seconds to start on a loaded machine

  it('close() reports rows it could neither write nor dead-letter (dead-letter folder unusable) as dropped', async () => {
    // A regular file where the dead-letter folder should be: mkdir fails (ENOTDIR/EEXIST), even as root.
    writeFileSync(path.join(tmp.dir, 'blocker'), 'not a folder');
    deadLetterDir = path.join(tmp.dir, 'blocker', 'dead-letter');
    const manager = makeManager();
    const call = await manager.createCall({ callSid: 'CAdrop' });
    lockDatabase();
    manager.addTranscript(call.id, { speaker: 'caller', text: 'lost', startMs: 0 });
    const report = await manager.close();
    expect(report).toMatchObject({ rowsLeft: 1, deadLettered: 0, dropped: 1 });
    expect(manager.writeQueueCheck()).toMatchObject({ ok: false, detail: expect.stringMatching(/1 rows lost/) });
  });

  it('counts the queue and the dead letter on /metrics and /health', async () => {
    const manager = makeManager();
    const metrics = new Metrics();
    metrics.trackWriteQueue(manager);
    const app = express();
    app.use(createHealthRouter({ db, callManager: manager, version: 'test', startedAt: Date.now() }));

    let health = await request(app).get('/health').expect(200);
    expect(health.body.status).toBe('ok');
    expect(health.body.checks.writeQueue).toEqual({ ok: true });

    const call = await manager.createCall({ callSid: 'CAmetrics' });
    deleteCallElsewhere(call.id);
    lockDatabase();
    manager.addTranscript(call.id, { speaker: 'caller', text: 'orphan', startMs: 0 });
    manager.addEvent(call.id, 'dtmf', { digit: '3' });
    // The locked database keeps both rows queued: the depth shows. Once it is unlocked, both rows
    // (their call is gone) are refused for good and go to the dead letter.
    await eventually(() => manager.stats.writeFailures >= 1, 5000);
    let text = await metrics.registry.metrics();
    expect(text).toMatch(/^switchboard_db_write_queue_rows 2$/m);
    expect(text).toMatch(/^switchboard_db_write_queue_max_rows 50000$/m);
    expect(text).toMatch(/^switchboard_db_dead_lettered_rows_total 0$/m);
    unlockDatabase();
    await eventually(() => manager.stats.rowsDeadLettered === 2, 10_000);

    text = await metrics.registry.metrics();
    expect(text).toMatch(/^switchboard_db_write_queue_rows 0$/m);
    expect(text).toMatch(/^switchboard_db_dead_lettered_rows_total 2$/m);
    expect(text).toMatch(/^switchboard_db_dropped_rows_total 0$/m);
    health = await request(app).get('/health').expect(200);
    expect(health.body.status).toBe('degraded');
    expect(health.body.checks.writeQueue).toEqual({
      ok: false,
      detail: expect.stringMatching(/2 rows written to the dead letter since start .*db:reimport/),
    });
    metrics.stop();
  });
});
