/**
 * The writer thread's direct SQLite path for transcripts and events (src/db/sqlite-batch-insert.ts),
 * on a real migrated database: it must store exactly what Prisma's createMany stores (compared column
 * by column, types included, and read back through Prisma), keep a batch all-or-nothing, refuse what
 * Prisma's validation refuses, and fail in ways src/db/write-errors.ts classifies as before.
 */
import Database from 'better-sqlite3';
import { CallRepository, type NewCallEvent, type NewTranscript } from '../../src/db/call-repository';
import { sqliteFilePath } from '../../src/db/migrations';
import { createDb, type Db } from '../../src/db/prisma';
import { InvalidRowError, SqliteBatchInsert } from '../../src/db/sqlite-batch-insert';
import { isForeignKeyError, isPermanentWriteError, serializeWriteError } from '../../src/db/write-errors';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

describe('SqliteBatchInsert (real SQLite, against Prisma)', () => {
  let tmp: TempDir;
  let db: Db;
  let direct: SqliteBatchInsert;
  let raw: Database.Database;

  beforeEach(async () => {
    tmp = createTempDatabase();
    db = await createDb(tmp.databaseUrl);
    direct = new SqliteBatchInsert(sqliteFilePath(tmp.databaseUrl), 100);
    raw = new Database(sqliteFilePath(tmp.databaseUrl), { readonly: true });
  });
  afterEach(async () => {
    raw.close();
    direct.close();
    await db.$disconnect();
    tmp.cleanup();
  });

  const transcripts = (callId: string): NewTranscript[] => [
    {
      callId,
      speaker: 'caller',
      text: 'Hello, I need help with my order',
      startMs: 120,
      endMs: 2480,
      confidence: 0.87,
      itemId: 'item_a',
    },
    {
      callId,
      speaker: 'agent',
      text: 'Sure — what is the ordér number? 🙂',
      unheardText: ' I can also check by email.',
      interrupted: true,
      startMs: 2600,
      endMs: null,
      confidence: null,
      itemId: null,
      createdAt: new Date('2026-12-04T01:02:03.456Z'),
    },
    { callId, speaker: 'caller', text: '', startMs: 0 },
  ];
  const events = (callId: string): NewCallEvent[] => [
    {
      callId,
      type: 'barge-in',
      at: new Date('2026-12-04T01:02:04.000Z'),
      offsetMs: 2950,
      data: { heardMs: 350, words: ['a', 'b'], nested: { ok: true, n: null } },
    },
    { callId, type: 'status.changed', offsetMs: null, data: { from: 'ringing', to: 'streaming' } },
    { callId, type: 'ai.reconnected' },
    { callId, type: 'dtmf', offsetMs: -5, data: 'x"y\\z' as never },
  ];

  /** Every column of a call's rows with its SQLite storage type (ids left out), in insertion order. */
  const stored = (table: 'Transcript' | 'CallEvent', callId: string): unknown[] =>
    (
      raw.prepare(`SELECT * FROM "${table}" WHERE "callId" = ? ORDER BY "id"`).all(callId) as Record<string, unknown>[]
    ).map(({ id: _id, callId: _callId, ...row }) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, [typeof v, v]])),
    );

  it('stores the same columns, with the same types, as Prisma, and Prisma reads them back the same', async () => {
    const viaPrisma = await db.call.create({ data: { callSid: 'CAbp' } });
    const viaDirect = await db.call.create({ data: { callSid: 'CAbd' } });
    await new CallRepository(db).insertBatch(transcripts(viaPrisma.id), events(viaPrisma.id));
    await new CallRepository(db, direct).insertBatch(transcripts(viaDirect.id), events(viaDirect.id));

    const defaultsCleared = (rows: Record<string, unknown>[], key: string): unknown[] =>
      rows.map(({ id: _id, callId: _callId, ...rest }) => ({
        ...rest,
        [key]: rest[key] instanceof Date ? 'date' : rest[key],
      }));
    const transcriptsOf = (id: string) => db.transcript.findMany({ where: { callId: id }, orderBy: { id: 'asc' } });
    const eventsOf = (id: string) => db.callEvent.findMany({ where: { callId: id }, orderBy: { id: 'asc' } });
    const [tp, td, ep, ed] = await Promise.all([
      transcriptsOf(viaPrisma.id),
      transcriptsOf(viaDirect.id),
      eventsOf(viaPrisma.id),
      eventsOf(viaDirect.id),
    ]);
    expect(td).toHaveLength(3);
    expect(ed).toHaveLength(4);
    // Explicit dates are kept to the millisecond; defaults are "now" either way.
    expect(td[1].createdAt.toISOString()).toBe('2026-12-04T01:02:03.456Z');
    expect(ed[0].at.toISOString()).toBe('2026-12-04T01:02:04.000Z');
    for (const row of [td[0], td[2]]) expect(Math.abs(row.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(defaultsCleared(td as never, 'createdAt')).toEqual(defaultsCleared(tp as never, 'createdAt'));
    expect(defaultsCleared(ed as never, 'at')).toEqual(defaultsCleared(ep as never, 'at'));
    expect(ed[0].data).toEqual({ heardMs: 350, words: ['a', 'b'], nested: { ok: true, n: null } });
    expect(ed[2].data).toBeNull();

    // And on disk: every column, storage type included (dates as Unix ms integers, booleans 0/1, JSON text).
    const nowLike = (rows: unknown[]): unknown[] =>
      JSON.parse(JSON.stringify(rows).replace(/\["number",1[0-9]{12}\]/g, '"ms"'));
    expect(nowLike(stored('Transcript', viaDirect.id))).toEqual(nowLike(stored('Transcript', viaPrisma.id)));
    expect(nowLike(stored('CallEvent', viaDirect.id))).toEqual(nowLike(stored('CallEvent', viaPrisma.id)));

    // The full-text index's trigger saw the rows (GET /api/calls?q= finds them).
    const hits = raw.prepare(`SELECT rowid FROM "transcript_fts" WHERE "transcript_fts" MATCH 'help'`).all() as {
      rowid: number;
    }[];
    expect(hits.map((h) => h.rowid).sort()).toEqual([tp[0].id, td[0].id].sort());
  });

  it('writes a whole batch or nothing: one invalid row fails it with a permanent error before any write', async () => {
    const call = await db.call.create({ data: { callSid: 'CAbad' } });
    const good = transcripts(call.id);
    const cases: [string, NewTranscript[], NewCallEvent[]][] = [
      ['fractional Int', [...good, { callId: call.id, speaker: 'caller', text: 'x', startMs: 1.5 }], []],
      ['Int beyond 32 bits', good, [{ callId: call.id, type: 't', offsetMs: 2 ** 31 }]],
      ['NaN Float', [{ callId: call.id, speaker: 'caller', text: 'x', startMs: 1, confidence: NaN }], []],
      ['missing text', [{ callId: call.id, speaker: 'caller', startMs: 1 } as never], []],
      ['number as text', [{ callId: call.id, speaker: 'caller', text: 5 as never, startMs: 1 }], []],
      ['null boolean', [{ callId: call.id, speaker: 'caller', text: 'x', startMs: 1, interrupted: null as never }], []],
      ['unknown field', good, [{ callId: call.id, type: 't', bogus: 1 } as never]],
      ['invalid date', good, [{ callId: call.id, type: 't', at: new Date('nope') }]],
      ['unserialisable JSON', good, [{ callId: call.id, type: 't', data: { n: BigInt(1) } as never }]],
    ];
    for (const [label, t, e] of cases) {
      const err = (() => {
        try {
          direct.insert(t, e);
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect([label, err]).toEqual([label, expect.any(InvalidRowError)]);
      // As it reaches the main thread: still permanent (dead letter, not retried forever).
      expect([label, isPermanentWriteError(serializeWriteError(err))]).toEqual([label, true]);
    }
    expect(raw.prepare('SELECT count(*) AS n FROM "Transcript"').get()).toEqual({ n: 0 });
    expect(raw.prepare('SELECT count(*) AS n FROM "CallEvent"').get()).toEqual({ n: 0 });
  });

  it('a transcript of a call that is gone is a foreign-key error, and rolls back the rows before it', async () => {
    const call = await db.call.create({ data: { callSid: 'CAfk' } });
    const err = await new CallRepository(db, direct)
      .insertBatch(
        [...transcripts(call.id), { callId: 'no-such-call', speaker: 'caller', text: 'orphan', startMs: 0 }],
        events(call.id),
      )
      .catch((e: unknown) => e);
    const crossed = serializeWriteError(err);
    expect(crossed).toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
    expect(isForeignKeyError(crossed)).toBe(true);
    expect(isPermanentWriteError(crossed)).toBe(true);
    expect(await db.transcript.count()).toBe(0);
    expect(await db.callEvent.count()).toBe(0);
  });

  it('a database locked by another connection fails the batch as transient (retried), then writes once free', async () => {
    const call = await db.call.create({ data: { callSid: 'CAlock' } });
    const lock = new Database(sqliteFilePath(tmp.databaseUrl));
    lock.exec('BEGIN IMMEDIATE');
    try {
      const err = await new CallRepository(db, direct).insertBatch(transcripts(call.id), []).catch((e: unknown) => e);
      expect(serializeWriteError(err)).toMatchObject({ code: 'SQLITE_BUSY' });
      expect(isPermanentWriteError(serializeWriteError(err))).toBe(false);
    } finally {
      lock.exec('ROLLBACK');
      lock.close();
    }
    await new CallRepository(db, direct).insertBatch(transcripts(call.id), []);
    expect(await db.transcript.count({ where: { callId: call.id } })).toBe(3);
  });
});
