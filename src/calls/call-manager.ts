/**
 * CallManager: the one place that creates, updates and ends calls, appends transcripts and timeline
 * events, registers recordings and analytics, and publishes the typed bus events.
 *
 * Transcripts and timeline events arrive many per second across calls; they are queued and written
 * in one transaction per flush (every `flushIntervalMs`, or sooner when the queue is long). A failed
 * write is retried with backoff and never surfaces to the call that produced it.
 *
 * The queue itself (batching, retries, bounds, dead letter) is src/calls/write-queue.ts; where a
 * write runs is the CallStore's business (src/db/db-writer.ts: in the database writer thread).
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
import type { Analytics, Call, Prisma, Recording } from '../generated/prisma/client';
import type { EventBus, LiveCallStats } from '../events/event-bus';
import type { Logger } from '../logging/logger';
import type { CallStore, NewAnalytics, NewRecording, NewTranscript } from '../db/call-repository';
import { canTransition, FINAL_STATUSES, isFinalStatus, type CallStatus } from './call-status';
import { WriteQueue, type CloseReport, type WriteQueueState } from './write-queue';
import type { CreateCallInput, EndCallInput, TranscriptInput } from './call-inputs';
import { RecentEvents } from './recent-events';
import { EndedCalls } from './ended-calls';
import type { CallPrivacyHook } from '../privacy/call-privacy';
export type { CreateCallInput, EndCallInput, TranscriptInput } from './call-inputs';

export {
  DEFAULT_MAX_PENDING_AGE_MS,
  DEFAULT_MAX_PENDING_ROWS,
  type CloseReport,
  type WriteQueueState,
} from './write-queue';

export interface CallManagerOptions {
  /** Where the writes run: a CallRepository on this thread, or the DbWriter thread. */
  repository: CallStore;
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
  /** Redaction of transcripts and recordings (src/privacy/call-privacy.ts). */
  privacy?: CallPrivacyHook;
  /** Told once a recording is registered with its final file (silenced, sealed): src/recordings uploads it. */
  onRecordingStored?: (recording: Recording) => void;
}

export class CallManager {
  private readonly repo: CallStore;
  private readonly bus: EventBus;
  private readonly log: Logger;
  private readonly active = new Map<string, Call>();
  /** The change of each call's fields or status in progress (see oneAtATime). */
  private readonly callChanges = new Map<string, Promise<unknown>>();
  private readonly bySid = new Map<string, string>();
  private readonly ending = new Map<string, Promise<Call>>();
  /** Calls ended here lately, by CallSid: a status callback after the end reads nothing back. */
  private readonly endedCalls = new EndedCalls();
  private readonly writes: WriteQueue;
  private readonly recentAiEvents = new RecentEvents();
  private readonly privacy: CallPrivacyHook | undefined;

  private readonly onRecordingStored: ((recording: Recording) => void) | undefined;

  constructor(options: CallManagerOptions) {
    this.onRecordingStored = options.onRecordingStored;
    this.repo = options.repository;
    this.bus = options.bus;
    this.log = options.logger;
    this.privacy = options.privacy;
    this.writes = new WriteQueue({
      ...options,
      store: options.repository,
      logger: options.logger,
      onTranscriptsCommitted: (rows, at) => this.publishTranscripts(rows, at),
    });
  }

  /** Counters for /health and /metrics (the write queue's). */
  get stats(): WriteQueue['stats'] {
    return this.writes.stats;
  }

  /** Date.now() of the last committed write / of the last write that failed after every retry. */
  get lastWriteOkAt(): number {
    return this.writes.lastWriteOkAt;
  }

  get lastWriteFailedAt(): number {
    return this.writes.lastWriteFailedAt;
  }

