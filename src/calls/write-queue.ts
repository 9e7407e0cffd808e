/**
 * The CallManager's write queue: transcripts and timeline events arrive many per second across calls;
 * they are queued and written in one transaction per flush (every `flushIntervalMs`, or sooner when
 * the queue is long). A failed write is retried with backoff and never surfaces to the call that
 * produced it. The durability contract, the bounds and the dead letter are described in
 * call-manager.ts; this file implements them.
 */
import type { Logger } from '../logging/logger';
import type { CallStore, NewCallEvent, NewTranscript } from '../db/call-repository';
import { DeadLetterStore, type DeadLetterEntry, type DeadLetterReason } from '../db/dead-letter';
import { describeWriteError, isPermanentWriteError } from '../db/write-errors';
import { separateBadRows, type FailureOps } from './write-failures';

export const DEFAULT_MAX_PENDING_ROWS = 50_000;
export const DEFAULT_MAX_PENDING_AGE_MS = 5 * 60 * 1000;

/** What close() could not write to the database. */
export interface CloseReport {
  /** Rows still queued at close (after a last flush). */
  rowsLeft: number;
  /** Rows written to the dead letter during close(). */
  deadLettered: number;
  /** Rows lost during close() (no dead letter, or its file could not be written). */
  dropped: number;
  /** Since start. */
  deadLetteredTotal: number;
  droppedTotal: number;
}

/** The write queue's state (for /health and /metrics). */
export interface WriteQueueState {
  rows: number;
  maxRows: number;
  maxAgeMs: number;
  oldestAgeMs: number;
  deadLetteredTotal: number;
  droppedTotal: number;
  deadLetterDir: string | undefined;
}

export interface Pending {
  table: 'transcript' | 'event';
  row: NewTranscript | NewCallEvent;
  queuedAt: number;
}

export interface WriteQueueOptions {
  store: CallStore;
  logger: Logger;
  /** Transcripts whose batch has committed (acknowledged): the CallManager publishes them. */
  onTranscriptsCommitted: (rows: NewTranscript[], committedAt: Date) => void;
  flushIntervalMs?: number;
  maxQueuedRows?: number;
  maxWriteAttempts?: number;
  onWrite?: (ms: number) => void;
  maxPendingRows?: number;
  maxPendingAgeMs?: number;
  maxRetryDelayMs?: number;
  queueWarnRatio?: number;
  deadLetterDir?: string;
}

export class WriteQueue {
  private readonly store: CallStore;
  private readonly log: Logger;
  private readonly onTranscriptsCommitted: WriteQueueOptions['onTranscriptsCommitted'];
  /** What write-failures.ts needs to split a refused batch. */
  private readonly failureOps: FailureOps = {
    existingCallIds: (ids) => this.store.existingCallIds(ids),
    insert: (rows) => this.insert(rows),
    committed: (rows) => this.committed(rows),
    reject: (rows, failure) => {
      this.stats.rowsRejected += rows.length;
      this.toDeadLetter(rows, 'rejected', failure);
    },
  };
  /** Rows waiting for the database, oldest first. */
  private queue: Pending[] = [];
  /** Rows of the batch being written now. */
  private inFlight = 0;
  private consecutiveFailures = 0;
  /** No flush on queue length before this time (backoff after a failed batch). */
  private retryNotBefore = 0;
  private lastWriteError: string | undefined;
  private readonly deadLetter: DeadLetterStore | undefined;
  private readonly maxPendingRows: number;
  private readonly maxPendingAgeMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly queueWarnRatio: number;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly flushIntervalMs: number;
  private readonly maxQueuedRows: number;
  private readonly maxWriteAttempts: number;
  private closed = false;
  /** close() has taken the last queued rows: later rows go straight to the dead letter. */
  private closeDone = false;
  private readonly onWrite: ((ms: number) => void) | undefined;
  /** Counters for /health and /metrics. */
  readonly stats = {
    writeBatches: 0,
    writeRetries: 0,
    writeFailures: 0,
    rowsWritten: 0,
    lastWriteMs: 0,
    transcriptsAcknowledged: 0,
    /** Rows the database refused for good (constraint, invalid data), isolated from their batch. */
    rowsRejected: 0,
    /** Rows written to the dead-letter file since start. */
    rowsDeadLettered: 0,
    /** Rows lost: no dead letter configured, or its file could not be written. */
    rowsDropped: 0,
  };
  /** Date.now() of the last committed batch / of the last write that failed after every retry. */
  lastWriteOkAt = 0;
  lastWriteFailedAt = 0;

