/**
 * The columns of the tables the writer thread writes, as prisma/schema.prisma declares them, and how
 * a value crosses between JavaScript and SQLite exactly as Prisma's better-sqlite3 adapter does it
 * (src/db/prisma.ts: dates as Unix milliseconds; booleans 0/1; Json as its JSON text).
 * test/integration/sqlite-call-store.test.ts checks these lists against the schema, so a schema
 * change that is not made here fails a test.
 *
 * Values are checked as Prisma's validation checks them (type, 32-bit Int, required, no unknown
 * field): a bad value is an InvalidRowError (permanent, src/db/write-errors.ts), thrown before
 * anything is written.
 */
import { cuid } from './cuid';

export type Kind = 'string' | 'int' | 'float' | 'boolean' | 'date' | 'json';
/** A default Prisma fills in: a generated id, the query's time, the update time, or a literal. */
export type Default =
  { fn: 'cuid' } | { fn: 'now' } | { fn: 'updatedAt' } | { fn: 'autoincrement' } | { value: string | number | boolean };

export interface Column {
  name: string;
  kind: Kind;
  /** Not null in the schema (no `?`). */
  required: boolean;
  default?: Default;
}

export interface Model {
  table: string;
  columns: readonly Column[];
  byName: ReadonlyMap<string, Column>;
}

const CUID: Default = { fn: 'cuid' };
const NOW: Default = { fn: 'now' };
const AUTO: Default = { fn: 'autoincrement' };
const lit = (value: string | number | boolean): Default => ({ value });
const req = (name: string, kind: Kind, def?: Default): Column => ({
  name,
  kind,
  required: true,
  ...(def ? { default: def } : {}),
});
const opt = (name: string, kind: Kind): Column => ({ name, kind, required: false });

function model(table: string, columns: Column[]): Model {
  return { table, columns, byName: new Map(columns.map((c) => [c.name, c])) };
}

export const CALL = model('Call', [
  req('id', 'string', CUID),
  opt('callSid', 'string'),
  opt('streamSid', 'string'),
  opt('accountSid', 'string'),
  opt('from', 'string'),
  opt('to', 'string'),
  req('direction', 'string', lit('inbound')),
  req('agent', 'string', lit('default')),
  req('status', 'string', lit('initiated')),
  req('startedAt', 'date', NOW),
  opt('answeredAt', 'date'),
  opt('endedAt', 'date'),
  opt('durationMs', 'int'),
  opt('endReason', 'string'),
  opt('notes', 'string'),
  req('createdAt', 'date', NOW),
  req('updatedAt', 'date', { fn: 'updatedAt' }),
  req('provider', 'string', lit('twilio')),
  opt('erasedAt', 'date'),
  req('legalHold', 'boolean', lit(false)),
]);

export const CALL_METADATA = model('CallMetadata', [
  req('id', 'string', CUID),
  req('callId', 'string'),
  opt('language', 'string'),
  opt('region', 'string'),
  opt('device', 'string'),
  opt('networkQuality', 'string'),
  opt('custom', 'json'),
]);

export const TRANSCRIPT = model('Transcript', [
  req('id', 'int', AUTO),
  req('callId', 'string'),
  req('speaker', 'string'),
  req('text', 'string'),
  opt('unheardText', 'string'),
  req('interrupted', 'boolean', lit(false)),
  opt('confidence', 'float'),
  req('startMs', 'int'),
  opt('endMs', 'int'),
  opt('itemId', 'string'),
  req('createdAt', 'date', NOW),
]);

export const CALL_EVENT = model('CallEvent', [
  req('id', 'int', AUTO),
  req('callId', 'string'),
  req('type', 'string'),
  req('at', 'date', NOW),
  opt('offsetMs', 'int'),
  opt('data', 'json'),
]);

export const RECORDING = model('Recording', [
  req('id', 'string', CUID),
  req('callId', 'string'),
  req('path', 'string'),
  req('container', 'string', lit('wav')),
  req('codec', 'string', lit('pcm_s16le')),
  req('sampleRateHz', 'int'),
  req('channels', 'int'),
  req('durationMs', 'int'),
  req('sizeBytes', 'int'),
  req('createdAt', 'date', NOW),
]);