  /** Creates a call, or returns the existing one when Twilio repeats a webhook for the same CallSid. */
  async createCall(input: CreateCallInput): Promise<Call> {
    if (input.callSid) {
      const known = this.bySid.get(input.callSid);
      if (known) return this.active.get(known)!;
    }
    const { metadata, ...fields } = input;
    // Find (a repeated webhook) and create in one step: one round trip to the writer thread.
    const { call, created } = await this.writes.withRetry('create call', () =>
      this.repo.findOrCreate({ ...fields, status: input.status ?? 'initiated' }, metadata),
    );
    if (!created) return call;
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

  /** The id of the call with this provider call id: a live call, one ended here lately, or the database's. */
  async callIdBySid(callSid: string): Promise<string | null> {
    const id = this.bySid.get(callSid) ?? this.endedCalls.get(callSid)?.id;
    if (id) return id;
    return (await this.repo.findByCallSid(callSid))?.id ?? null;
  }

  /** Updates fields of a call (not its end: see endCall). A status that would go backwards is ignored. */
  async updateCall(
    callId: string,
    patch: Partial<Pick<Call, 'streamSid' | 'answeredAt' | 'from' | 'to' | 'agent' | 'accountSid' | 'callSid'>> & {
      status?: CallStatus;
    },
  ): Promise<Call | null> {
    return this.oneAtATime(callId, () => this.applyUpdate(callId, patch));
  }

  private async applyUpdate(callId: string, patch: Parameters<CallManager['updateCall']>[1]): Promise<Call | null> {
    const current = await this.findCall(callId);
    if (!current) return null;
    const data: Record<string, unknown> = { ...patch };
    if (patch.status !== undefined && !canTransition(current.status, patch.status)) delete data.status;
    if (Object.keys(data).length === 0) return current;
    const call = await this.writes.withRetry('update call', () => this.repo.update(callId, data));
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
    const ended = this.endedCalls.get(callSid);
    const billedMs = billedDurationMs(status, durationSec);
    if (ended && billedMs !== undefined && !this.active.has(ended.id)) {
      // Ended here: its status is final and no callback moves it; Twilio's billed duration is all
      // that is new (the usual `completed` callback, after the stream has stopped).
      return this.oneAtATime(ended.id, () =>
        this.writes.withRetry('store billed duration', () => this.repo.update(ended.id, { durationMs: billedMs })),
      );
    }
    const found = await this.findByCallSid(callSid);
    if (!found) return null;
    return this.oneAtATime(found.id, async () => {
      const current = (await this.findCall(found.id)) ?? found;
      return this.applyStatus(current, status, durationSec);
    });
  }

  /**
   * Runs one status/field change of a call after the previous one has been written: each reads the
   * state the last one left (a status callback racing the stream start can never write `in-progress`
   * over `streaming`).
   */
  private oneAtATime<T>(callId: string, change: () => Promise<T>): Promise<T> {
    const previous = this.callChanges.get(callId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(change);
    this.callChanges.set(callId, next);
    const forget = (): void => {
      if (this.callChanges.get(callId) === next) this.callChanges.delete(callId);
    };
    next.then(forget, forget);
    return next;
  }

  private async applyStatus(current: Call, status: CallStatus, durationSec?: number): Promise<Call | null> {
    const data: Record<string, unknown> = {};
    if (canTransition(current.status, status)) data.status = status;
    const billedMs = billedDurationMs(status, durationSec);
    if (billedMs !== undefined) data.durationMs = billedMs;
    if (status === 'in-progress' && !current.answeredAt) data.answeredAt = new Date();
    if (Object.keys(data).length === 0) return current;
    if (data.status && isFinalStatus(status)) {
      // The call is over at Twilio; end it here too (exactly once), keeping Twilio's status.
      const ended = await this.endCall(current.id, { reason: status, status });
      if (data.durationMs !== undefined) {
        return this.writes.withRetry('store billed duration', () =>
          this.repo.update(current.id, { durationMs: data.durationMs as number }),
        );
      }
      return ended;
    }
    const call = await this.writes.withRetry('update call', () => this.repo.update(current.id, data));
    if (this.active.has(call.id)) this.track(call);
    if (data.status) this.queueEvent(call.id, 'status.changed', { from: current.status, to: status, source: 'twilio' });
    this.bus.publish('call.updated', { call });
    return call;
  }

  /** Queues a transcript row and publishes it live at once. */
  addTranscript(callId: string, input: TranscriptInput): void {
    // Redacted here, before the queue, the database, SSE or anything else sees the text.
    const t = this.privacy ? this.privacy.transcript(callId, this.active.get(callId)?.agent ?? null, input) : input;
    if (!t) return;
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
    this.writes.enqueue({ table: 'transcript', row, queuedAt: Date.now() });
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
    return this.writes.queuedRows;
  }

  /** The write queue's depth, bounds and dead-letter totals (for /health and /metrics). */
  writeQueueState(): WriteQueueState {
    return this.writes.writeQueueState();
  }

  /** Is the database reachable through the connection that writes (for /health)? Rejects if not. */
  pingDatabase(): Promise<void> {
    return this.repo.ping();
  }

  /** /health check of the write queue (see WriteQueue.writeQueueCheck). */
  writeQueueCheck(): { ok: boolean; detail?: string } {
    return this.writes.writeQueueCheck();
  }

  /** Queues a timeline event (status change, reconnect, error, DTMF, barge-in...). */
  addEvent(callId: string, type: string, data?: Record<string, unknown>, offsetMs?: number): void {
    // Tool arguments and the like may carry what the caller said: redacted as transcripts are.
    const stored =
      this.privacy && data ? this.privacy.event(callId, this.active.get(callId)?.agent ?? null, type, data) : data;
    this.queueEvent(callId, type, stored, offsetMs);
  }

  /** Publishes live figures of an active call (not persisted). */
  publishStats(callId: string, stats: LiveCallStats): void {
    this.bus.publish('call.stats', { callId, stats });
  }

  async addRecording(data: NewRecording): Promise<Recording> {
    // Silenced where redacted, sealed when recordings are encrypted: what is registered may differ.
    const stored = this.privacy ? await this.privacy.recording(data) : data;
    const recording = await this.writes.withRetry('add recording', () => this.repo.addRecording(stored));
    this.log.info('recording registered', {
      callId: data.callId,
      durationMs: data.durationMs,
      sizeBytes: data.sizeBytes,
    });
    this.onRecordingStored?.(recording);
    return recording;
  }

  /** Merges fields into the call's metadata (`custom`), e.g. the intents the agent's router classified. */
  async mergeMetadata(callId: string, patch: Record<string, Prisma.InputJsonValue>): Promise<void> {
    await this.writes.withRetry('merge metadata', () => this.repo.mergeMetadataCustom(callId, patch));
  }

  /** Sets the conversation's language hint (CallMetadata.language), e.g. from a stream's start. */
  async setLanguage(callId: string, language: string): Promise<void> {
    const metadata = { upsert: { create: { language }, update: { language } } };
    await this.writes.withRetry('set language', () => this.repo.update(callId, { metadata }));
  }

  async saveAnalytics(data: NewAnalytics): Promise<Analytics> {
    const analytics = await this.writes.withRetry('save analytics', () => this.repo.upsertAnalytics(data));
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
    const call = await this.writes.withRetry('end call', () =>
      this.repo.update(callId, {
        status: isFinalStatus(current.status) ? current.status : status,
        endedAt,
        endReason: current.endReason ?? input.reason,
        durationMs: current.durationMs ?? Math.max(0, endedAt.getTime() - from.getTime()),
      }),
    );
    this.untrack(call);
    if (call.callSid && isFinalStatus(call.status)) {
      this.endedCalls.remember(call.callSid, { id: call.id, status: call.status as CallStatus });
    }
    this.privacy?.ended(callId);
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
        await this.writes.withRetry('close interrupted call', () =>
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
    if (!call || call.status !== 'interrupted' || (call.durationMs ?? 0) >= durationMs) return;
    const from = call.answeredAt ?? call.startedAt;
    await this.writes.withRetry('store recovered duration', () =>
      this.repo.update(callId, {
        durationMs: Math.round(durationMs),
        endedAt: new Date(from.getTime() + Math.round(durationMs)),
      }),
    );
  }

  /** Writes everything queued so far (see WriteQueue.flush). */
  flush(): Promise<void> {
    return this.writes.flush();
  }

  /**
   * Flushes and stops the timer. Active calls are the bridge's to end before this. Rows that still
   * cannot be written go to the dead letter; nothing is dropped silently: the counts are logged and
   * returned.
   */
  close(): Promise<CloseReport> {
    return this.writes.close();
  }

  /** How many timeline events of this type (ai.* only) were queued in the last `windowMs` (for /health). */
  recentEventCount(type: string, windowMs: number): number {
    return this.recentAiEvents.count(type, windowMs);
  }

  private queueEvent(callId: string, type: string, data?: Record<string, unknown>, offsetMs?: number): void {
    if (type.startsWith('ai.')) this.recentAiEvents.note(type);
    const now = Date.now();
    this.writes.enqueue({
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

  private track(call: Call): void {
    this.active.set(call.id, call);
    if (call.callSid) this.bySid.set(call.callSid, call.id);
  }

  private untrack(call: Call): void {
    this.active.delete(call.id);
    if (call.callSid) this.bySid.delete(call.callSid);
  }
}

/** Twilio's CallDuration (seconds, on a final status) as the billed duration in ms. */
function billedDurationMs(status: CallStatus, durationSec: number | undefined): number | undefined {
  if (durationSec === undefined || !Number.isFinite(durationSec) || !isFinalStatus(status)) return undefined;
  return Math.round(durationSec * 1000);
}
