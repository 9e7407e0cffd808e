/**
 * The persistence write path on both databases (issue 16): the CallManager's writes (call rows,
 * batched transcripts and timeline events, analytics, recordings) through the writer thread and on
 * the main thread (a 50-call burst; scripts/db-burst.ts times a 100-call one),
 * erasure and retention (erased words gone from the search index too) and the append-only audit.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../../scripts/lib/test-db';
import { CallManager } from '../../src/calls/call-manager';
import { openCallStore, type OpenedCallStore } from '../../src/db/call-store';
import { listCalls } from '../../src/db/call-queries';
import { dialectOf } from '../../src/db/dialect';
import { createDb, type Db } from '../../src/db/prisma';
import { EventBus } from '../../src/events/event-bus';
import { createLogger } from '../../src/logging/logger';
import { AuditLog } from '../../src/privacy/audit';
import { CallRepository } from '../../src/db/call-repository';
import { CallErasure } from '../../src/privacy/erasure';
import { buildPrivacyPolicy } from '../../src/privacy/policy';
import { RetentionJob } from '../../src/privacy/retention';

const logger = createLogger({ level: 'error', json: false, silent: true });
/** Calls of the test's burst (scripts/db-burst.ts times 100). */
const BURST_CALLS = 50;
const TURNS = 10;
const EVENTS = 3;

