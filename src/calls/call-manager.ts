/**
 * CallManager: the one place that creates, updates and ends calls, appends transcripts and timeline
 * events, registers recordings and analytics, and publishes the typed bus events.
 *
 * Transcripts and timeline events arrive many per second across calls; they are queued and written
 * in one transaction per flush (every `flushIntervalMs`, or sooner when the queue is long). A failed
 * write is retried with backoff and never surfaces to the call that produced it.
 *
 * Durability contract ("acknowledged" transcripts): a transcript is acknowledged once the batch
 * holding it has committed to SQLite; only then is `transcript.added` published (SSE) and only then
 * can the REST API return it. SQLite runs in WAL mode with synchronous=NORMAL, where a committed
 * transaction survives the process being killed (kill -9), so anything a client was shown survives a
 * crash. A transcript still queued (at most `flushIntervalMs`, 200 ms by default) was shown to nobody
 * and is the only thing a crash can lose.
 *
 * The queue is bounded, and one bad row cannot hold the others back:
 * - A batch the database refuses for a permanent reason (a row violates a constraint or is invalid)
 *   is split in halves until the bad rows are alone: every other row is written, each bad row goes
 *   at once to the dead letter (src/db/dead-letter.ts; JSON lines next to the SQLite file).
 * - A transient failure (database locked or busy, ...) keeps the rows queued and retries them with
 *   backoff; a row still unwritten `maxPendingAgeMs` (5 min) after it was queued goes to the dead
 *   letter, and so do the oldest rows when more than `maxPendingRows` (50,000) are waiting.
 * - close() writes what it could not flush to the dead letter and returns (and logs) the counts.
 * `npm run db:reimport` puts dead-lettered rows back into the database.
 */
import type { Analytics, Call, Recording } from '../generated/prisma/client';
import type { EventBus, LiveCallStats } from '../events/event-bus';
import type { Logger } from '../logging/logger';
import type {
  CallRepository,
  NewAnalytics,
  NewCallEvent,
  NewMetadata,
  NewRecording,
  NewTranscript,
} from '../db/call-repository';
import { DeadLetterStore, type DeadLetterEntry, type DeadLetterReason } from '../db/dead-letter';
import { describeWriteError, isForeignKeyError, isPermanentWriteError } from '../db/write-errors';
import { canTransition, FINAL_STATUSES, isFinalStatus, type CallStatus, type EndReason } from './call-status';

const RECENT_EVENTS_KEPT_MS = 10 * 60 * 1000;

export interface CreateCallInput {
  callSid?: string | null;
  accountSid?: string | null;
  streamSid?: string | null;
  from?: string | null;
  to?: string | null;
  direction?: string;
  agent?: string;
  status?: CallStatus;
  startedAt?: Date;
  metadata?: Omit<NewMetadata, 'callId'>;
}

export interface TranscriptInput {
  speaker: 'caller' | 'agent';
  text: string;
  startMs: number;
  endMs?: number | null;
  confidence?: number | null;
  interrupted?: boolean;
  unheardText?: string | null;
  itemId?: string | null;
}

export interface EndCallInput {
  reason: EndReason | string;
  status?: CallStatus;
  endedAt?: Date;
}

export interface CallManagerOptions {
  repository: CallRepository;
  bus: EventBus;
  logger: Logger;
  flushIntervalMs?: number;
  /** Flush at once when this many rows are queued. */
  maxQueuedRows?: number;
  maxWriteAttempts?: number;
  /** Called with the duration of every batched write (metrics). */
  onWrite?: (ms: number) => void;
  /** Most rows kept waiting for the database (queued + being written); the oldest beyond go to the dead letter. */
  maxPendingRows?: number;
  /** A row still unwritten this long after it was queued goes to the dead letter (transient failures). */
  maxPendingAgeMs?: number;
  /** Longest wait between two attempts of a failing batch (the backoff starts at 1 s and doubles). */
  maxRetryDelayMs?: number;
  /** /health turns degraded when the queue holds more than this share of maxPendingRows. */
  queueWarnRatio?: number;
  /** Folder of the dead-letter files (see deadLetterDirFor); without it rows that cannot be written are lost (counted as dropped). */
  deadLetterDir?: string;
}

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

interface Pending {
  table: 'transcript' | 'event';
  row: NewTranscript | NewCallEvent;
  queuedAt: number;
}

export class CallManager {
  private readonly repo: CallRepository;
  private readonly bus: EventBus;
  private readonly log: Logger;
  private readonly active = new Map<string, Call>();
  private readonly bySid = new Map<string, string>();
  private readonly ending = new Map<string, Promise<Call>>();
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
  private readonly recentAiEvents = new Map<string, number[]>();

