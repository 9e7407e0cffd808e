/**
 * The database writer thread (src/db/db-writer.ts) on a real SQLite file: the CallManager's writes run
 * there with the same guarantees as on the main thread (acknowledged = committed, constraint
 * violations to the dead letter, transient failures retried), a dead or stuck writer is replaced
 * without losing a row, close() ends it cleanly, and a write waiting for SQLite's lock no longer
 * freezes the main thread's event loop.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { CallManager } from '../../src/calls/call-manager';
import { CallRepository, type CallStore } from '../../src/db/call-repository';
import { openCallStore } from '../../src/db/call-store';
import { DbWriter, WriterUnavailableError } from '../../src/db/db-writer';
import { PROJECT_ROOT, sqliteFilePath } from '../../src/db/migrations';
import { createDb, type Db } from '../../src/db/prisma';
import { isPermanentWriteError } from '../../src/db/write-errors';
import { EventBus, type AnyBusEvent } from '../../src/events/event-bus';
import { createLogger } from '../../src/logging/logger';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';
import { startTestApp } from '../../scripts/lib/test-app';

const run = promisify(execFile);
const logger = createLogger({ level: 'error', json: true, silent: true });

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The longest gap between ticks of a 5 ms interval while `work` runs: how long the event loop was frozen. */
async function longestLoopGap(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    longest = Math.max(longest, t - last);
    last = t;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(longest, performance.now() - last);
}

