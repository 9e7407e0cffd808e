/**
 * A batch the database refused for a permanent reason (a row violates a constraint or is invalid):
 * every good row is still written, each bad row goes to the dead letter alone (see write-queue.ts).
 */
import { isForeignKeyError, isPermanentWriteError } from '../db/write-errors';
import type { Pending } from './write-queue';

/** What the write queue lends the search: the lookup, a write, and where committed and bad rows go. */
export interface FailureOps {
  existingCallIds(ids: readonly string[]): Promise<Set<string>>;
  insert(rows: Pending[]): Promise<void>;
  committed(rows: Pending[]): void;
  /** Rows refused for good: counted and dead-lettered. */
  reject(rows: Pending[], failure: unknown): void;
}

export interface Outcome {
  /** Rows left unwritten by a transient failure on the way (they stay queued). */
  unwritten: Pending[];
  error?: unknown;
}

/**
 * A batch failed for a permanent reason. The usual one, rows of a call that no longer exists (a
 * foreign key), is settled with one query: those rows go to the dead letter and the rest is written
 * as one batch. Anything else left failing is isolated by halves (isolate()).
 */
export async function separateBadRows(ops: FailureOps, rows: Pending[], failure: unknown): Promise<Outcome> {
  if (isForeignKeyError(failure)) {
    let existing: Set<string> | undefined;
    try {
      existing = await ops.existingCallIds(rows.map((p) => p.row.callId));
    } catch {
      existing = undefined; // the lookup failed too: fall back to halving
    }
    if (existing) {
      const orphans = rows.filter((p) => !existing.has(p.row.callId));
      if (orphans.length > 0) {
        ops.reject(orphans, failure);
        const rest = rows.filter((p) => existing.has(p.row.callId));
        if (rest.length === 0) return { unwritten: [] };
        try {
          await ops.insert(rest);
          ops.committed(rest);
          return { unwritten: [] };
        } catch (err) {
          if (!isPermanentWriteError(err)) return { unwritten: rest, error: err };
          return isolate(ops, rest, err);
        }
      }
    }
  }
  return isolate(ops, rows, failure);
}

/**
 * A batch failed for a permanent reason: write it in halves, and halves of the failing halves, so
 * every good row is written and each bad row ends alone (then goes to the dead letter). A transient
 * failure on the way stops the search: what is left stays queued. About 2·log2(n) writes per bad
 * row; each part is an ordinary insertBatch (power-of-two chunks, so no new query-plan shapes).
 */
async function isolate(ops: FailureOps, rows: Pending[], failure: unknown): Promise<Outcome> {
  if (rows.length === 1) {
    ops.reject(rows, failure);
    return { unwritten: [] };
  }
  const mid = Math.ceil(rows.length / 2);
  const unwritten: Pending[] = [];
  let error: unknown;
  for (const part of [rows.slice(0, mid), rows.slice(mid)]) {
    if (unwritten.length > 0) {
      unwritten.push(...part);
      continue;
    }
    try {
      await ops.insert(part);
      ops.committed(part);
    } catch (err) {
      if (!isPermanentWriteError(err)) {
        unwritten.push(...part);
        error = err;
        continue;
      }
      const inner = await isolate(ops, part, err);
      unwritten.push(...inner.unwritten);
      error ??= inner.error;
    }
  }
  return { unwritten, error };
}
