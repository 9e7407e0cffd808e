/**
 * The writer thread's CallStore on SQLite: the same methods as CallRepository (src/db/call-repository.ts),
 * with the same results and the same rows on disk, run as prepared statements on better-sqlite3
 * instead of through Prisma.
 *
 * Why: through Prisma every write is ~0.5-2.5 ms of Prisma's own work (a transcript batch 4-7 ms, a
 * call's creation 2.4 ms in a 100-call churn; docs/benchmarks/bridge.md, "The writer thread without
 * Prisma"), and Prisma's client and query compiler are ~35 MB of the writer thread's memory. Here a
 * batch is ~0.3 ms, most of it the commit, and the thread does not load Prisma at all.
 *
 * Kept equal to Prisma by test/integration/sqlite-call-store.test.ts: each method run both ways on
 * the same database and compared, results and stored columns (types included); the column lists
 * (columns.ts) checked against prisma/schema.prisma. PostgreSQL keeps CallRepository.
 *
 * Errors: a value Prisma's validation would refuse is an InvalidRowError (permanent); constraint
 * errors are better-sqlite3's `SQLITE_CONSTRAINT_*`, a lock `SQLITE_BUSY` (src/db/write-errors.ts
 * classifies both as it does Prisma's); an update of a call that does not exist is
 * RecordNotFoundError with Prisma's code for it, P2025.
 */
import Database from 'better-sqlite3';
import type { Analytics, Call, Prisma, Recording } from '../../generated/prisma/client';
import type {
  CallPatch,
  CallStore,
  NewAnalytics,
  NewCall,
  NewCallEvent,
  NewMetadata,
  NewRecording,
  NewTranscript,
} from '../call-repository';
import { prepareSqliteFile } from '../paths';
import { connectionPragmas } from '../sqlite-settings';
import {
  ANALYTICS,
  AUDIT_ENTRY,
  CALL,
  CALL_EVENT,
  CALL_METADATA,
  checkFields,
  columnList,
  decodeRow,
  defaultValue,
  encode,
  InvalidRowError,
  RECORDING,
  TRANSCRIPT,
  type Column,
  type Model,
  type SqlValue,
} from './columns';

export { InvalidRowError } from './columns';

/** An update of a row that does not exist (Prisma's P2025, "Record to update not found"). */
export class RecordNotFoundError extends Error {
  readonly code = 'P2025';
  constructor(message: string) {
    super(message);
    this.name = 'RecordNotFoundError';
  }
}

/** Statements kept prepared (updates are prepared per set of columns; a few shapes in practice). */
const MAX_STATEMENTS = 256;
/** Ids per `IN (...)` (SQLite's default limit on bound parameters is 32766). */
const IN_CHUNK = 500;

type Row = Record<string, unknown>;

const isAutoincrement = (c: Column): boolean =>
  c.default !== undefined && 'fn' in c.default && c.default.fn === 'autoincrement';

/** Thrown inside a group's transaction to roll it back (never leaves group()). */
const ROLL_BACK = Symbol('roll back the group');

export class SqliteCallStore implements CallStore {
  private readonly statements = new Map<string, Database.Statement>();
  /** Writes that failed since the running group began (run() counts them). */
  private failures = 0;

  private constructor(private readonly db: Database.Database) {}

