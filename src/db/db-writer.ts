/**
 * DbWriter: the database writes of the CallManager (create and update calls, batched transcripts and
 * timeline events, recordings, analytics, and the few lookups the manager makes) run in one worker
 * thread that owns the SQLite write connection (src/db/write-worker.ts). Profiles of a 100-call burst
 * showed Prisma preparing each query plus better-sqlite3's synchronous I/O as the largest single
 * share of the main thread's stalls (every live call's audio waits behind them); here the main thread
 * only posts a message and gets the answer back.
 *
 * It runs the same CallRepository methods as the main thread would (no second copy of any query):
 * arguments and results cross by structured clone (Dates survive). The write queue, its bounds and
 * its dead letter stay in the CallManager, unchanged: this is only where a write executes.
 *
 * Guarantees:
 * - A write is acknowledged only after the worker's transaction has committed (WAL, synchronous=NORMAL:
 *   a commit survives a process crash), exactly as before.
 * - Errors keep what the CallManager classifies them by (name, code, the driver adapter's cause), so a
 *   constraint violation is still permanent (dead letter) and a locked database still transient (retry).
 * - A worker that dies fails its pending writes with WriterUnavailableError (transient: the CallManager
 *   retries them) and is replaced. A write not answered within `timeoutMs` fails the same way and the
 *   stuck worker is terminated (SQLite rolls back its open transaction; in the narrow window where the
 *   commit finished but the answer had not yet been posted, the retry can write a batch twice).
 * - close() lets the writes in flight finish, closes the connection and ends the thread.
 *
 * Hand-offs: the writes asked for in one turn of the event loop go to the thread as one message
 * (posted when the turn's I/O callbacks are done, setImmediate), and the thread answers the writes
 * it commits together in one message (write-worker.ts: group commit). A call's writes cost the main
 * thread fewer posts, and the thread fewer wake-ups and commits.
 */
import { Worker } from 'node:worker_threads';
import { moduleEntry } from '../runtime/module-entry';
import { noteHelperThread } from '../runtime/helper-threads';
import type { Analytics, Call, Prisma, Recording } from '../generated/prisma/client';
import type {
  CallPatch,
  CallStore,
  NewAnalytics,
  NewCall,
  NewCallEvent,
  NewMetadata,
  NewRecording,
  NewTranscript,
} from './call-repository';

/** The CallStore methods the worker runs, by name. */
export type WriteMethod = keyof CallStore;
/** What the main thread posts: always a list (the writes of one turn of its event loop). */
export type WriteRequest = { id: number; method: WriteMethod; args: unknown[] } | { id: 0; method: 'close' };
/** What of an error crosses the thread boundary: enough for write-errors.ts to classify it. */
export interface SerializedWriteError {
  name: string;
  message: string;
  code?: string;
  meta?: { driverAdapterError?: { cause?: { kind?: string; originalCode?: string; originalMessage?: string } } };
}
/** What the thread posts back: a list of these (the writes of one commit), or a WriterStatus. */
export type WriteReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedWriteError };
export type WriterStatus = { ready: true } | { ready: false; error: SerializedWriteError } | { closed: true };
export interface WriteWorkerData {
  databaseUrl: string;
  busyTimeoutMs?: number;
}

/** The writer could not run a write: its thread died, the write timed out, or the writer is closed. Transient. */
export class WriterUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriterUnavailableError';
  }
}

/** An error thrown by a write inside the worker, rebuilt with the fields write-errors.ts reads. */
export class WriteError extends Error {
  readonly code?: string;
  readonly meta?: SerializedWriteError['meta'];
  constructor(e: SerializedWriteError) {
    super(e.message);
    this.name = e.name;
    if (e.code !== undefined) this.code = e.code;
    if (e.meta !== undefined) this.meta = e.meta;
  }
}

export interface DbWriterOptions {
  /** busy_timeout of the write connection (default: src/db/prisma.ts's). */
  busyTimeoutMs?: number;
  /** A write not answered within this fails (transient) and the worker is replaced (default 30 s). */
  timeoutMs?: number;
  /** Called when the worker dies or is replaced (for the log). */
  onWorkerExit?: (reason: string) => void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Writes of this turn not yet posted (posted together by setImmediate). */
  outbox: WriteRequest[];
  retired: boolean;
  ready: Promise<void>;
  isReady: boolean;
}

export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;
const RESTART_DELAY_MS = 500;
const CLOSE_TIMEOUT_MS = 10_000;

