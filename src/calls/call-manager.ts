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
}

export class CallManager {
  private readonly repo: CallRepository;
  private readonly bus: EventBus;
  private readonly log: Logger;
  private readonly active = new Map<string, Call>();
  private readonly bySid = new Map<string, string>();
  private readonly ending = new Map<string, Promise<Call>>();
  private transcripts: NewTranscript[] = [];
  private events: NewCallEvent[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly flushIntervalMs: number;
  private readonly maxQueuedRows: number;
  private readonly maxWriteAttempts: number;
  private closed = false;
  private readonly onWrite: ((ms: number) => void) | undefined;
  /** Counters for /health and /metrics. */
  readonly stats = {
    writeBatches: 0,
    writeRetries: 0,
    writeFailures: 0,
    rowsWritten: 0,
    lastWriteMs: 0,
    transcriptsAcknowledged: 0,
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
    this.transcripts.push(row);
    this.scheduleFlush();
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

  /** Rows queued and not yet committed (for /health and tests). */
  get queuedRows(): number {
    return this.transcripts.length + this.events.length;
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

  /** Writes everything queued so far. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.transcripts.length === 0 && this.events.length === 0) return;
    const transcripts = this.transcripts;
    const events = this.events;
    this.transcripts = [];
    this.events = [];
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    this.flushing = (async () => {
      const started = performance.now();
      try {
        await this.withRetry('write batch', () => this.repo.insertBatch(transcripts, events));
        this.stats.writeBatches++;
        this.stats.rowsWritten += transcripts.length + events.length;
        this.stats.transcriptsAcknowledged += transcripts.length;
        this.lastWriteOkAt = Date.now();
        this.publishTranscripts(transcripts, new Date());
      } catch (err) {
        // Never lose the rows: put them back in front of what arrived meanwhile.
        this.transcripts = transcripts.concat(this.transcripts);
        this.events = events.concat(this.events);
        this.stats.writeFailures++;
        this.lastWriteFailedAt = Date.now();
        this.log.error('batch write failed; rows kept for the next flush', {
          error: (err as Error).message,
          rows: transcripts.length + events.length,
        });
        if (!this.closed) this.scheduleFlush(1000);
      } finally {
        this.stats.lastWriteMs = performance.now() - started;
        this.onWrite?.(this.stats.lastWriteMs);
        this.flushing = undefined;
      }
    })();
    await this.flushing;
  }

  /** Flushes and stops the timer. Active calls are the bridge's to end before this. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
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
    this.events.push({
      callId,
      type,
      at: new Date(),
      offsetMs: offsetMs == null ? null : Math.round(offsetMs),
      data: (data ?? undefined) as never,
    });
    this.scheduleFlush();
  }

  private scheduleFlush(delayMs = this.flushIntervalMs): void {
    if (this.transcripts.length + this.events.length >= this.maxQueuedRows) {
      void this.flush();
      return;
    }
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, delayMs);
    this.flushTimer.unref();
  }

  private async withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let delayMs = 50;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn();
        this.lastWriteOkAt = Date.now();
        return result;
      } catch (err) {
        if (attempt >= this.maxWriteAttempts) throw err;
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
