/**
 * The dead letter of the batched transcript/event writes: rows the CallManager could not write to
 * SQLite (a row that violates a constraint, rows still failing after the queue's age bound, rows over
 * its size bound, rows left queued at shutdown) are appended as JSON lines to
 * `<folder of the SQLite file>/dead-letter/writes-YYYYMMDD.jsonl` (UTC date, file mode 0600: it holds
 * transcript text), instead of being dropped. `npm run db:reimport` puts them back in the database
 * (see dead-letter-import.ts).
 *
 * append() only queues the rows: serializing and writing happen later, off the caller's path, one
 * appendFile per batch. flush() waits until everything appended so far is written (or has failed).
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { isPostgresUrl } from './dialect';
import { PROJECT_ROOT, sqliteFilePath } from './paths';

export const DEAD_LETTER_FILE_PATTERN = /^writes-\d{8}\.jsonl$/;
export const DEAD_LETTER_FORMAT_VERSION = 1;
/** Rows serialized and appended per write. */
const WRITE_CHUNK_ROWS = 1000;

export type DeadLetterTable = 'transcript' | 'event';
/**
 * - `rejected`: the database refused the row itself (constraint, invalid data); retrying cannot help.
 * - `expired`: the row could not be written (database locked, busy...) for longer than the age bound.
 * - `overflow`: the queue was at its size bound; its oldest rows were moved out.
 * - `shutdown`: close() could not write the row.
 * - `reimport-failed`: `npm run db:reimport` could not write it either (kept for the next run).
 */
export type DeadLetterReason = 'rejected' | 'expired' | 'overflow' | 'shutdown' | 'reimport-failed';

/** One line of a dead-letter file. */
export interface DeadLetterRecord {
  v: number;
  table: DeadLetterTable;
  reason: DeadLetterReason;
  /** The last write error (no row data in it). */
  error?: string;
  /** When the row was queued (ISO). */
  queuedAt: string;
  /** When it was moved to the dead letter (ISO). */
  deadLetteredAt: string;
  /** The row as the CallManager would have written it (dates as ISO strings). */
  row: Record<string, unknown>;
}

export interface DeadLetterEntry {
  table: DeadLetterTable;
  reason: DeadLetterReason;
  error?: string;
  queuedAt: number;
  row: object;
}

/**
 * `<folder of the SQLite file>/dead-letter`, or undefined for an in-memory database. With
 * PostgreSQL: `./data/dead-letter` under the project (this instance's disk; the file names are
 * per day, lines are appended whole).
 */
export function deadLetterDirFor(databaseUrl: string): string | undefined {
  if (isPostgresUrl(databaseUrl)) return path.join(PROJECT_ROOT, 'data', 'dead-letter');
  const file = sqliteFilePath(databaseUrl);
  return file === ':memory:' ? undefined : path.join(path.dirname(file), 'dead-letter');
}

/** `writes-YYYYMMDD.jsonl` of a date (UTC). */
export function deadLetterFileName(at: Date): string {
  return `writes-${at.toISOString().slice(0, 10).replace(/-/g, '')}.jsonl`;
}

/** JSON.stringify that does not throw on BigInt (written as a string). */
export function toJsonLine(record: DeadLetterRecord): string {
  return JSON.stringify(record, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

export interface DeadLetterStoreOptions {
  /** Rows written to the file (after the append succeeded). */
  onWritten?: (rows: number, file: string) => void;
  /** Rows that could not be written (the rows are lost; the caller logs and counts them). */
  onFailed?: (rows: number, err: Error, file: string) => void;
  now?: () => Date;
}

export class DeadLetterStore {
  private pending: DeadLetterEntry[] = [];
  private writing: Promise<void> | undefined;
  private dirReady = false;
  readonly stats = { rowsWritten: 0, rowsFailed: 0, appends: 0 };

  constructor(
    readonly dir: string,
    private readonly options: DeadLetterStoreOptions = {},
  ) {}

  /** Queues rows for the file; returns at once (the write happens on a later tick). */
  append(entries: DeadLetterEntry[]): void {
    if (entries.length === 0) return;
    for (const e of entries) this.pending.push(e);
    this.writing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.writeLoop());
  }

  /** Rows appended and not yet written. */
  get pendingRows(): number {
    return this.pending.length;
  }

  /** Waits until every row appended so far is written or has failed. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const taken = this.pending;
        this.pending = [];
        // Serialized and written in chunks: a burst (a full queue moved out at shutdown) never holds
        // the event loop (every call's audio) for long.
        for (let i = 0; i < taken.length; i += WRITE_CHUNK_ROWS) {
          await this.writeChunk(taken.slice(i, i + WRITE_CHUNK_ROWS));
        }
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async writeChunk(batch: DeadLetterEntry[]): Promise<void> {
    const now = (this.options.now ?? (() => new Date()))();
    const file = path.join(this.dir, deadLetterFileName(now));
    const deadLetteredAt = now.toISOString();
    let text = '';
    for (const e of batch) {
      text +=
        toJsonLine({
          v: DEAD_LETTER_FORMAT_VERSION,
          table: e.table,
          reason: e.reason,
          ...(e.error ? { error: e.error } : {}),
          queuedAt: new Date(e.queuedAt).toISOString(),
          deadLetteredAt,
          row: e.row as Record<string, unknown>,
        }) + '\n';
    }
    try {
      if (!this.dirReady) {
        await mkdir(this.dir, { recursive: true, mode: 0o700 });
        this.dirReady = true;
      }
      // mode applies when the file is created: transcripts are personal data.
      await appendFile(file, text, { mode: 0o600 });
      this.stats.rowsWritten += batch.length;
      this.stats.appends++;
      this.options.onWritten?.(batch.length, file);
    } catch (err) {
      this.dirReady = false;
      this.stats.rowsFailed += batch.length;
      this.options.onFailed?.(batch.length, err as Error, file);
    }
  }
}
