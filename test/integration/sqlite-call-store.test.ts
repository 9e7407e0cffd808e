/**
 * The writer thread's CallStore on SQLite without Prisma (src/db/sqlite-writes/), on a real migrated
 * database, against CallRepository (Prisma) on the same file: every method's result, the rows it
 * stores (column by column, SQLite storage types included) and its errors must be Prisma's. Its
 * column lists must be the schema's, and the writer thread must not load Prisma at all.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CallRepository, type NewCallEvent, type NewTranscript } from '../../src/db/call-repository';
import type { WriteReply, WriteRequest, WriterStatus } from '../../src/db/db-writer';
import { PROJECT_ROOT, sqliteFilePath } from '../../src/db/migrations';
import { createDb, type Db } from '../../src/db/prisma';
import * as columns from '../../src/db/sqlite-writes/columns';
import { cuid } from '../../src/db/sqlite-writes/cuid';
import { InvalidRowError, SqliteCallStore } from '../../src/db/sqlite-writes/sqlite-call-store';
import { isForeignKeyError, isPermanentWriteError, serializeWriteError } from '../../src/db/write-errors';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

describe('SqliteCallStore (real SQLite, against Prisma)', () => {
  let tmp: TempDir;
  let db: Db;
  let prisma: CallRepository;
  let direct: SqliteCallStore;
  let raw: Database.Database;

  beforeEach(async () => {
    tmp = createTempDatabase();
    db = await createDb(tmp.databaseUrl);
    prisma = new CallRepository(db);
    direct = SqliteCallStore.open(sqliteFilePath(tmp.databaseUrl), 100);
    raw = new Database(sqliteFilePath(tmp.databaseUrl), { readonly: true });
  });
  afterEach(async () => {
    raw.close();
    direct.close();
    await db.$disconnect();
    tmp.cleanup();
  });

  /** A table's rows (where `where`), every column with its SQLite storage type; generated ids and times masked. */
  const stored = (table: string, where: string, ...args: unknown[]): unknown[] => {
    const rows = raw.prepare(`SELECT * FROM "${table}" WHERE ${where} ORDER BY rowid`).all(...args) as Record<
      string,
      unknown
    >[];
    return rows.map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([k, v]) => {
          if (k === 'id' || k === 'callId') return [k, typeof v];
          // Times taken by the writer ("now"): the type must match, the value only roughly.
          if (typeof v === 'number' && v > 1.7e12 && Math.abs(v - Date.now()) < 60_000) return [k, ['number', 'now']];
          return [k, [typeof v, v]];
        }),
      ),
    );
  };
  /** A Prisma result with generated ids and "now" times masked. */
  const masked = (value: unknown): unknown =>
    JSON.parse(
      JSON.stringify(value, (k, v: unknown) => {
        if (k === 'id' || (k === 'callId' && typeof v === 'string')) return 'id';
        if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) && Math.abs(Date.parse(v) - Date.now()) < 60_000)
          return 'now';
        return v;
      }),
    );

  it('has the columns prisma/schema.prisma declares, with their types, nullability and defaults, in order', () => {
    const schema = readFileSync(path.join(PROJECT_ROOT, 'prisma', 'schema.prisma'), 'utf8');
    const kinds: Record<string, columns.Kind> = {
      String: 'string',
      Int: 'int',
      Float: 'float',
      Boolean: 'boolean',
      DateTime: 'date',
      Json: 'json',
    };
    const fromSchema = (table: string): columns.Column[] => {
      const body = new RegExp(`^model ${table} \\{\\n([\\s\\S]*?)\\n\\}`, 'm').exec(schema)?.[1] ?? '';
      const out: columns.Column[] = [];
      for (const line of body.split('\n')) {
        const m = /^\s+(\w+)\s+(\w+)(\?|\[\])?\s*(.*)$/.exec(line.replace(/\/\/.*$/, ''));
        if (!m || !(m[2] in kinds)) continue; // relations, @@ attributes, comments
        const attrs = m[4];
        const def = /@updatedAt/.test(attrs)
          ? { fn: 'updatedAt' }
          : /@default\((cuid|now|autoincrement)\(\)\)/.exec(attrs)?.[1]
            ? { fn: /@default\((\w+)\(\)\)/.exec(attrs)?.[1] }
            : /@default\(("[^"]*"|[\w.]+)\)/.exec(attrs)
              ? { value: JSON.parse(/@default\(("[^"]*"|[\w.]+)\)/.exec(attrs)?.[1] as string) as unknown }
              : undefined;
        out.push({
          name: m[1],
          kind: kinds[m[2]],
          required: m[3] !== '?',
          ...(def ? { default: def } : {}),
        } as columns.Column);
      }
      return out;
    };
    const models = [
      columns.CALL,
      columns.CALL_METADATA,
      columns.TRANSCRIPT,
      columns.CALL_EVENT,
      columns.RECORDING,
      columns.ANALYTICS,
      columns.AUDIT_ENTRY,
    ];
    for (const model of models) {
      expect([model.table, model.columns]).toEqual([model.table, fromSchema(model.table)]);
      const inDb = (raw.prepare(`PRAGMA table_info("${model.table}")`).all() as { name: string }[]).map((c) => c.name);
      // The same columns in the database (a migration may have added one at the end).
      expect([model.table, model.columns.map((c) => c.name).sort()]).toEqual([model.table, inDb.sort()]);
    }
  });

  it('makes ids in the format of Prisma’s cuid(), unique', () => {
    const ids = Array.from({ length: 20_000 }, () => cuid());
    for (const id of ids.slice(0, 100)) expect(id).toMatch(/^c[a-z0-9]{20,32}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('creates and finds calls as Prisma does: results, stored columns, metadata, repeated CallSid', async () => {
    const input = (sid: string) => ({
      callSid: sid,
      from: '+15550001',
      to: '+15550002',
      direction: 'outbound',
      agent: 'sales',
      status: 'ringing',
      provider: 'telnyx',
      answeredAt: new Date('2026-12-04T01:00:00.000Z'),
      notes: null,
    });
    const meta = { region: 'eu-1', language: 'fr', custom: { tier: 'gold', n: [1, 2] } };
    const p = await prisma.create(input('CAp1'), meta);
    const d = await direct.create(input('CAd1'), meta);
    expect(masked({ ...d, callSid: 'x' })).toEqual(masked({ ...p, callSid: 'x' }));
    expect(d.id).toMatch(/^c[a-z0-9]{20,32}$/);
    expect(stored('Call', '"callSid" = ?', 'CAd1')).toEqual(
      stored('Call', '"callSid" = ?', 'CAp1').map((r) => ({ ...(r as object), callSid: ['string', 'CAd1'] })),
    );
    expect(stored('CallMetadata', '"callId" = ?', d.id)).toEqual(stored('CallMetadata', '"callId" = ?', p.id));

    // Defaults only.
    const pd = await prisma.create({});
    const dd = await direct.create({});
    expect(masked(dd)).toEqual(masked(pd));
    expect(stored('Call', 'id = ?', dd.id)).toEqual(stored('Call', 'id = ?', pd.id));

    // Reading any row gives exactly what Prisma gives.
    for (const id of [p.id, d.id, pd.id, dd.id]) expect(await direct.findById(id)).toEqual(await prisma.findById(id));
    expect(await direct.findByCallSid('CAp1')).toEqual(await prisma.findByCallSid('CAp1'));
    expect(await direct.findById('nope')).toBeNull();
    expect(await direct.findByCallSid('nope')).toBeNull();

    // findOrCreate: a repeated CallSid is found, not created again.
    const again = await direct.findOrCreate(input('CAp1'));
    expect(again).toEqual({ call: await prisma.findById(p.id), created: false });
    const fresh = await direct.findOrCreate(input('CAd2'), { region: 'us' });
    expect(fresh.created).toBe(true);
    expect(await db.callMetadata.findUnique({ where: { callId: fresh.call.id } })).toMatchObject({ region: 'us' });

    // A duplicate CallSid through create is a permanent constraint error, as with Prisma.
    const dup = await direct.create(input('CAp1')).catch((e: unknown) => e);
    expect(isPermanentWriteError(serializeWriteError(dup))).toBe(true);
    expect(
      isPermanentWriteError(serializeWriteError(await prisma.create(input('CAp1')).catch((e: unknown) => e))),
    ).toBe(true);
  });

  it('updates calls as Prisma does, metadata upsert included; an unknown call is P2025 both ways', async () => {
    const p = await prisma.create({ callSid: 'CAup', status: 'ringing', notes: 'x' });
    const d = await prisma.create({ callSid: 'CAud', status: 'ringing', notes: 'x' });
    const patch = {
      status: 'completed',
      endedAt: new Date('2026-12-04T01:05:00.000Z'),
      durationMs: 300_000,
      endReason: 'caller-hangup',
      notes: null,
      legalHold: true,
    };
    const up = await prisma.update(p.id, patch);
    const ud = await direct.update(d.id, patch);
    expect(masked({ ...ud, callSid: 'x' })).toEqual(masked({ ...up, callSid: 'x' }));
    expect(ud.updatedAt.getTime()).toBeGreaterThanOrEqual(d.updatedAt.getTime());
    expect(await direct.findById(d.id)).toEqual(await prisma.findById(d.id));

    // setLanguage's nested upsert: creates the metadata row, then updates it.
    const lang = (language: string) => ({ metadata: { upsert: { create: { language }, update: { language } } } });
    await prisma.update(p.id, lang('de'));
    await direct.update(d.id, lang('de'));
    await prisma.update(p.id, lang('es'));
    await direct.update(d.id, lang('es'));
    expect(stored('CallMetadata', '"callId" = ?', d.id)).toEqual(stored('CallMetadata', '"callId" = ?', p.id));
    expect(await db.callMetadata.findUnique({ where: { callId: d.id } })).toMatchObject({ language: 'es' });

    const missingP = serializeWriteError(
      await prisma.update('no-such-call', { status: 'completed' }).catch((e: unknown) => e),
    );
    const missingD = serializeWriteError(
      await direct.update('no-such-call', { status: 'completed' }).catch((e: unknown) => e),
    );
    expect(missingP.code).toBe('P2025');
    expect(missingD.code).toBe('P2025');
    expect(isPermanentWriteError(missingD)).toBe(isPermanentWriteError(missingP));

    // What Prisma's validation refuses is refused, and nothing changes.
    for (const bad of [
      { durationMs: 1.5 },
      { status: 5 },
      { nosuch: 1 },
      { durationMs: { increment: 1 } },
      { metadata: { create: {} } },
    ]) {
      const err = await direct.update(d.id, bad as never).catch((e: unknown) => e);
      expect([bad, err]).toEqual([bad, expect.any(InvalidRowError)]);
    }
    expect(await direct.findById(d.id)).toMatchObject({ status: 'completed', durationMs: 300_000 });
  });

  it('stores transcripts and events as Prisma does (the full-text index sees them)', async () => {
    const p = await prisma.create({ callSid: 'CAtp' });
    const d = await prisma.create({ callSid: 'CAtd' });
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
    await prisma.insertBatch(transcripts(p.id), events(p.id));
    await direct.insertBatch(transcripts(d.id), events(d.id));
    expect(stored('Transcript', '"callId" = ?', d.id)).toEqual(stored('Transcript', '"callId" = ?', p.id));
    expect(stored('CallEvent', '"callId" = ?', d.id)).toEqual(stored('CallEvent', '"callId" = ?', p.id));
    expect(masked(await prisma.transcriptsOf(d.id))).toEqual(masked(await prisma.transcriptsOf(p.id)));
    expect(masked(await prisma.eventsOf(d.id))).toEqual(masked(await prisma.eventsOf(p.id)));
    const hits = raw.prepare(`SELECT rowid FROM "transcript_fts" WHERE "transcript_fts" MATCH 'help'`).all() as {
      rowid: number;
    }[];
    expect(hits).toHaveLength(2);
  });

  it('writes a whole batch or nothing: an invalid row or a call that is gone fails it, as Prisma classifies', async () => {
    const call = await prisma.create({ callSid: 'CAbad' });
    const good: NewTranscript = { callId: call.id, speaker: 'caller', text: 'fine', startMs: 1 };
    const cases: [string, NewTranscript[], NewCallEvent[]][] = [
      ['fractional Int', [good, { callId: call.id, speaker: 'caller', text: 'x', startMs: 1.5 }], []],
      ['Int beyond 32 bits', [good], [{ callId: call.id, type: 't', offsetMs: 2 ** 31 }]],
      ['NaN Float', [good, { callId: call.id, speaker: 'caller', text: 'x', startMs: 1, confidence: NaN }], []],
      ['missing text', [good, { callId: call.id, speaker: 'caller', startMs: 1 } as never], []],
      ['number as text', [good, { callId: call.id, speaker: 'caller', text: 5 as never, startMs: 1 }], []],
      [
        'null boolean',
        [good, { callId: call.id, speaker: 'caller', text: 'x', startMs: 1, interrupted: null as never }],
        [],
      ],
      ['unknown field', [good], [{ callId: call.id, type: 't', bogus: 1 } as never]],
      ['an id', [good], [{ callId: call.id, type: 't', id: 5 }]],
      ['invalid date', [good], [{ callId: call.id, type: 't', at: new Date('nope') }]],
      ['unserialisable JSON', [good], [{ callId: call.id, type: 't', data: { n: BigInt(1) } as never }]],
    ];
    for (const [label, t, e] of cases) {
      const err = await direct.insertBatch(t, e).catch((caught: unknown) => caught);
      expect([label, err]).toEqual([label, expect.any(InvalidRowError)]);
      expect([label, isPermanentWriteError(serializeWriteError(err))]).toEqual([label, true]);
    }
    const orphan = serializeWriteError(
      await direct
        .insertBatch([good, { callId: 'no-such-call', speaker: 'caller', text: 'orphan', startMs: 0 }], [])
        .catch((e: unknown) => e),
    );
    expect(orphan).toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
    expect(isForeignKeyError(orphan)).toBe(true);
    expect(isPermanentWriteError(orphan)).toBe(true);
    expect(raw.prepare('SELECT count(*) AS n FROM "Transcript"').get()).toEqual({ n: 0 });
    expect(raw.prepare('SELECT count(*) AS n FROM "CallEvent"').get()).toEqual({ n: 0 });
  });

  it('adds recordings, upserts analytics and merges metadata as Prisma does', async () => {
    const p = await prisma.create({ callSid: 'CArp' });
    const d = await prisma.create({ callSid: 'CArd' });
    const rec = (callId: string) => ({
      callId,
      path: `rec/${callId}.wav`,
      sampleRateHz: 8000,
      channels: 2,
      durationMs: 61_000,
      sizeBytes: 1_952_044,
    });
    expect(masked(await direct.addRecording(rec(d.id)))).toEqual(
      masked({ ...(await prisma.addRecording(rec(p.id))), path: `rec/${d.id}.wav` }),
    );
    expect(stored('Recording', '"callId" = ?', d.id)).toEqual(
      stored('Recording', '"callId" = ?', p.id).map((r) => ({ ...(r as object), path: ['string', `rec/${d.id}.wav`] })),
    );

    const first = (callId: string) => ({
      callId,
      callerTalkMs: 1200,
      turns: 3,
      latenciesMs: [410, 520],
      sentimentLabel: 'positive',
      sentimentScore: 0.42,
      estimatedCostUsd: 0.0123,
    });
    const second = (callId: string) => ({
      callId,
      turns: 4,
      latencyP50Ms: 455,
      stageLatencies: { stt: { p50: 120 } },
      sentimentScore: null,
    });
    expect(masked(await direct.upsertAnalytics(first(d.id)))).toEqual(
      masked(await prisma.upsertAnalytics(first(p.id))),
    );
    expect(masked(await direct.upsertAnalytics(second(d.id)))).toEqual(
      masked(await prisma.upsertAnalytics(second(p.id))),
    );
    expect(stored('Analytics', '"callId" = ?', d.id)).toEqual(stored('Analytics', '"callId" = ?', p.id));

    for (const [store, id] of [
      [prisma, p.id],
      [direct, d.id],
    ] as const) {
      await store.mergeMetadataCustom(id, { intent: 'billing' });
      await store.mergeMetadataCustom(id, { score: 3, tags: ['a'] });
    }
    expect(stored('CallMetadata', '"callId" = ?', d.id)).toEqual(stored('CallMetadata', '"callId" = ?', p.id));
    const fk = serializeWriteError(await direct.mergeMetadataCustom('no-such-call', { a: 1 }).catch((e: unknown) => e));
    expect(isForeignKeyError(fk)).toBe(true);
  });

  it('answers the start-up and housekeeping questions as Prisma does', async () => {
    await prisma.create({ callSid: 'CAo1', status: 'streaming' });
    await prisma.create({ callSid: 'CAo2', status: 'completed' });
    await prisma.create({ callSid: 'CAo3', status: 'ringing' });
    const finals = ['completed', 'failed', 'busy', 'no-answer', 'canceled', 'interrupted'];
    expect(await direct.findOpenCalls(finals)).toEqual(await prisma.findOpenCalls(finals));
    const ids = (await prisma.findOpenCalls([])).map((c) => c.id);
    const many = [...Array.from({ length: 1200 }, (_, i) => `missing-${i}`), ...ids, ids[0]];
    expect(await direct.existingCallIds(many)).toEqual(await prisma.existingCallIds(many));
    await expect(direct.ping()).resolves.toBeUndefined();

    expect(await direct.hasCampaignWork()).toBe(false);
    await db.campaign.create({ data: { name: 'c', status: 'running', settings: {} } });
    expect(await direct.hasCampaignWork()).toBe(await prisma.hasCampaignWork());
    expect(await direct.hasCampaignWork()).toBe(true);

    const audit = (actor: string) => [
      {
        actor,
        role: 'supervisor',
        action: 'call.read',
        target: 'call-1',
        detail: { fields: ['transcripts'] },
        ip: '10.0.0.1',
      },
      { actor, role: 'admin', action: 'export', at: new Date('2026-12-04T00:00:00.000Z') },
    ];
    await prisma.insertAuditEntries(audit('p'));
    await direct.insertAuditEntries(audit('d'));
    const strip = (rows: unknown[]) => rows.map((r) => ({ ...(r as object), actor: null }));
    expect(strip(stored('AuditEntry', 'actor = ?', 'd'))).toEqual(strip(stored('AuditEntry', 'actor = ?', 'p')));
  });

  it('a database locked by another connection fails a write as transient (retried), then writes once free', async () => {
    const call = await prisma.create({ callSid: 'CAlock' });
    const lock = new Database(sqliteFilePath(tmp.databaseUrl));
    lock.exec('BEGIN IMMEDIATE');
    try {
      const err = serializeWriteError(await direct.update(call.id, { status: 'streaming' }).catch((e: unknown) => e));
      expect(err).toMatchObject({ code: 'SQLITE_BUSY' });
      expect(isPermanentWriteError(err)).toBe(false);
    } finally {
      lock.exec('ROLLBACK');
      lock.close();
    }
    await direct.update(call.id, { status: 'streaming' });
    expect(await prisma.findById(call.id)).toMatchObject({ status: 'streaming' });
  });

  it('the writer thread on SQLite never loads Prisma (and on a write loads nothing of it)', async () => {
    const hook = path.join(tmp.dir, 'loaded-hook.js');
    const out = path.join(tmp.dir, 'loaded.txt');
    writeFileSync(
      hook,
      `const Module = require('node:module'); const fs = require('node:fs'); const load = Module._load;
       Module._load = function (request, parent, isMain) { const r = load.apply(this, arguments);
         try { fs.appendFileSync(${JSON.stringify(out)}, Module._resolveFilename(request, parent, isMain) + '\\n'); } catch {}
         return r; };`,
    );
    const worker = new Worker(path.join(PROJECT_ROOT, 'src', 'db', 'write-worker.ts'), {
      workerData: { databaseUrl: tmp.databaseUrl },
      execArgv: ['--require', require.resolve('tsx/cjs'), '--require', hook],
    });
    const replies: (WriteReply[] | WriterStatus)[] = [];
    worker.on('message', (m: WriteReply[] | WriterStatus) => replies.push(m));
    const until = async (n: number): Promise<void> => {
      const t = Date.now();
      while (replies.length < n) {
        if (Date.now() - t > 20_000) throw new Error('no answer from the writer thread');
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await until(1);
    expect(replies[0]).toEqual({ ready: true });
    const send = (req: WriteRequest) => worker.postMessage([req]);
    send({ id: 1, method: 'findOrCreate', args: [{ callSid: 'CAthread' }, { region: 'x' }] });
    await until(2);
    const created = (replies[1] as WriteReply[])[0] as WriteReply & { ok: true; value: { call: { id: string } } };
    expect(created.ok).toBe(true);
    send({
      id: 2,
      method: 'insertBatch',
      args: [[{ callId: created.value.call.id, speaker: 'caller', text: 'hi', startMs: 0 }], []],
    });
    send({ id: 0, method: 'close' });
    await new Promise((r) => worker.once('exit', r));
    const loaded = readFileSync(out, 'utf8');
    expect(loaded).toContain('better-sqlite3');
    expect(loaded).toMatch(/sqlite-call-store/);
    expect(loaded).not.toMatch(/@prisma|generated[\\/]prisma|src[\\/]db[\\/]prisma\./);
    expect(await prisma.transcriptsOf(created.value.call.id)).toHaveLength(1);
  });
});