describe.each(DATABASE_KINDS)('writes on %s', (kind) => {
  let database: TestDatabase;
  let db: Db;
  const opened: Array<{ store: OpenedCallStore; manager: CallManager }> = [];

  async function manager(inThread: boolean): Promise<CallManager> {
    const store = await openCallStore(database.databaseUrl, db, { inThread });
    const cm = new CallManager({ repository: store.store, bus: new EventBus(100), logger });
    opened.push({ store, manager: cm });
    return cm;
  }

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    db = await createDb(database.databaseUrl);
  }, 60_000);
  afterAll(async () => {
    for (const { store, manager: cm } of opened) {
      await cm.close();
      await store.close();
    }
    await db?.$disconnect();
    await database?.cleanup();
  }, 60_000);

  /** `count` calls at once, each with 10 turns and 3 events in batches, ended and analysed (scripts/db-burst.ts times it). */
  async function burst(cm: CallManager, tag: string, count: number): Promise<void> {
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const call = await cm.createCall({ from: `+1555${tag}${String(i).padStart(4, '0')}`, agent: tag });
        for (let turn = 0; turn < TURNS; turn++)
          cm.addTranscript(call.id, {
            speaker: turn % 2 ? 'agent' : 'caller',
            text: `${tag} turn ${turn}`,
            startMs: turn * 1000,
          });
        for (let e = 0; e < EVENTS; e++) cm.addEvent(call.id, 'dtmf', { digit: String(e) }, e * 100);
        await cm.endCall(call.id, { reason: 'caller-hangup', status: 'completed' });
        await cm.saveAnalytics({ callId: call.id, turns: TURNS, latencyP50Ms: 300 + i });
      }),
    );
    await cm.flush();
  }

  async function expectBurstStored(tag: string, count: number): Promise<void> {
    const calls = await db.call.findMany({ where: { agent: tag }, select: { id: true, status: true } });
    expect(calls).toHaveLength(count);
    expect(new Set(calls.map((c) => c.status))).toEqual(new Set(['completed']));
    const callIds = calls.map((c) => c.id);
    expect(await db.transcript.count({ where: { callId: { in: callIds } } })).toBe(count * TURNS);
    expect(await db.callEvent.count({ where: { callId: { in: callIds }, type: 'dtmf' } })).toBe(count * EVENTS);
    expect(await db.analytics.count({ where: { callId: { in: callIds } } })).toBe(count);
  }

  it('stores a 50-call burst through the writer thread, and a smaller one on the main thread', async () => {
    expect(dialectOf(db)).toBe(kind);
    const threaded = await manager(false);
    expect(opened[opened.length - 1].store.writer).toBeDefined();
    await burst(threaded, 'wt', BURST_CALLS);
    await expectBurstStored('wt', BURST_CALLS);
    const inline = await manager(true);
    expect(opened[opened.length - 1].store.writer).toBeUndefined();
    await burst(inline, 'in', 10);
    await expectBurstStored('in', 10);
  }, 60_000);

  it('keeps transcripts in speaking order, recordings and metadata, and refuses rows of a missing call', async () => {
    const cm = await manager(false);
    const call = await cm.createCall({ from: '+15550001111', agent: 'order', metadata: { language: 'fr' } });
    cm.addTranscript(call.id, { speaker: 'agent', text: 'second', startMs: 2000 });
    cm.addTranscript(call.id, { speaker: 'caller', text: 'first', startMs: 1000, confidence: 0.5 });
    await cm.addRecording({
      callId: call.id,
      path: 'x.wav',
      sampleRateHz: 8000,
      channels: 2,
      durationMs: 10,
      sizeBytes: 44,
    });
    await cm.endCall(call.id, { reason: 'caller-hangup', status: 'completed' });
    const stored = await db.call.findUniqueOrThrow({
      where: { id: call.id },
      include: { transcripts: { orderBy: { startMs: 'asc' } }, recordings: true, metadata: true },
    });
    expect(stored.transcripts.map((t) => [t.text, t.confidence])).toEqual([
      ['first', 0.5],
      ['second', null],
    ]);
    expect(stored.recordings).toHaveLength(1);
    expect(stored.metadata?.language).toBe('fr');
    expect(stored.endedAt).toBeInstanceOf(Date);
    // A transcript of a call that does not exist is a permanent error: it does not block the queue.
    cm.addTranscript('cnotacall0000000000000000', { speaker: 'caller', text: 'orphan', startMs: 0 });
    cm.addTranscript(call.id, { speaker: 'caller', text: 'after the orphan', startMs: 3000 });
    await cm.flush();
    expect(await db.transcript.count({ where: { callId: call.id } })).toBe(3);
  }, 30_000);

  it('erases a call: its rows go, a tombstone stays, and its words are no longer found', async () => {
    const cm = await manager(false);
    const call = await cm.createCall({ from: '+15550002222', to: '+15550003333', agent: 'erase' });
    cm.addTranscript(call.id, { speaker: 'caller', text: 'my secret passphrase is zanzibar', startMs: 0 });
    await cm.endCall(call.id, { reason: 'caller-hangup', status: 'completed' });
    expect((await listCalls(db, { q: 'zanzibar' }, { limit: 10, offset: 0 })).total).toBe(1);
    const erasure = new CallErasure({ db, recordingsDir: database.recordingsDir, logger, isActive: () => false });
    expect(await erasure.eraseCall(call.id)).toEqual({ status: 'erased', files: 0 });
    const tomb = await db.call.findUniqueOrThrow({ where: { id: call.id } });
    expect(tomb).toMatchObject({ from: null, to: null });
    expect(tomb.erasedAt).toBeInstanceOf(Date);
    expect(await db.transcript.count({ where: { callId: call.id } })).toBe(0);
    expect((await listCalls(db, { q: 'zanzibar' }, { limit: 10, offset: 0 })).total).toBe(0);
    if (kind === 'postgres') {
      const [{ n }] = await db.$queryRawUnsafe<{ n: bigint }[]>(
        `SELECT count(*) AS n FROM "Transcript" WHERE "searchVector" @@ to_tsquery('switchboard_search', 'zanzibar')`,
      );
      expect(Number(n)).toBe(0);
    } else {
      const rows = await db.$queryRawUnsafe<unknown[]>(
        `SELECT rowid FROM "transcript_fts" WHERE "transcript_fts" MATCH 'zanzibar'`,
      );
      expect(rows).toEqual([]);
    }
    expect(await erasure.eraseCall(call.id)).toEqual({ status: 'already_erased' });
  }, 30_000);

  it('retention deletes old transcripts and recordings (files too) and leaves held calls alone', async () => {
    const old = new Date(Date.now() - 100 * 86_400_000);
    const seed = async (name: string, legalHold = false) => {
      const rel = `${name}.wav`;
      mkdirSync(database.recordingsDir, { recursive: true });
      writeFileSync(path.join(database.recordingsDir, rel), 'RIFF');
      return db.call.create({
        data: {
          agent: 'retention',
          startedAt: old,
          endedAt: old,
          status: 'completed',
          legalHold,
          transcripts: { create: [{ speaker: 'caller', text: `retained words of ${name}`, startMs: 0 }] },
          recordings: { create: [{ path: rel, sampleRateHz: 8000, channels: 2, durationMs: 1, sizeBytes: 4 }] },
        },
      });
    };
    const gone = await seed('gone');
    const held = await seed('held', true);
    const job = new RetentionJob({
      db,
      policy: buildPrivacyPolicy({ default: { retention: { recordingsDays: 30, transcriptsDays: 30 } } }),
      recordingsDir: database.recordingsDir,
      logger,
      isActive: () => false,
    });
    const report = await job.runOnce();
    expect(report).toMatchObject({ recordings: 1, transcripts: 1 });
    expect(await db.transcript.count({ where: { callId: gone.id } })).toBe(0);
    expect(await db.transcript.count({ where: { callId: held.id } })).toBe(1);
    expect(existsSync(path.join(database.recordingsDir, 'gone.wav'))).toBe(false);
    expect(existsSync(path.join(database.recordingsDir, 'held.wav'))).toBe(true);
    const found = await listCalls(db, { q: 'retained' }, { limit: 10, offset: 0 });
    expect(found.items.map((c) => c.id)).toEqual([held.id]);
  }, 30_000);

  it('keeps the audit append-only', async () => {
    const audit = new AuditLog(new CallRepository(db), logger);
    await audit.recordNow({ actor: 'ops', role: 'admin', action: 'read', target: 'c1' });
    expect(await db.auditEntry.count()).toBe(1);
    await expect(db.$executeRawUnsafe('DELETE FROM "AuditEntry"')).rejects.toThrow(/append-only/);
    await expect(db.$executeRawUnsafe(`UPDATE "AuditEntry" SET "actor" = 'x'`)).rejects.toThrow(/append-only/);
    expect(await db.auditEntry.count()).toBe(1);
  });
});
