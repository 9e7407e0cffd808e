/**
 * The writer thread's most frequent write, transcripts and timeline events, straight through
 * better-sqlite3 on SQLite: two prepared INSERTs in one transaction.
 *
 * Why: through Prisma each batch is an interactive transaction plus one query per chunk, ~0.5 ms of
 * Prisma's own work per query. In a 100-call churn (docs/benchmarks/bridge.md, "The writer thread's
 * transcript batches") batches of ~8 transcripts and 2 events took 4-7 ms each and were nearly half
 * of the writer thread's CPU; here the same batch takes ~0.3 ms (most of it the commit).
 *
 * It writes exactly what Prisma would (test/integration/sqlite-batch-insert.test.ts compares rows
 * written both ways, read back through Prisma): dates as Unix milliseconds (src/db/prisma.ts's
 * `timestampFormat`), booleans as 0/1, Json as its JSON text, `@default(now())` filled in here. The
 * rows are checked first as Prisma's validation would (types, 32-bit Int columns, no unknown fields):
 * a bad row fails the whole batch with InvalidRowError (a permanent error, src/db/write-errors.ts),
 * and nothing of it is written. Constraint errors are better-sqlite3's (`SQLITE_CONSTRAINT_*` codes,
 * which write-errors.ts classifies as Prisma's own).
 *
 * Its own connection to the file, with the write connection's settings but a small page cache: it
 * only appends. The writer thread runs one write at a time, so it never waits for the Prisma one.
 */
import Database from 'better-sqlite3';
import type { NewCallEvent, NewTranscript } from './call-repository';

/** A row Prisma would refuse (wrong type, out of range, unknown field). Permanent: retrying cannot help. */
export class InvalidRowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRowError';
  }
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

type Row = Record<string, unknown>;

function fail(table: string, field: string, why: string): never {
  throw new InvalidRowError(`${table}.${field}: ${why}`);
}

function str(table: string, row: Row, field: string, required: boolean): string | null {
  const v = row[field];
  if (v === undefined || v === null) {
    if (required) fail(table, field, 'missing');
    return null;
  }
  if (typeof v !== 'string') fail(table, field, 'not a string');
  return v;
}

function int(table: string, row: Row, field: string, required: boolean): number | null {
  const v = row[field];
  if (v === undefined || v === null) {
    if (required) fail(table, field, 'missing');
    return null;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
    fail(table, field, 'not a 32-bit integer');
  }
  return v;
}

function float(table: string, row: Row, field: string): number | null {
  const v = row[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(table, field, 'not a finite number');
  return v;
}

function bool(table: string, row: Row, field: string, fallback: boolean): number {
  const v = row[field];
  if (v === undefined) return fallback ? 1 : 0;
  if (typeof v !== 'boolean') fail(table, field, 'not a boolean');
  return v ? 1 : 0;
}

/** A DateTime column: a Date or an ISO string, as Prisma accepts; the default is now. */
function date(table: string, row: Row, field: string, now: number): number {
  const v = row[field];
  if (v === undefined) return now;
  const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) fail(table, field, 'not a date');
  return ms;
}

/** A Json column: undefined or null is NULL (as Prisma stores an absent value); anything else its JSON. */
function json(table: string, row: Row, field: string): string | null {
  const v = row[field];
  if (v === undefined || v === null) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    text = undefined;
  }
  if (text === undefined) fail(table, field, 'not JSON');
  return text;
}

function onlyFields(table: string, row: Row, fields: ReadonlySet<string>): void {
  if (typeof row !== 'object' || row === null) fail(table, '(row)', 'not an object');
  for (const key of Object.keys(row)) if (!fields.has(key)) fail(table, key, 'unknown field');
}

const TRANSCRIPT_FIELDS = new Set([
  'callId',
  'speaker',
  'text',
  'unheardText',
  'interrupted',
  'confidence',
  'startMs',
  'endMs',
  'itemId',
  'createdAt',
]);
const EVENT_FIELDS = new Set(['callId', 'type', 'at', 'offsetMs', 'data']);

type TranscriptValues = [
  string,
  string,
  string,
  string | null,
  number,
  number | null,
  number,
  number | null,
  string | null,
  number,
];
type EventValues = [string, string, number, number | null, string | null];

function transcriptValues(row: NewTranscript, now: number): TranscriptValues {
  const r = row as unknown as Row;
  const t = 'Transcript';
  onlyFields(t, r, TRANSCRIPT_FIELDS);
  return [
    str(t, r, 'callId', true) as string,
    str(t, r, 'speaker', true) as string,
    str(t, r, 'text', true) as string,
    str(t, r, 'unheardText', false),
    bool(t, r, 'interrupted', false),
    float(t, r, 'confidence'),
    int(t, r, 'startMs', true) as number,
    int(t, r, 'endMs', false),
    str(t, r, 'itemId', false),
    date(t, r, 'createdAt', now),
  ];
}

function eventValues(row: NewCallEvent, now: number): EventValues {
  const r = row as unknown as Row;
  const t = 'CallEvent';
  onlyFields(t, r, EVENT_FIELDS);
  return [
    str(t, r, 'callId', true) as string,
    str(t, r, 'type', true) as string,
    date(t, r, 'at', now),
    int(t, r, 'offsetMs', false),
    json(t, r, 'data'),
  ];
}

export class SqliteBatchInsert {
  private readonly db: Database.Database;
  private readonly insertAll: (transcripts: TranscriptValues[], events: EventValues[]) => void;

  constructor(file: string, busyTimeoutMs: number) {
    this.db = new Database(file, { timeout: busyTimeoutMs });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    const transcript = this.db.prepare(
      'INSERT INTO "Transcript" ("callId", "speaker", "text", "unheardText", "interrupted", "confidence", "startMs", "endMs", "itemId", "createdAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const event = this.db.prepare(
      'INSERT INTO "CallEvent" ("callId", "type", "at", "offsetMs", "data") VALUES (?, ?, ?, ?, ?)',
    );
    this.insertAll = this.db.transaction((transcripts: TranscriptValues[], events: EventValues[]) => {
      for (const v of transcripts) transcript.run(v);
      for (const v of events) event.run(v);
    });
  }

  /** All rows in one transaction, or none (a bad row throws InvalidRowError before anything is written). */
  insert(transcripts: readonly NewTranscript[], events: readonly NewCallEvent[]): void {
    if (transcripts.length === 0 && events.length === 0) return;
    const now = Date.now();
    const t = transcripts.map((row) => transcriptValues(row, now));
    const e = events.map((row) => eventValues(row, now));
    this.insertAll(t, e);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