export const ANALYTICS = model('Analytics', [
  req('id', 'string', CUID),
  req('callId', 'string'),
  req('callerTalkMs', 'int', lit(0)),
  req('agentTalkMs', 'int', lit(0)),
  req('silenceMs', 'int', lit(0)),
  req('turns', 'int', lit(0)),
  req('interruptions', 'int', lit(0)),
  opt('latencyP50Ms', 'int'),
  opt('latencyP95Ms', 'int'),
  opt('latencyMaxMs', 'int'),
  opt('latenciesMs', 'json'),
  opt('stageLatencies', 'json'),
  opt('sentimentLabel', 'string'),
  opt('sentimentScore', 'float'),
  opt('sentimentSource', 'string'),
  req('inputTokens', 'int', lit(0)),
  req('outputTokens', 'int', lit(0)),
  req('inputAudioTokens', 'int', lit(0)),
  req('outputAudioTokens', 'int', lit(0)),
  req('inputTextTokens', 'int', lit(0)),
  req('outputTextTokens', 'int', lit(0)),
  req('cachedTokens', 'int', lit(0)),
  req('estimatedCostUsd', 'float', lit(0)),
  req('createdAt', 'date', NOW),
]);

export const AUDIT_ENTRY = model('AuditEntry', [
  req('id', 'int', AUTO),
  req('at', 'date', NOW),
  req('actor', 'string'),
  req('role', 'string'),
  req('action', 'string'),
  opt('target', 'string'),
  opt('detail', 'json'),
  opt('ip', 'string'),
]);

/** A row Prisma would refuse (wrong type, out of range, unknown field). Permanent: retrying cannot help. */
export class InvalidRowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRowError';
  }
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

export type SqlValue = string | number | null;

/** One value for SQLite; `null` for an absent optional value. Throws InvalidRowError. */
export function encode(m: Model, c: Column, v: unknown): SqlValue {
  const where = `${m.table}.${c.name}`;
  if (v === undefined || v === null) {
    if (c.required) throw new InvalidRowError(`${where}: missing`);
    return null;
  }
  switch (c.kind) {
    case 'string':
      if (typeof v !== 'string') throw new InvalidRowError(`${where}: not a string`);
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
        throw new InvalidRowError(`${where}: not a 32-bit integer`);
      }
      return v;
    case 'float':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidRowError(`${where}: not a finite number`);
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') throw new InvalidRowError(`${where}: not a boolean`);
      return v ? 1 : 0;
    case 'date': {
      const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
      if (!Number.isFinite(ms)) throw new InvalidRowError(`${where}: not a date`);
      return ms;
    }
    case 'json': {
      let text: string | undefined;
      try {
        text = JSON.stringify(v);
      } catch {
        text = undefined;
      }
      if (text === undefined) throw new InvalidRowError(`${where}: not JSON`);
      return text;
    }
  }
}

/** The value of a column left out of a new row: its default, or null. */
export function defaultValue(m: Model, c: Column, now: number): SqlValue {
  const d = c.default;
  if (!d) {
    if (c.required) throw new InvalidRowError(`${m.table}.${c.name}: missing`);
    return null;
  }
  if ('value' in d) return typeof d.value === 'boolean' ? (d.value ? 1 : 0) : d.value;
  if (d.fn === 'cuid') return cuid();
  if (d.fn === 'autoincrement') return null;
  return now;
}

/** The fields of `row` that are columns of `m`; an unknown field is an InvalidRowError. */
export function checkFields(m: Model, row: object, allowed: ReadonlySet<string> = EMPTY): void {
  if (typeof row !== 'object' || row === null) throw new InvalidRowError(`${m.table}: the row is not an object`);
  for (const key of Object.keys(row)) {
    if (!m.byName.has(key) && !allowed.has(key)) throw new InvalidRowError(`${m.table}.${key}: unknown field`);
  }
}
const EMPTY: ReadonlySet<string> = new Set();

/** A stored value as Prisma returns it. */
function decodeValue(c: Column, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (c.kind) {
    case 'date':
      if (typeof v === 'number' || typeof v === 'bigint') return new Date(Number(v));
      // Text (CURRENT_TIMESTAMP's 'YYYY-MM-DD HH:MM:SS' is UTC) or digits.
      return /^\d+$/.test(String(v))
        ? new Date(Number(v))
        : new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(String(v)) ? String(v) : `${String(v).replace(' ', 'T')}Z`);
    case 'boolean':
      return v === 1 || v === 1n || v === true || v === '1' || v === 'true';
    case 'int':
    case 'float':
      return Number(v);
    case 'json':
      return typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
    case 'string':
      return String(v);
  }
}

/** A row read from `m`'s table as Prisma returns it (columns in the schema's order). */
export function decodeRow<T>(m: Model, row: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const c of m.columns) out[c.name] = decodeValue(c, row[c.name]);
  return out as T;
}

/** `"a", "b"` for SQL. */
export function columnList(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}