  constructor(options: CallManagerOptions) {
    this.repo = options.repository;
    this.bus = options.bus;
    this.log = options.logger;
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

  /** Creates a call, or returns the existing one when Twilio repeats a webhook for the same CallSid. */
  async createCall(input: CreateCallInput): Promise<Call> {
    if (input.callSid) {
      const known = this.bySid.get(input.callSid);
      if (known) return this.active.get(known)!;
      const existing = await this.repo.findByCallSid(input.callSid);
      if (existing) return existing;
    }
    const { metadata, ...fields } = input;
    const call = await this.withRetry('create call', () =>
      this.repo.create({ ...fields, status: input.status ?? 'initiated' }, metadata),
    );
    this.track(call);
    this.log.info('call created', {
      callId: call.id,
      callSid: call.callSid,
      direction: call.direction,
      agent: call.agent,
    });
    this.bus.publish('call.started', { call });
    return call;
  }

  get activeCount(): number {
    return this.active.size;
  }

  activeCalls(): Call[] {
    return [...this.active.values()].sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  }

  getActive(callId: string): Call | undefined {
    return this.active.get(callId);
  }

  async findCall(callId: string): Promise<Call | null> {
    return this.active.get(callId) ?? this.repo.findById(callId);
  }

  async findByCallSid(callSid: string): Promise<Call | null> {
    const id = this.bySid.get(callSid);
    return (id && this.active.get(id)) || this.repo.findByCallSid(callSid);
  }

  /** Updates fields of a call (not its end: see endCall). A status that would go backwards is ignored. */
  async updateCall(
    callId: string,
    patch: Partial<Pick<Call, 'streamSid' | 'answeredAt' | 'from' | 'to' | 'agent' | 'accountSid' | 'callSid'>> & {
      status?: CallStatus;
    },
  ): Promise<Call | null> {
    const current = await this.findCall(callId);
    if (!current) return null;
    const data: Record<string, unknown> = { ...patch };
    if (patch.status !== undefined && !canTransition(current.status, patch.status)) delete data.status;
    if (Object.keys(data).length === 0) return current;
    const call = await this.withRetry('update call', () => this.repo.update(callId, data));
    if (this.active.has(callId)) this.track(call);
    if (data.status) this.queueEvent(callId, 'status.changed', { from: current.status, to: data.status });
    this.bus.publish('call.updated', { call });
    return call;
  }

  /**
   * Applies a Twilio status callback idempotently: repeated and out-of-order callbacks never move a
   * call backwards or out of a final status; Twilio's CallDuration is kept as the billed duration.
   */
  async applyTwilioStatus(callSid: string, status: CallStatus, durationSec?: number): Promise<Call | null> {
    const current = await this.findByCallSid(callSid);
    if (!current) return null;
    const data: Record<string, unknown> = {};
    if (canTransition(current.status, status)) data.status = status;
    if (durationSec !== undefined && Number.isFinite(durationSec) && isFinalStatus(status))
      data.durationMs = Math.round(durationSec * 1000);
    if (status === 'in-progress' && !current.answeredAt) data.answeredAt = new Date();
    if (Object.keys(data).length === 0) return current;
    if (data.status && isFinalStatus(status)) {
      // The call is over at Twilio; end it here too (exactly once), keeping Twilio's status.
      const ended = await this.endCall(current.id, { reason: status, status });
      if (data.durationMs !== undefined) {
        return this.withRetry('store billed duration', () =>
          this.repo.update(current.id, { durationMs: data.durationMs as number }),
        );
      }
      return ended;
    }
    const call = await this.withRetry('update call', () => this.repo.update(current.id, data));
    if (this.active.has(call.id)) this.track(call);
    if (data.status) this.queueEvent(call.id, 'status.changed', { from: current.status, to: status, source: 'twilio' });
    this.bus.publish('call.updated', { call });
    return call;
  }

  /** Queues a transcript row and publishes it live at once. */
  addTranscript(callId: string, t: TranscriptInput): void {
    const row: NewTranscript = {
      callId,
      speaker: t.speaker,
      text: t.text,
      startMs: Math.max(0, Math.round(t.startMs)),
      endMs: t.endMs == null ? null : Math.max(0, Math.round(t.endMs)),
      confidence: t.confidence ?? null,
      interrupted: t.interrupted ?? false,
      unheardText: t.unheardText ?? null,
      itemId: t.itemId ?? null,
    };
    // Published once committed (see flush): what a client sees is on disk.
    this.enqueue({ table: 'transcript', row, queuedAt: Date.now() });
  }

  /** Publishes transcripts whose batch has committed (acknowledged). */
  private publishTranscripts(rows: NewTranscript[], committedAt: Date): void {
    for (const row of rows) {
      this.bus.publish('transcript.added', {
        callId: row.callId,
        transcript: {
          callId: row.callId,
          speaker: row.speaker,
          text: row.text,
          startMs: row.startMs,
          endMs: row.endMs ?? null,
          confidence: row.confidence ?? null,
          interrupted: row.interrupted ?? false,
          unheardText: row.unheardText ?? null,
          itemId: row.itemId ?? null,
          createdAt: committedAt,
        },
      });
    }
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

  /** Queues a timeline event (status change, reconnect, error, DTMF, barge-in...). */
  addEvent(callId: string, type: string, data?: Record<string, unknown>, offsetMs?: number): void {
    this.queueEvent(callId, type, data, offsetMs);
  }

  /** Publishes live figures of an active call (not persisted). */
  publishStats(callId: string, stats: LiveCallStats): void {
    this.bus.publish('call.stats', { callId, stats });
  }

  async addRecording(data: NewRecording): Promise<Recording> {
    const recording = await this.withRetry('add recording', () => this.repo.addRecording(data));
    this.log.info('recording registered', {
      callId: data.callId,
      durationMs: data.durationMs,
      sizeBytes: data.sizeBytes,
    });
    return recording;
  }

  async saveAnalytics(data: NewAnalytics): Promise<Analytics> {
    const analytics = await this.withRetry('save analytics', () => this.repo.upsertAnalytics(data));
    this.bus.publish('analytics.ready', { callId: data.callId, analytics });
    return analytics;
  }

  /**
   * Ends a call exactly once: flushes its queued rows, stores the end and publishes call.ended.
   * Concurrent and repeated calls return the same result.
   */
  endCall(callId: string, input: EndCallInput): Promise<Call> {
    const pending = this.ending.get(callId);
    if (pending) return pending;
    const promise = this.doEndCall(callId, input);
    this.ending.set(callId, promise);
    // Only while it runs: afterwards a repeat finds the call final and returns it unchanged (kept
    // forever, this map would hold every call the process ever ended).
    const forget = (): void => {
      this.ending.delete(callId);
    };
    promise.then(forget, forget);
    return promise;
  }

  private async doEndCall(callId: string, input: EndCallInput): Promise<Call> {
    const current = await this.findCall(callId);
    if (!current) throw new Error(`unknown call ${callId}`);
    if (isFinalStatus(current.status) && !this.active.has(callId)) return current;
    await this.flush();
    const endedAt = input.endedAt ?? new Date();
    const from = current.answeredAt ?? current.startedAt;
    const status = input.status ?? 'completed';
    const call = await this.withRetry('end call', () =>
      this.repo.update(callId, {
        status: isFinalStatus(current.status) ? current.status : status,
        endedAt,
        endReason: current.endReason ?? input.reason,
        durationMs: current.durationMs ?? Math.max(0, endedAt.getTime() - from.getTime()),
      }),
    );
    this.untrack(call);
    this.log.info('call ended', { callId, reason: call.endReason, status: call.status, durationMs: call.durationMs });
    this.bus.publish('call.ended', { call });
    return call;
  }

  /**
   * Closes calls a crashed process left open: status `interrupted`, end time = last activity.
   * Returns them so the caller can repair their recordings.
   */
  async closeInterruptedCalls(): Promise<Call[]> {
    const open = await this.repo.findOpenCalls([...FINAL_STATUSES]);
    const closed: Call[] = [];
    for (const call of open) {
      if (this.active.has(call.id)) continue;
      const endedAt = call.updatedAt;
      const from = call.answeredAt ?? call.startedAt;
      closed.push(
        await this.withRetry('close interrupted call', () =>
          this.repo.update(call.id, {
            status: 'interrupted',
            endReason: 'interrupted',
            endedAt,
            durationMs: Math.max(0, endedAt.getTime() - from.getTime()),
          }),
        ),
      );
      this.log.warn('call left open by a previous process closed as interrupted', { callId: call.id });
    }
    return closed;
  }

  /**
   * After recovery: an interrupted call's end is known only roughly (its row's last update); its
   * repaired recording says how long it really went on. Only ever lengthens an interrupted call.
   */
  async setRecoveredDuration(callId: string, durationMs: number): Promise<void> {
    const call = await this.repo.findById(callId);
    if (!call || call.endReason !== 'interrupted' || (call.durationMs ?? 0) >= durationMs) return;
    const from = call.answeredAt ?? call.startedAt;
    await this.withRetry('store recovered duration', () =>
      this.repo.update(callId, {
        durationMs: Math.round(durationMs),
        endedAt: new Date(from.getTime() + Math.round(durationMs)),
      }),
    );
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
          ({ unwritten, error } = await this.separate(batch, err));
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
    return this.repo.insertBatch(transcripts, events);
  }

  /** Rows committed: counters, and their transcripts are now acknowledged (published). */
  private committed(rows: Pending[]): void {
    const transcripts: NewTranscript[] = [];
    for (const p of rows) if (p.table === 'transcript') transcripts.push(p.row as NewTranscript);
    this.stats.writeBatches++;
    this.stats.rowsWritten += rows.length;
    this.stats.transcriptsAcknowledged += transcripts.length;
    this.lastWriteOkAt = Date.now();
    this.publishTranscripts(transcripts, new Date());
  }

  /**
   * A batch failed for a permanent reason. The usual one, rows of a call that no longer exists (a
   * foreign key), is settled with one query: those rows go to the dead letter and the rest is written
   * as one batch. Anything else left failing is isolated by halves (isolate()).
   */
  private async separate(rows: Pending[], failure: unknown): Promise<{ unwritten: Pending[]; error?: unknown }> {
    if (isForeignKeyError(failure)) {
      let existing: Set<string> | undefined;
      try {
        existing = await this.repo.existingCallIds(rows.map((p) => p.row.callId));
      } catch {
        existing = undefined; // the lookup failed too: fall back to halving
      }
      if (existing) {
        const orphans = rows.filter((p) => !existing.has(p.row.callId));
        if (orphans.length > 0) {
          this.stats.rowsRejected += orphans.length;
          this.toDeadLetter(orphans, 'rejected', failure);
          const rest = rows.filter((p) => existing.has(p.row.callId));
          if (rest.length === 0) return { unwritten: [] };
          try {
            await this.insert(rest);
            this.committed(rest);
            return { unwritten: [] };
          } catch (err) {
            if (!isPermanentWriteError(err)) return { unwritten: rest, error: err };
            return this.isolate(rest, err);
          }
        }
      }
    }
    return this.isolate(rows, failure);
  }

  /**
   * A batch failed for a permanent reason: write it in halves, and halves of the failing halves, so
   * every good row is written and each bad row ends alone (then goes to the dead letter). A transient
   * failure on the way stops the search: what is left stays queued. About 2·log2(n) writes per bad
   * row; each part is an ordinary insertBatch (power-of-two chunks, so no new query-plan shapes).
   */
  private async isolate(rows: Pending[], failure: unknown): Promise<{ unwritten: Pending[]; error?: unknown }> {
    if (rows.length === 1) {
      this.stats.rowsRejected++;
      this.toDeadLetter(rows, 'rejected', failure);
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
        await this.insert(part);
        this.committed(part);
      } catch (err) {
        if (!isPermanentWriteError(err)) {
          unwritten.push(...part);
          error = err;
          continue;
        }
        const inner = await this.isolate(part, err);
        unwritten.push(...inner.unwritten);
        error ??= inner.error;
      }
    }
    return { unwritten, error };
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

  /** How many timeline events of this type (ai.* only) were queued in the last `windowMs` (for /health). */
  recentEventCount(type: string, windowMs: number): number {
    const times = this.recentAiEvents.get(type);
    if (!times) return 0;
    const since = Date.now() - windowMs;
    let n = 0;
    for (const t of times) if (t >= since) n++;
    return n;
  }

  private noteAiEvent(type: string): void {
    let times = this.recentAiEvents.get(type);
    if (!times) this.recentAiEvents.set(type, (times = []));
    const now = Date.now();
    times.push(now);
    // Keep the last 10 minutes, at most 1000 entries.
    while (times.length > 1000 || (times.length > 0 && times[0] < now - RECENT_EVENTS_KEPT_MS)) times.shift();
  }

  private queueEvent(callId: string, type: string, data?: Record<string, unknown>, offsetMs?: number): void {
    if (type.startsWith('ai.')) this.noteAiEvent(type);
    const now = Date.now();
    this.enqueue({
      table: 'event',
      row: {
        callId,
        type,
        at: new Date(now),
        offsetMs: offsetMs == null ? null : Math.round(offsetMs),
        data: (data ?? undefined) as never,
      },
      queuedAt: now,
    });
  }

  /** Queues a row; beyond maxPendingRows the oldest queued rows go to the dead letter. */
  private enqueue(p: Pending): void {
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
  private async withRetry<T>(
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

  private track(call: Call): void {
    this.active.set(call.id, call);
    if (call.callSid) this.bySid.set(call.callSid, call.id);
  }

  private untrack(call: Call): void {
    this.active.delete(call.id);
    if (call.callSid) this.bySid.delete(call.callSid);
  }
}