  constructor(options: WriteQueueOptions) {
    this.store = options.store;
    this.log = options.logger;
    this.onTranscriptsCommitted = options.onTranscriptsCommitted;
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.maxQueuedRows = options.maxQueuedRows ?? 500;
    this.maxWriteAttempts = options.maxWriteAttempts ?? 8;
    this.onWrite = options.onWrite;
    this.maxPendingRows = Math.max(1, options.maxPendingRows ?? DEFAULT_MAX_PENDING_ROWS);
    this.maxPendingAgeMs = options.maxPendingAgeMs ?? DEFAULT_MAX_PENDING_AGE_MS;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 8000;
    this.queueWarnRatio = options.queueWarnRatio ?? 0.8;
    this.deadLetter = options.deadLetterDir
      ? new DeadLetterStore(options.deadLetterDir, {
          onWritten: (rows, file) => {
            this.stats.rowsDeadLettered += rows;
            this.log.warn('rows written to the dead letter (npm run db:reimport puts them back)', { rows, file });
          },
          onFailed: (rows, err, file) => {
            this.stats.rowsDropped += rows;
            this.log.error('dead-letter file could not be written: rows lost', { rows, file, error: err.message });
          },
        })
      : undefined;
  }

  /** Rows queued and not yet committed, the batch being written included (for /health and tests). */
  get queuedRows(): number {
    return this.queue.length + this.inFlight;
  }

  /** The write queue's depth, bounds and dead-letter totals (for /health and /metrics). */
  writeQueueState(): WriteQueueState {
    return {
      rows: this.queuedRows,
      maxRows: this.maxPendingRows,
      maxAgeMs: this.maxPendingAgeMs,
      oldestAgeMs: this.queue.length > 0 ? Math.max(0, Date.now() - this.queue[0].queuedAt) : 0,
      deadLetteredTotal: this.stats.rowsDeadLettered,
      droppedTotal: this.stats.rowsDropped,
      deadLetterDir: this.deadLetter?.dir,
    };
  }

  /**
   * /health check of the write queue: not ok once rows went to the dead letter (or were lost) since
   * start, or while the queue holds more than `queueWarnRatio` of its bound.
   */
  writeQueueCheck(): { ok: boolean; detail?: string } {
    const q = this.writeQueueState();
    const problems: string[] = [];
    if (q.rows > q.maxRows * this.queueWarnRatio) {
      problems.push(
        `${q.rows} rows waiting for the database (${Math.round((100 * q.rows) / q.maxRows)}% of the ${q.maxRows}-row bound)`,
      );
    }
    if (q.deadLetteredTotal > 0) {
      problems.push(
        `${q.deadLetteredTotal} rows written to the dead letter since start (${q.deadLetterDir}; npm run db:reimport)`,
      );
    }
    if (q.droppedTotal > 0) problems.push(`${q.droppedTotal} rows lost since start (dead letter unavailable)`);
    return problems.length > 0 ? { ok: false, detail: problems.join('; ') } : { ok: true };
  }

