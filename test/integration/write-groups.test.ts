/**
 * Group commit in the database writer (src/db/db-writer.ts, src/db/write-worker.ts), on a real SQLite
 * file: the writes asked for in one turn of the main thread's event loop travel in one message and
 * commit in one transaction (seen in the WAL: one commit writes a changed page once, ten commits ten
 * times); a write that fails inside a group fails alone, with the error it would have had on its own,
 * and the others of its group are committed; the group is never half committed.
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { DbWriter } from '../../src/db/db-writer';
import { sqliteFilePath } from '../../src/db/migrations';
import { createDb, type Db } from '../../src/db/prisma';
import { SqliteCallStore } from '../../src/db/sqlite-writes/sqlite-call-store';
import { isPermanentWriteError } from '../../src/db/write-errors';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

describe('group commit in the database writer (real SQLite)', () => {
  let tmp: TempDir;
  let db: Db;
  let writer: DbWriter | undefined;
  let store: SqliteCallStore | undefined;

  beforeEach(async () => {
    tmp = createTempDatabase();
    db = await createDb(tmp.databaseUrl);
  });
  afterEach(async () => {
    await writer?.close();
    writer = undefined;
    store?.close();
    store = undefined;
    await db.$disconnect();
    tmp.cleanup();
  });

  const file = (): string => sqliteFilePath(tmp.databaseUrl);
  /** Frames in the WAL: each commit appends the pages it changed (a WAL far under SQLite's 1,000-page checkpoint). */
  const walFrames = (): number => {
    const conn = new Database(file(), { readonly: true });
    const frame = (conn.pragma('page_size', { simple: true }) as number) + 24;
    conn.close();
    const size = statSync(`${file()}-wal`, { throwIfNoEntry: false })?.size ?? 0;
    return size <= 32 ? 0 : (size - 32) / frame;
  };

  it('the writes of one turn go in one message and one commit; awaited one by one, one each', async () => {
    writer = await DbWriter.start(tmp.databaseUrl);
    const call = await writer.create({ callSid: 'CAgroup' });
    const posts = writer.stats.posts;
    let frames = walFrames();
    const together = await Promise.all(
      Array.from({ length: 10 }, (_, i) => writer!.update(call.id, { durationMs: i + 1 })),
    );
    expect(together.map((c) => c.durationMs)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(writer.stats.posts - posts).toBe(1);
    const grouped = walFrames() - frames;

    frames = walFrames();
    for (let i = 0; i < 10; i++) await writer.update(call.id, { durationMs: 100 + i });
    const alone = walFrames() - frames;
    expect(writer.stats.posts - posts).toBe(11);

    expect(grouped).toBeGreaterThan(0);
    expect(alone).toBeGreaterThanOrEqual(10);
    expect(grouped).toBeLessThanOrEqual(alone / 5);
    expect((await db.call.findUniqueOrThrow({ where: { id: call.id } })).durationMs).toBe(109);
  });

  it('a write that fails inside a group fails alone, as it would on its own; the rest of the group commits', async () => {
    writer = await DbWriter.start(tmp.databaseUrl);
    const call = await writer.create({ callSid: 'CAmixed' });
    const posts = writer.stats.posts;
    const [created, orphan, updated, unknownCall, transcripts] = await Promise.allSettled([
      writer.create({ callSid: 'CAmixed-2' }),
      writer.insertBatch([{ callId: 'no-such-call', speaker: 'caller', text: 'orphan', startMs: 0 }], []),
      writer.update(call.id, { status: 'streaming' }),
      writer.update('no-such-call', { status: 'streaming' }),
      writer.insertBatch([{ callId: call.id, speaker: 'caller', text: 'kept', startMs: 0 }], []),
    ]);
    expect(writer.stats.posts - posts).toBe(1);
    expect(created.status).toBe('fulfilled');
    expect(orphan.status).toBe('rejected');
    expect(isPermanentWriteError((orphan as PromiseRejectedResult).reason)).toBe(true);
    expect(updated).toMatchObject({ status: 'fulfilled', value: { id: call.id, status: 'streaming' } });
    expect(unknownCall.status).toBe('rejected');
    expect((unknownCall as PromiseRejectedResult).reason).toMatchObject({ code: 'P2025' });
    expect(transcripts.status).toBe('fulfilled');

    expect(await db.call.count({ where: { callSid: 'CAmixed-2' } })).toBe(1);
    expect(await db.transcript.findMany({ select: { callId: true, text: true } })).toEqual([
      { callId: call.id, text: 'kept' },
    ]);
  });

  it('a group with a failing write is rolled back whole, and nothing after the failure runs in it', async () => {
    store = SqliteCallStore.open(file(), 100);
    const call = await store.create({ callSid: 'CAstore' });
    const started: string[] = [];
    const outcomes: Promise<unknown>[] = [];
    const committed = store.group((stop) => {
      for (const [name, write] of [
        ['update', () => store!.update(call.id, { status: 'streaming' })],
        ['orphan', () => store!.insertBatch([{ callId: 'nope', speaker: 'caller', text: 'x', startMs: 0 }], [])],
        ['second', () => store!.create({ callSid: 'CAnever' })],
      ] as const) {
        started.push(name);
        outcomes.push(write());
        if (stop()) return;
      }
    });
    for (const o of outcomes) o.catch(() => undefined);
    expect(committed).toBe(false);
    expect(started).toEqual(['update', 'orphan']);
    // Nothing of the group is in the database, not even the write that succeeded before the failure.
    expect((await db.call.findUniqueOrThrow({ where: { id: call.id } })).status).not.toBe('streaming');
    expect(await db.call.count({ where: { callSid: 'CAnever' } })).toBe(0);

    // The same store groups again afterwards.
    expect(store.group(() => void store!.update(call.id, { status: 'completed' }))).toBe(true);
    expect((await db.call.findUniqueOrThrow({ where: { id: call.id } })).status).toBe('completed');
  });

  it('writes asked for just before close() are written before the thread ends', async () => {
    writer = await DbWriter.start(tmp.databaseUrl);
    const created = Array.from({ length: 5 }, (_, i) => writer!.create({ callSid: `CAclose${i}` }));
    const closing = writer.close();
    expect((await Promise.all(created)).map((c) => c.callSid)).toEqual([0, 1, 2, 3, 4].map((i) => `CAclose${i}`));
    await closing;
    expect(await db.call.count({ where: { callSid: { startsWith: 'CAclose' } } })).toBe(5);
  });
});
