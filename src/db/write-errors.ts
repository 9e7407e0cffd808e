/**
 * Which database write errors are worth retrying.
 *
 * Permanent ("the row itself is wrong"): a constraint the row violates (a transcript of a call that
 * no longer exists, a unique key) or data Prisma refuses to send (a missing field, NaN for an Int).
 * Retrying such a row can never succeed, and retrying it together with other rows holds them back.
 *
 * Everything else is treated as transient (the database is locked or busy, a timeout, an I/O
 * hiccup, an error we do not recognise): it is retried with backoff, up to the write queue's age
 * bound.
 */
import type { SerializedWriteError } from './db-writer';

/** Prisma error codes that mean the row's data is wrong (https://www.prisma.io/docs/orm/reference/error-reference). */
const PERMANENT_PRISMA_CODES = new Set([
  'P2000', // value too long for the column
  'P2002', // unique constraint
  'P2003', // foreign key constraint
  'P2004', // constraint failed
  'P2005', // invalid value stored
  'P2006', // invalid value
  'P2007', // data validation error
  'P2011', // null constraint
  'P2012', // missing required value
  'P2019', // input error
  'P2020', // value out of range
  'P2023', // inconsistent column data
]);

/** Driver adapter error kinds (Prisma 7 `meta.driverAdapterError.cause.kind`) that mean the same. */
const PERMANENT_ADAPTER_KINDS = new Set([
  'ForeignKeyConstraintViolation',
  'UniqueConstraintViolation',
  'NullConstraintViolation',
  'LengthMismatch',
  'InvalidInputValue',
  'ValueOutOfRange',
  'MissingFullTextSearchIndex',
]);

const PERMANENT_SQLITE_CODE = /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/;
/** PostgreSQL SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation). */
const PERMANENT_PG_CODE = /^2[23][0-9A-Z]{3}$/;
const PERMANENT_MESSAGE =
  /\b(constraint failed|constraint violated|SQLITE_CONSTRAINT|datatype mismatch|violates [a-z -]*constraint)\b/i;

interface AdapterCause {
  kind?: string;
  originalCode?: string;
  originalMessage?: string;
}

function adapterCause(err: unknown): AdapterCause | undefined {
  const meta = (err as { meta?: { driverAdapterError?: { cause?: AdapterCause } } } | null)?.meta;
  return meta?.driverAdapterError?.cause;
}

/** True when retrying the same write can never succeed (the row violates a constraint or is invalid). */
export function isPermanentWriteError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { name?: string; code?: unknown; message?: unknown };
  if (e.name === 'PrismaClientValidationError' || e.name === 'InvalidRowError') return true;
  if (typeof e.code === 'string' && (PERMANENT_PRISMA_CODES.has(e.code) || PERMANENT_SQLITE_CODE.test(e.code))) {
    return true;
  }
  const cause = adapterCause(err);
  if (cause?.kind && PERMANENT_ADAPTER_KINDS.has(cause.kind)) return true;
  if (
    cause?.originalCode &&
    (PERMANENT_SQLITE_CODE.test(cause.originalCode) || PERMANENT_PG_CODE.test(cause.originalCode))
  )
    return true;
  return typeof e.message === 'string' && PERMANENT_MESSAGE.test(e.message);
}

/** A foreign-key violation (e.g. a transcript of a call that was deleted). */
export function isForeignKeyError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const cause = adapterCause(err);
  return (
    (err as { code?: unknown }).code === 'P2003' ||
    cause?.kind === 'ForeignKeyConstraintViolation' ||
    cause?.originalCode === 'SQLITE_CONSTRAINT_FOREIGNKEY' ||
    cause?.originalCode === '23503' ||
    /FOREIGN KEY constraint failed|violates foreign key constraint/i.test(
      String((err as { message?: unknown }).message),
    )
  );
}

/**
 * A one-line description of a write error without the row's data (Prisma's messages quote the whole
 * failing call, transcript text included): the code, the driver's message or the message's last line.
 */
export function describeWriteError(err: unknown): string {
  if (!err || typeof err !== 'object') return String(err);
  const e = err as { name?: string; code?: unknown; message?: unknown };
  const cause = adapterCause(err);
  const message = typeof e.message === 'string' ? e.message : String(err);
  const lastLine =
    message
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? '';
  const text = cause?.originalMessage ?? lastLine;
  const code = typeof e.code === 'string' ? e.code : cause?.originalCode;
  return [code, cause?.originalCode && cause.originalCode !== code ? cause.originalCode : undefined, text]
    .filter(Boolean)
    .join(' ')
    .slice(0, 300);
}

/** What crosses from the writer thread (db-writer.ts): what this file classifies by: name, message, Prisma's code, the driver adapter's cause. */
export function serializeWriteError(err: unknown): SerializedWriteError {
  const e = err as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    meta?: { driverAdapterError?: { cause?: Record<string, unknown> } };
  } | null;
  const cause = e?.meta?.driverAdapterError?.cause;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return {
    name: str(e?.name) ?? 'Error',
    message: str(e?.message) ?? String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(cause
      ? {
          meta: {
            driverAdapterError: {
              cause: {
                kind: str(cause.kind),
                originalCode: str(cause.originalCode),
                originalMessage: str(cause.originalMessage),
              },
            },
          },
        }
      : {}),
  };
}