  /**
   * Writes everything queued so far. Rows the database refuses for good go to the dead letter; rows
   * that fail for a transient reason stay queued (retried with backoff, up to the age bound).
   */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    this.inFlight = batch.length;
    this.flushing = this.writeBatch(batch);
    await this.flushing;
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let unwritten: Pending[] = [];
    let error: unknown;
    try {
      try {
        await this.withRetry(
          'write batch',
          () => this.insert(batch),
          (err) => !isPermanentWriteError(err),
        );
        this.committed(batch);
      } catch (err) {
        if (isPermanentWriteError(err)) {
          // One or more rows are bad: write the others, dead-letter the bad ones.
          ({ unwritten, error } = await separateBadRows(this.failureOps, batch, err));
        } else {
          unwritten = batch;
          error = err;
        }
      }
    } finally {
      this.stats.lastWriteMs = performance.now() - started;
      this.onWrite?.(this.stats.lastWriteMs);
      this.inFlight = 0;
      this.flushing = undefined;
    }
    if (unwritten.length === 0) {
      this.consecutiveFailures = 0;
      this.retryNotBefore = 0;
      if (this.queue.length >= this.maxQueuedRows) this.scheduleFlush();
      return;
    }
    // Never lose the rows: put them back in front of what arrived meanwhile.
    this.queue = unwritten.concat(this.queue);
    this.stats.writeFailures++;
    this.lastWriteFailedAt = Date.now();
    this.lastWriteError = describeWriteError(error);
    this.consecutiveFailures++;
    const expired = this.expireOldRows();
    this.log.error('batch write failed; rows kept for the next flush', {
      error: this.lastWriteError,
      rows: unwritten.length,
      queued: this.queue.length,
      expiredToDeadLetter: expired,
    });
    if (this.closeDone) {
      // A flush after close() (a late endCall) failed: no timer will retry these rows.
      const left = this.queue;
      this.queue = [];
      this.toDeadLetter(left, 'shutdown', this.lastWriteError);
    } else if (!this.closed) {
      const delayMs = Math.min(1000 * 2 ** (this.consecutiveFailures - 1), this.maxRetryDelayMs);
      this.retryNotBefore = Date.now() + delayMs;
      if (this.flushTimer) clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      this.scheduleFlush(delayMs);
    }
  }

  private insert(rows: Pending[]): Promise<void> {
    const transcripts: NewTranscript[] = [];
    const events: NewCallEvent[] = [];
    for (const p of rows) {
      if (p.table === 'transcript') transcripts.push(p.row as NewTranscript);
      else events.push(p.row as NewCallEvent);
    }
    return this.store.insertBatch(transcripts, events);
  }

  /** Rows committed: counters, and their transcripts are now acknowledged (published). */
  private committed(rows: Pending[]): void {
    const transcripts: NewTranscript[] = [];
    for (const p of rows) if (p.table === 'transcript') transcripts.push(p.row as NewTranscript);
    this.stats.writeBatches++;
    this.stats.rowsWritten += rows.length;
    this.stats.transcriptsAcknowledged += transcripts.length;
    this.lastWriteOkAt = Date.now();
    this.onTranscriptsCommitted(transcripts, new Date());
  }

  /** Moves queued rows older than the age bound to the dead letter; returns how many. */
  private expireOldRows(): number {
    const cutoff = Date.now() - this.maxPendingAgeMs;
    const expired: Pending[] = [];
    const kept: Pending[] = [];
    for (const p of this.queue) (p.queuedAt <= cutoff ? expired : kept).push(p);
    if (expired.length === 0) return 0;
    this.queue = kept;
    this.toDeadLetter(expired, 'expired', this.lastWriteError);
    return expired.length;
  }

  /** Hands rows to the dead-letter file (written asynchronously), or counts them as dropped when there is none. */
  private toDeadLetter(rows: Pending[], reason: DeadLetterReason, error?: unknown): void {
    if (rows.length === 0) return;
    const description = error === undefined ? undefined : typeof error === 'string' ? error : describeWriteError(error);
    if (!this.deadLetter) {
      this.stats.rowsDropped += rows.length;
      this.log.error('rows could not be written and no dead letter is configured: rows lost', {
        rows: rows.length,
        reason,
        error: description,
      });
      return;
    }
    const entries: DeadLetterEntry[] = rows.map((p) => ({
      table: p.table,
      reason,
      error: description,
      queuedAt: p.queuedAt,
      row: p.row,
    }));
    this.deadLetter.append(entries);
  }

  /**
   * Flushes and stops the timer. Active calls are the bridge's to end before this. Rows that still
   * cannot be written go to the dead letter; nothing is dropped silently: the counts are logged and
   * returned.
   */
  async close(): Promise<CloseReport> {
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    // Rows handed to the dead letter before close() are counted before it.
    await this.deadLetter?.flush();
    const deadLetteredBefore = this.stats.rowsDeadLettered;
    const droppedBefore = this.stats.rowsDropped;
    await this.flush();
    while (this.flushing) await this.flushing;
    const left = this.queue;
    this.queue = [];
    this.closeDone = true;
    this.toDeadLetter(left, 'shutdown', this.lastWriteError);
    await this.deadLetter?.flush();
    const report: CloseReport = {
      rowsLeft: left.length,
      deadLettered: this.stats.rowsDeadLettered - deadLetteredBefore,
      dropped: this.stats.rowsDropped - droppedBefore,
      deadLetteredTotal: this.stats.rowsDeadLettered,
      droppedTotal: this.stats.rowsDropped,
    };
    if (report.rowsLeft > 0 || report.deadLettered > 0 || report.dropped > 0) {
      this.log.error('write queue closed with rows the database did not take', {
        ...report,
        deadLetterDir: this.deadLetter?.dir,
      });
    }
    return report;
  }

  /** Queues a row; beyond maxPendingRows the oldest queued rows go to the dead letter. */
  enqueue(p: Pending): void {
    if (this.closeDone) {
      // close() has run: nothing will flush this row any more.
      this.toDeadLetter([p], 'shutdown', 'queued after close()');
      return;
    }
    this.queue.push(p);
    const over = this.queue.length + this.inFlight - this.maxPendingRows;
    if (over > 0) {
      // Evict in chunks of 1% of the bound (at least what is over): one splice per chunk, not per row.
      const n = Math.min(this.queue.length, Math.max(over, Math.ceil(this.maxPendingRows / 100)));
      const evicted = this.queue.splice(0, n);
      this.toDeadLetter(evicted, 'overflow', this.lastWriteError);
      this.log.error('write queue full: oldest rows moved to the dead letter', {
        rows: evicted.length,
        maxPendingRows: this.maxPendingRows,
      });
    }
    this.scheduleFlush();
  }

  private scheduleFlush(delayMs = this.flushIntervalMs): void {
    if (this.closed) return;
    const backoffMs = this.retryNotBefore - Date.now();
    if (this.queue.length >= this.maxQueuedRows && !this.flushing && backoffMs <= 0) {
      void this.flush();
      return;
    }
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(
      () => {
        this.flushTimer = undefined;
        void this.flush();
      },
      Math.max(delayMs, backoffMs),
    );
    this.flushTimer.unref();
  }

  /** Runs a write, retrying with backoff up to maxWriteAttempts times while `retryable(err)` holds. */
  async withRetry<T>(
    what: string,
    fn: () => Promise<T>,
    retryable: (err: unknown) => boolean = () => true,
  ): Promise<T> {
    let delayMs = 50;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn();
        this.lastWriteOkAt = Date.now();
        return result;
      } catch (err) {
        if (attempt >= this.maxWriteAttempts || !retryable(err)) throw err;
        this.stats.writeRetries++;
        this.lastWriteFailedAt = Date.now();
        this.log.warn('database write failed, retrying', { what, attempt, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, delayMs));
        // 50, 100, ... 2000 ms: about 5 s in all before a write is given up (batched rows are kept).
        delayMs = Math.min(delayMs * 2, 2000);
      }
    }
  }
}