export class DbWriter implements CallStore {
  private thread: Thread;
  private nextId = 1;
  private closed = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly timeoutMs: number;
  /** writes: asked for; posts: messages that carried them to the thread. */
  readonly stats = { writes: 0, posts: 0, workerRestarts: 0 };

  private constructor(
    private readonly data: WriteWorkerData,
    private readonly options: DbWriterOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
    this.thread = this.spawn();
  }

  /** Starts the writer thread and waits until it has opened the database (rejects if it cannot). */
  static async start(databaseUrl: string, options: DbWriterOptions = {}): Promise<DbWriter> {
    const writer = new DbWriter({ databaseUrl, busyTimeoutMs: options.busyTimeoutMs }, options);
    try {
      await writer.thread.ready;
    } catch (err) {
      await writer.close();
      throw err;
    }
    return writer;
  }

  /** The live worker (tests kill it). */
  get worker(): Worker {
    return this.thread.worker;
  }

  /** Writes sent and not yet answered. */
  get inFlight(): number {
    return this.thread.pending.size;
  }

  create(data: NewCall, metadata?: Omit<NewMetadata, 'callId'>): Promise<Call> {
    return this.run('create', [data, metadata]) as Promise<Call>;
  }
  findOrCreate(data: NewCall, metadata?: Omit<NewMetadata, 'callId'>): Promise<{ call: Call; created: boolean }> {
    return this.run('findOrCreate', [data, metadata]) as Promise<{ call: Call; created: boolean }>;
  }
  findById(id: string): Promise<Call | null> {
    return this.run('findById', [id]) as Promise<Call | null>;
  }
  findByCallSid(callSid: string): Promise<Call | null> {
    return this.run('findByCallSid', [callSid]) as Promise<Call | null>;
  }
  update(id: string, data: CallPatch): Promise<Call> {
    return this.run('update', [id, data]) as Promise<Call>;
  }
  insertBatch(transcripts: NewTranscript[], events: NewCallEvent[]): Promise<void> {
    return this.run('insertBatch', [transcripts, events]) as Promise<void>;
  }
  existingCallIds(ids: readonly string[]): Promise<Set<string>> {
    return this.run('existingCallIds', [ids]) as Promise<Set<string>>;
  }
  addRecording(data: NewRecording): Promise<Recording> {
    return this.run('addRecording', [data]) as Promise<Recording>;
  }
  upsertAnalytics(data: NewAnalytics): Promise<Analytics> {
    return this.run('upsertAnalytics', [data]) as Promise<Analytics>;
  }
  mergeMetadataCustom(callId: string, patch: Record<string, Prisma.InputJsonValue>): Promise<void> {
    return this.run('mergeMetadataCustom', [callId, patch]) as Promise<void>;
  }
  findOpenCalls(finalStatuses: readonly string[]): Promise<Call[]> {
    return this.run('findOpenCalls', [finalStatuses]) as Promise<Call[]>;
  }
  insertAuditEntries(rows: Prisma.AuditEntryCreateManyInput[]): Promise<void> {
    return this.run('insertAuditEntries', [rows]) as Promise<void>;
  }
  hasCampaignWork(): Promise<boolean> {
    return this.run('hasCampaignWork', []) as Promise<boolean>;
  }
  ping(): Promise<void> {
    return this.run('ping', []) as Promise<void>;
  }