  /** Opens the file with the server's connection settings (src/db/sqlite-settings.ts). */
  static open(file: string, busyTimeoutMs: number): SqliteCallStore {
    prepareSqliteFile(file);
    const db = new Database(file, { timeout: busyTimeoutMs });
    try {
      for (const sql of connectionPragmas(busyTimeoutMs)) db.exec(sql);
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteCallStore(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Group commit: runs the writes `work` starts (this store's methods, called synchronously) in one
   * transaction, so they share one commit. Each write's own transaction becomes a savepoint inside
   * it. Returns true once the group has committed. If a write fails, the writes after it are not
   * started, everything is rolled back and false is returned: the caller then runs each write again
   * on its own, so a failure (a constraint, a lock, a full disk that made SQLite roll back by itself)
   * is reported exactly as it would have been without the group, and only by the write that caused it.
   */
  group(work: (stop: () => boolean) => void): boolean {
    this.failures = 0;
    try {
      this.db.transaction(() => {
        work(() => this.failures > 0);
        if (this.failures > 0) throw ROLL_BACK;
      })();
      return true;
    } catch {
      // ROLL_BACK, or the commit itself failed: better-sqlite3 has rolled back what was still open.
      return false;
    }
  }

  // ---- calls ---------------------------------------------------------------------------------

  create(data: NewCall, metadata?: Omit<NewMetadata, 'callId'>): Promise<Call> {
    return this.run(() => this.db.transaction(() => this.createCall(data, metadata))());
  }

  findOrCreate(data: NewCall, metadata?: Omit<NewMetadata, 'callId'>): Promise<{ call: Call; created: boolean }> {
    return this.run(() =>
      this.db.transaction(() => {
        const existing = data.callSid ? this.callBy('callSid', data.callSid) : null;
        if (existing) return { call: existing, created: false };
        return { call: this.createCall(data, metadata), created: true };
      })(),
    );
  }

  findById(id: string): Promise<Call | null> {
    return this.run(() => this.callBy('id', id));
  }

  findByCallSid(callSid: string): Promise<Call | null> {
    return this.run(() => this.callBy('callSid', callSid));
  }

  update(id: string, data: CallPatch): Promise<Call> {
    return this.run(() =>
      this.db.transaction(() => {
        const { metadata, ...fields } = data as Row;
        checkFields(CALL, fields);
        const now = Date.now();
        const row = this.updateRow(
          CALL,
          'id',
          id,
          'updatedAt' in fields ? fields : { ...fields, updatedAt: new Date(now) },
        );
        if (!row) throw new RecordNotFoundError(`No Call ${id} to update`);
        if (metadata !== undefined) this.metadataUpsert(id, metadata);
        return row as Call;
      })(),
    );
  }

  findOpenCalls(finalStatuses: readonly string[]): Promise<Call[]> {
    return this.run(() => {
      const marks = finalStatuses.map(() => '?').join(', ');
      const sql =
        finalStatuses.length > 0 ? `SELECT * FROM "Call" WHERE "status" NOT IN (${marks})` : 'SELECT * FROM "Call"';
      return (this.db.prepare(sql).all(...finalStatuses) as Row[]).map((r) => decodeRow<Call>(CALL, r));
    });
  }

  existingCallIds(ids: readonly string[]): Promise<Set<string>> {
    return this.run(() => {
      const unique = [...new Set(ids)];
      const found = new Set<string>();
      for (let i = 0; i < unique.length; i += IN_CHUNK) {
        const chunk = unique.slice(i, i + IN_CHUNK);
        const sql = `SELECT "id" FROM "Call" WHERE "id" IN (${chunk.map(() => '?').join(', ')})`;
        for (const r of this.db.prepare(sql).all(...chunk) as { id: string }[]) found.add(r.id);
      }
      return found;
    });
  }

  // ---- rows that belong to a call ------------------------------------------------------------

  insertBatch(transcripts: NewTranscript[], events: NewCallEvent[]): Promise<void> {
    if (transcripts.length === 0 && events.length === 0) return Promise.resolve();
    return this.run(() => {
      const now = Date.now();
      // Checked (and encoded) before the transaction opens: a bad row writes nothing.
      const t = transcripts.map((r) => this.newRow(TRANSCRIPT, r, now));
      const e = events.map((r) => this.newRow(CALL_EVENT, r, now));
      const insertTranscript = this.insertStatement(TRANSCRIPT, false);
      const insertEvent = this.insertStatement(CALL_EVENT, false);
      this.db.transaction(() => {
        for (const values of t) insertTranscript.run(values);
        for (const values of e) insertEvent.run(values);
      })();
    });
  }

  addRecording(data: NewRecording): Promise<Recording> {
    return this.run(() => this.insert<Recording>(RECORDING, data, Date.now()));
  }

  upsertAnalytics(data: NewAnalytics): Promise<Analytics> {
    return this.run(() =>
      this.db.transaction(() => {
        const { callId, ...rest } = data as Row;
        checkFields(ANALYTICS, data);
        if (typeof callId !== 'string') throw new InvalidRowError('Analytics.callId: not a string');
        const updated = this.updateRow(ANALYTICS, 'callId', callId, rest);
        return (updated ?? this.insert(ANALYTICS, data, Date.now())) as Analytics;
      })(),
    );
  }

  mergeMetadataCustom(callId: string, patch: Record<string, Prisma.InputJsonValue>): Promise<void> {
    return this.run(() =>
      this.db.transaction(() => {
        const current = this.stmt('SELECT "custom" FROM "CallMetadata" WHERE "callId" = ?').get(callId) as
          { custom: string | null } | undefined;
        const old = current?.custom ? (JSON.parse(current.custom) as unknown) : null;
        const base = old && typeof old === 'object' && !Array.isArray(old) ? old : {};
        const custom = { ...base, ...patch };
        if (current) this.updateRow(CALL_METADATA, 'callId', callId, { custom });
        else this.insert(CALL_METADATA, { callId, custom }, Date.now());
      })(),
    );
  }

  insertAuditEntries(rows: Prisma.AuditEntryCreateManyInput[]): Promise<void> {
    return this.run(() => {
      const now = Date.now();
      const values = rows.map((r) => this.newRow(AUDIT_ENTRY, r, now));
      const insertEntry = this.insertStatement(AUDIT_ENTRY, false);
      this.db.transaction(() => {
        for (const v of values) insertEntry.run(v);
      })();
    });
  }

  // ---- the rest --------------------------------------------------------------------------------

  ping(): Promise<void> {
    return this.run(() => {
      this.stmt('SELECT 1').get();
    });
  }

  hasCampaignWork(): Promise<boolean> {
    return this.run(() => {
      const running = this.stmt(`SELECT 1 FROM "Campaign" WHERE "status" = 'running' LIMIT 1`).get();
      const unsettled = this.stmt(
        `SELECT 1 FROM "CampaignContact" WHERE "state" IN ('dialling', 'in-call') LIMIT 1`,
      ).get();
      return running !== undefined || unsettled !== undefined;
    });
  }

  // ---- helpers -----------------------------------------------------------------------------------

  /** Runs synchronously; a throw becomes a rejection (as Prisma's errors are). */
  private run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (err) {
      this.failures++;
      return Promise.reject(err as Error);
    }
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      if (this.statements.size >= MAX_STATEMENTS) this.statements.clear();
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private callBy(column: 'id' | 'callSid', value: string): Call | null {
    const row = this.stmt(`SELECT * FROM "Call" WHERE "${column}" = ? LIMIT 1`).get(value) as Row | undefined;
    return row ? decodeRow<Call>(CALL, row) : null;
  }

  private createCall(data: NewCall, metadata: Omit<NewMetadata, 'callId'> | undefined): Call {
    const now = Date.now();
    const call = this.insert<Call>(CALL, data, now);
    if (metadata) this.insert(CALL_METADATA, { ...metadata, callId: call.id }, now);
    return call;
  }

  /** The metadata relation of a call update: only `{ upsert: { create, update } }` (what setLanguage sends). */
  private metadataUpsert(callId: string, op: unknown): void {
    const upsert = (op as { upsert?: { create?: unknown; update?: unknown } } | null)?.upsert;
    if (
      !upsert ||
      Object.keys(op as object).length !== 1 ||
      typeof upsert.create !== 'object' ||
      typeof upsert.update !== 'object'
    ) {
      throw new InvalidRowError('Call.metadata: only { upsert: { create, update } } is supported');
    }
    const exists = this.stmt('SELECT 1 FROM "CallMetadata" WHERE "callId" = ?').get(callId) !== undefined;
    if (exists) this.updateRow(CALL_METADATA, 'callId', callId, upsert.update as Row);
    else this.insert(CALL_METADATA, { ...(upsert.create as Row), callId }, Date.now());
  }

  /** Every column's value of a new row (autoincrement ids left to SQLite), checked and encoded. */
  private newRow(m: Model, data: object, now: number): SqlValue[] {
    checkFields(m, data);
    const row = data as Row;
    const values: SqlValue[] = [];
    for (const c of m.columns) {
      if (isAutoincrement(c)) {
        if (row[c.name] !== undefined) throw new InvalidRowError(`${m.table}.${c.name}: set by the database`);
        continue;
      }
      const v = row[c.name];
      values.push(v === undefined ? defaultValue(m, c, now) : encode(m, c, v));
    }
    return values;
  }

  private insertStatement(m: Model, returning: boolean): Database.Statement {
    const names = m.columns.filter((c) => !isAutoincrement(c)).map((c) => c.name);
    const marks = names.map(() => '?').join(', ');
    return this.stmt(
      `INSERT INTO "${m.table}" (${columnList(names)}) VALUES (${marks})${returning ? ' RETURNING *' : ''}`,
    );
  }

  private insert<T>(m: Model, data: object, now: number): T {
    const values = this.newRow(m, data, now);
    return decodeRow<T>(m, this.insertStatement(m, true).get(values) as Row);
  }

  /** Sets the given columns of the row where `key` = `value`; the updated row, or undefined if there is none. */
  private updateRow(m: Model, key: string, value: string, fields: Row): unknown {
    checkFields(m, fields);
    const names: string[] = [];
    const values: SqlValue[] = [];
    for (const [name, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      const c = m.byName.get(name) as Column;
      if (typeof v === 'object' && v !== null && !(v instanceof Date) && c.kind !== 'json') {
        throw new InvalidRowError(`${m.table}.${name}: only plain values are supported`);
      }
      names.push(name);
      values.push(encode(m, c, v));
    }
    const set = names.length > 0 ? names.map((n) => `"${n}" = ?`).join(', ') : `"${key}" = "${key}"`;
    const row = this.stmt(`UPDATE "${m.table}" SET ${set} WHERE "${key}" = ? RETURNING *`).get(...values, value) as
      Row | undefined;
    return row ? decodeRow(m, row) : undefined;
  }
}