describe('database writer thread (real SQLite)', () => {
  let tmp: TempDir;
  let db: Db;
  let writers: DbWriter[];
  let managers: CallManager[];
  let lock: Database.Database | undefined;

  beforeEach(async () => {
    tmp = createTempDatabase();
    db = await createDb(tmp.databaseUrl);
    writers = [];
    managers = [];
    lock = undefined;
  });
  afterEach(async () => {
    if (lock?.inTransaction) lock.exec('ROLLBACK');
    lock?.close();
    for (const m of managers) await m.close();
    for (const w of writers) await w.close();
    await db.$disconnect();
    tmp.cleanup();
  });

  const startWriter = async (options: Parameters<typeof DbWriter.start>[1] = {}): Promise<DbWriter> => {
    const w = await DbWriter.start(tmp.databaseUrl, options);
    writers.push(w);
    return w;
  };
  const makeManager = (store: CallStore, bus = new EventBus()): CallManager => {
    const m = new CallManager({
      repository: store,
      bus,
      logger,
      flushIntervalMs: 20,
      maxWriteAttempts: 3,
      deadLetterDir: path.join(tmp.dir, 'dead-letter'),
    });
    managers.push(m);
    return m;
  };
  const lockDatabase = (): void => {
    lock = new Database(sqliteFilePath(tmp.databaseUrl));
    lock.exec('BEGIN IMMEDIATE');
  };

  it('runs the CallManager writes in the thread: rows committed before transcripts are published', async () => {
    const writer = await startWriter();
    const bus = new EventBus();
    const published: AnyBusEvent[] = [];
    bus.subscribe((e) => published.push(e));
    const manager = makeManager(writer, bus);
    const call = await manager.createCall({
      callSid: 'CAw1',
      from: '+15550001',
      metadata: { region: 'eu-1', custom: { tier: 'gold' } },
    });
    // Dates survive the thread boundary.
    expect(Object.prototype.toString.call(call.startedAt)).toBe('[object Date]');
    await manager.updateCall(call.id, { status: 'streaming', streamSid: 'MZw1' });
    manager.addTranscript(call.id, { speaker: 'caller', text: 'hello writer', startMs: 10 });
    manager.addEvent(call.id, 'dtmf', { digit: '5' }, 120);
    await eventually(() => published.some((e) => e.type === 'transcript.added'), 5000);
    // Published only once committed: another connection sees the row.
    expect(await db.transcript.count({ where: { callId: call.id } })).toBe(1);
    await manager.endCall(call.id, { reason: 'caller-hangup' });
    const row = await db.call.findUnique({ where: { id: call.id }, include: { metadata: true, events: true } });
    expect(row).toMatchObject({ status: 'completed', endReason: 'caller-hangup', streamSid: 'MZw1' });
    expect(row?.metadata).toMatchObject({ region: 'eu-1', custom: { tier: 'gold' } });
    expect(row?.events.map((e) => e.type).sort()).toEqual(['dtmf', 'status.changed']);
    expect(await manager.findByCallSid('CAw1')).toMatchObject({ id: call.id });
    expect(writer.stats.writes).toBeGreaterThan(4);
  });

  it('creates a call in one round trip to the thread, and a repeated CallSid finds the existing call', async () => {
    const writer = await startWriter();
    const manager = makeManager(writer);
    const before = writer.stats.writes;
    const call = await manager.createCall({ callSid: 'CAw1rt', from: '+15550002' });
    expect(writer.stats.writes - before).toBe(1);
    // Another process's (or a restarted one's) webhook for the same CallSid: found, not created twice.
    const again = await makeManager(writer).createCall({ callSid: 'CAw1rt' });
    expect(again.id).toBe(call.id);
    expect(await db.call.count({ where: { callSid: 'CAw1rt' } })).toBe(1);
  });

  it('keeps errors classifiable across the thread: a foreign-key violation is permanent and dead-lettered', async () => {
    const writer = await startWriter();
    const err = await writer
      .insertBatch([{ callId: 'no-such-call', speaker: 'caller', text: 'orphan', startMs: 0 }], [])
      .catch((e: unknown) => e);
    expect(isPermanentWriteError(err)).toBe(true);

    const manager = makeManager(writer);
    const call = await manager.createCall({ callSid: 'CAw2' });
    manager.addTranscript(call.id, { speaker: 'caller', text: 'kept', startMs: 0 });
    manager.addTranscript('no-such-call', { speaker: 'caller', text: 'orphan', startMs: 0 });
    await manager.flush();
    expect(await db.transcript.count({ where: { callId: call.id } })).toBe(1);
    expect(manager.stats).toMatchObject({ rowsRejected: 1 });
    await eventually(() => manager.stats.rowsDeadLettered === 1, 5000);
    const files = readdirSync(path.join(tmp.dir, 'dead-letter'));
    expect(readFileSync(path.join(tmp.dir, 'dead-letter', files[0]), 'utf8')).toContain('orphan');
  });

  it('a locked database is transient: rows stay queued, then are written once the lock is gone', async () => {
    const writer = await startWriter({ busyTimeoutMs: 20 });
    const manager = makeManager(writer);
    const call = await manager.createCall({ callSid: 'CAw3' });
    lockDatabase();
    manager.addTranscript(call.id, { speaker: 'agent', text: 'wait for the lock', startMs: 0 });
    await eventually(() => manager.stats.writeFailures >= 1, 10_000);
    expect(manager.queuedRows).toBe(1);
    lock!.exec('ROLLBACK');
    await eventually(() => manager.queuedRows === 0, 15_000);
    expect(await db.transcript.count({ where: { callId: call.id } })).toBe(1);
    expect(manager.stats.rowsDeadLettered).toBe(0);
  });

  it('a writer thread that dies fails its writes as transient, is replaced, and no row is lost', async () => {
    const exits: string[] = [];
    const writer = await startWriter({ onWorkerExit: (reason) => exits.push(reason) });
    const manager = makeManager(writer);
    const call = await manager.createCall({ callSid: 'CAw4' });
    const first = writer.worker;
    // Killed with a write in flight: it fails as unavailable (not permanent), so it is retried.
    const inFlight = writer.findById(call.id).catch((e: unknown) => e);
    await first.terminate();
    const err = await inFlight;
    if (err instanceof Error) {
      expect(err).toBeInstanceOf(WriterUnavailableError);
      expect(isPermanentWriteError(err)).toBe(false);
    }
    for (let i = 0; i < 5; i++) manager.addTranscript(call.id, { speaker: 'caller', text: `after ${i}`, startMs: i });
    await eventually(() => manager.queuedRows === 0, 15_000);
    expect(writer.worker).not.toBe(first);
    expect(exits).toHaveLength(1);
    expect(writer.stats.workerRestarts).toBe(1);
    expect(await db.transcript.count({ where: { callId: call.id } })).toBe(5);
    expect(manager.stats).toMatchObject({ rowsDeadLettered: 0, rowsDropped: 0 });
  });

  it('a write stuck past the timeout fails as transient and the stuck thread is replaced', async () => {
    const writer = await startWriter({ busyTimeoutMs: 3000, timeoutMs: 300 });
    const call = await writer.create({ callSid: 'CAw5', status: 'initiated' });
    lockDatabase();
    const stuck = writer.update(call.id, { status: 'streaming' }).catch((e: unknown) => e);
    expect(await stuck).toBeInstanceOf(WriterUnavailableError);
    lock!.exec('ROLLBACK');
    await eventually(async () => {
      try {
        return (await writer.update(call.id, { status: 'streaming' })).status === 'streaming';
      } catch {
        return false;
      }
    }, 10_000);
    // At least one: on a busy machine a fresh thread can itself need longer than this short timeout to start.
    expect(writer.stats.workerRestarts).toBeGreaterThanOrEqual(1);
  });

  it('keeps the process alive while it starts and while a write is awaited, not when idle', async () => {
    // A process with nothing else to keep it alive (as main.ts is while the app starts): it must not
    // exit under an awaited start or write, and must exit on its own once the writer is idle.
    const script = `
      const { DbWriter } = require(${JSON.stringify(path.join(PROJECT_ROOT, 'src/db/db-writer.ts'))});
      DbWriter.start(${JSON.stringify(tmp.databaseUrl)})
        .then((w) => { console.log('ready'); return w.create({ callSid: 'CAalive', status: 'ringing' }); })
        .then(() => console.log('written'));`;
    const { stdout } = await run(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
      cwd: PROJECT_ROOT,
      timeout: 30_000,
    });
    expect(stdout.trim().split('\n')).toEqual(['ready', 'written']);
    expect(await db.call.count({ where: { callSid: 'CAalive' } })).toBe(1);
  });

  it('close() lets the writes in flight finish, then refuses new ones', async () => {
    const writer = await startWriter();
    const manager = makeManager(writer);
    const call = await manager.createCall({ callSid: 'CAw6' });
    for (let i = 0; i < 300; i++) manager.addTranscript(call.id, { speaker: 'caller', text: `t${i}`, startMs: i });
    const report = await manager.close();
    expect(report).toMatchObject({ rowsLeft: 0, deadLettered: 0, dropped: 0 });
    const exited = new Promise((r) => writer.worker.once('exit', r));
    await writer.close();
    await exited;
    expect(await db.transcript.count({ where: { callId: call.id } })).toBe(300);
    await expect(writer.findById(call.id)).rejects.toBeInstanceOf(WriterUnavailableError);
    await writer.close(); // idempotent
  });

  it('refuses to start on a database it cannot open, and openCallStore falls back to this thread', async () => {
    // A regular file where a folder should be: the database can be neither created nor opened.
    writeFileSync(path.join(tmp.dir, 'not-a-dir'), 'x');
    const bad = `file:${path.join(tmp.dir, 'not-a-dir', 'db.sqlite')}`;
    await expect(DbWriter.start(bad)).rejects.toThrow();
    const fallbacks: string[] = [];
    const opened = await openCallStore(bad, db, { onFallback: (e) => fallbacks.push(e.message) });
    expect(opened.writer).toBeUndefined();
    expect(opened.store).toBeInstanceOf(CallRepository);
    expect(fallbacks).toHaveLength(1);
    await opened.close();
    const inMemory = await openCallStore('file::memory:', db);
    expect(inMemory.writer).toBeUndefined();
  });

  it('a write waiting for the lock freezes the event loop on the main thread, not with the writer', async () => {
    const WAIT_MS = 1500;
    // On this thread: better-sqlite3 waits for the lock synchronously (busy_timeout), and so does every call's audio.
    const inlineDb = await createDb(tmp.databaseUrl, { busyTimeoutMs: WAIT_MS });
    try {
      const inline = new CallRepository(inlineDb);
      const call = await inline.create({ callSid: 'CAw7', status: 'initiated' });
      lockDatabase();
      const inlineGap = await longestLoopGap(() => inline.update(call.id, { status: 'streaming' }).catch(() => null));
      lock!.exec('ROLLBACK');
      expect(inlineGap).toBeGreaterThan(WAIT_MS * 0.8);

      const writer = await startWriter({ busyTimeoutMs: WAIT_MS });
      lock!.exec('BEGIN IMMEDIATE');
      const writerGap = await longestLoopGap(() => writer.update(call.id, { status: 'streaming' }).catch(() => null));
      lock!.exec('ROLLBACK');
      // The same wait, in the writer thread: the main loop keeps ticking (generous margin for a busy machine).
      expect(writerGap).toBeLessThan(WAIT_MS / 3);
    } finally {
      await inlineDb.$disconnect();
    }
  });
});