  private run(method: WriteMethod, args: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new WriterUnavailableError('the database writer is closed'));
    const thread = this.thread;
    if (thread.retired) return Promise.reject(new WriterUnavailableError('the database writer is restarting'));
    const id = this.nextId++;
    this.stats.writes++;
    return new Promise<unknown>((resolve, reject) => {
      const pending: Pending = { resolve, reject, timer: undefined };
      // The clock runs once the thread is ready: a thread still starting (loading Prisma on a busy
      // machine) is not stuck, and replacing it would only start the wait over.
      void thread.ready.then(
        () => {
          if (!thread.pending.has(id)) return;
          pending.timer = setTimeout(() => {
            thread.pending.delete(id);
            reject(new WriterUnavailableError(`database write ${method} timed out after ${this.timeoutMs} ms`));
            // better-sqlite3 cannot be interrupted: replace the stuck thread (its transaction rolls back).
            this.retire(thread, `write ${method} timed out`, true);
            void thread.worker.terminate();
          }, this.timeoutMs);
        },
        () => undefined,
      );
      thread.pending.set(id, pending);
      thread.worker.ref();
      if (thread.outbox.push({ id, method, args }) === 1) setImmediate(() => this.post(thread));
    });
  }

  /** Posts the writes of this turn in one message. */
  private post(thread: Thread): void {
    const requests = thread.outbox.splice(0);
    if (requests.length === 0 || thread.retired) return;
    this.stats.posts++;
    try {
      thread.worker.postMessage(requests);
      return;
    } catch {
      // Arguments that cannot be cloned (a bug in a caller): that write fails, nothing else.
    }
    for (const request of requests) {
      try {
        this.stats.posts++;
        thread.worker.postMessage([request]);
      } catch (err) {
        const p = thread.pending.get(request.id);
        thread.pending.delete(request.id);
        clearTimeout(p?.timer);
        this.refIfBusy(thread);
        p?.reject(err as Error);
      }
    }
  }

  /** Lets the writes in flight finish, closes the connection and ends the thread. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const thread = this.thread;
    if (thread.retired) return;
    // Writes already posted are answered before the close message (one queue, in order). Referenced
    // until it has exited: the process must not end with the last writes still in the thread.
    thread.worker.ref();
    const exited = new Promise<void>((resolve) => thread.worker.once('exit', () => resolve()));
    this.post(thread);
    try {
      thread.worker.postMessage([{ id: 0, method: 'close' }] satisfies WriteRequest[]);
    } catch {
      /* already gone */
    }
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS).unref());
    if ((await Promise.race([exited, timeout])) === 'timeout') await thread.worker.terminate();
    thread.retired = true;
    this.failAll(thread, 'the database writer is closed');
  }

  private spawn(): Thread {
    const { file, execArgv } = moduleEntry(__filename, 'write-worker');
    // Kept referenced while it starts and while writes are waiting for it (the process must not
    // exit under an awaited write); unreferenced when idle, so an app never closed can still exit.
    const worker = new Worker(file, { workerData: this.data, execArgv });
    noteHelperThread(worker);
    let onReady!: () => void;
    let onFailed!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFailed = reject;
    });
    ready.catch(() => undefined);
    const thread: Thread = { worker, pending: new Map(), outbox: [], retired: false, ready, isReady: false };
    worker.on('message', (msg: WriteReply[] | WriterStatus) => {
      if (Array.isArray(msg)) {
        for (const reply of msg) this.answer(thread, reply);
        return;
      }
      if ('ready' in msg) {
        if (msg.ready) {
          thread.isReady = true;
          this.refIfBusy(thread);
          onReady();
        } else onFailed(new WriteError(msg.error));
      }
      // { closed: true }: the exit follows.
    });
    worker.on('error', (err) => {
      if (!thread.isReady) onFailed(err);
      this.retire(thread, `worker error: ${err.message}`, thread.isReady);
    });
    worker.on('exit', (code) => {
      if (!thread.isReady) onFailed(new Error(`database writer exited with code ${code} before it was ready`));
      this.retire(thread, `worker exited with code ${code}`, thread.isReady);
    });
    return thread;
  }

  private answer(thread: Thread, reply: WriteReply): void {
    const p = thread.pending.get(reply.id);
    if (!p) return; // timed out already
    thread.pending.delete(reply.id);
    this.refIfBusy(thread);
    clearTimeout(p.timer);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new WriteError(reply.error));
  }

  /** The thread is gone (or stuck): fail its writes and start a new one (at once, or after a delay if it never got ready). */
  private retire(thread: Thread, reason: string, wasReady: boolean): void {
    if (thread.retired) return;
    thread.retired = true;
    this.failAll(thread, `the database writer died (${reason})`);
    if (this.closed || thread !== this.thread) return;
    this.options.onWorkerExit?.(reason);
    this.stats.workerRestarts++;
    const restart = (): void => {
      this.restartTimer = undefined;
      if (!this.closed) this.thread = this.spawn();
    };
    if (wasReady) restart();
    else {
      this.restartTimer = setTimeout(restart, RESTART_DELAY_MS);
      this.restartTimer.unref();
    }
  }

  /** Referenced while starting or while writes wait for it; otherwise it does not keep the process alive. */
  private refIfBusy(thread: Thread): void {
    if (thread.retired && !this.closed) return;
    if (thread.isReady && thread.pending.size === 0 && !this.closed) thread.worker.unref();
    else thread.worker.ref();
  }

  private failAll(thread: Thread, message: string): void {
    thread.outbox.length = 0;
    for (const [id, p] of thread.pending) {
      clearTimeout(p.timer);
      p.reject(new WriterUnavailableError(message));
      thread.pending.delete(id);
    }
  }
}