describe('the app writes through the writer thread', () => {
  it('creates and ends a call with its rows written by the thread, and ends the thread on close', async () => {
    const app = await startTestApp();
    let exited: Promise<unknown> | undefined;
    try {
      const store = (app.sb.callManager as unknown as { repo: CallStore }).repo;
      expect(store).toBeInstanceOf(DbWriter);
      const writer = store as DbWriter;
      exited = new Promise((r) => writer.worker.once('exit', r));
      const call = await app.sb.callManager.createCall({ callSid: 'CAapp1' });
      app.sb.callManager.addTranscript(call.id, { speaker: 'caller', text: 'through the thread', startMs: 0 });
      await app.sb.callManager.endCall(call.id, { reason: 'caller-hangup' });
      expect(writer.stats.writes).toBeGreaterThanOrEqual(3);
      expect(await app.sb.db.transcript.count({ where: { callId: call.id } })).toBe(1);
    } finally {
      await app.close();
    }
    await exited;
  });
});

describe("the main thread's own database connection", () => {
  it('is opened at most once at start (the campaign dialler recovery), never for calls or /health, and has its settings', async () => {
    const connect = jest.spyOn(PrismaBetterSqlite3.prototype, 'connect');
    const app = await startTestApp();
    try {
      // The campaign dialler's restart recovery (src/campaigns/dialler.ts) reads its contacts once at
      // start on this thread; calls and /health must add nothing to that.
      const atStart = connect.mock.calls.length;
      expect(atStart).toBeLessThanOrEqual(1);
      const call = await app.sb.callManager.createCall({ callSid: 'CAlazy1' });
      await app.sb.callManager.endCall(call.id, { reason: 'caller-hangup' });
      const res = await fetch(`${app.baseUrl}/health`);
      // 200 and not `down`: the database answered (through the writer thread).
      expect(res.status).toBe(200);
      expect(((await res.json()) as { status: string }).status).not.toBe('down');
      // Workers load their own copy of the adapter: this spy counts this thread's connections only.
      expect(connect).toHaveBeenCalledTimes(atStart);
      expect(await app.sb.db.call.count({ where: { id: call.id } })).toBe(1);
      expect(connect).toHaveBeenCalledTimes(1);
      const [fk] = await app.sb.db.$queryRawUnsafe<{ foreign_keys: bigint | number }[]>('PRAGMA foreign_keys');
      expect(Number(fk.foreign_keys)).toBe(1);
    } finally {
      connect.mockRestore();
      await app.close();
    }
  });
});
