/**
 * Read pool: the HTTP API's read queries (call list, search, CSV export batches, analytics, call
 * detail, recording lookups) run in worker threads, each with its own read-only connection to the
 * SQLite file, so a 130 ms analytics query does not stall the main thread - and with it every live
 * call's audio. better-sqlite3 is synchronous; WAL lets these readers run beside the main
 * connection's writes without blocking them. With PostgreSQL each worker holds a small pg pool
 * instead: the I/O would not block, but Prisma's query compilation and the decoding of large
 * results (export batches) stay off the main thread all the same.
 *
 * The workers run the same query functions (READ_QUERIES) as the main thread would: no duplicated
 * SQL. Arguments and results cross by structured clone (Dates survive; the queries return no
 * BigInt). A worker that dies (or a query that runs past the timeout) fails the queries it held
 * with ReadPoolUnavailableError (the API answers 503) and is replaced; later queries go to the new
 * one.
 *
 * Memory: each worker is an isolate with its own Prisma query compiler (~35 MB resident). With
 * `lazy`, the pool starts no worker until the first read and lets a worker go after `idleMs` without
 * reads, so a server that only carries calls does not keep one resident.
 */
import { Worker } from 'node:worker_threads';
import { moduleEntry } from '../runtime/module-entry';
import { noteHelperThread } from '../runtime/helper-threads';
import { analyticsReport } from './analytics-queries';
import { callBatch, callExists, getCallDetail, latestRecording, listCalls } from './call-queries';
import type { Db } from './prisma';

/** The queries a read worker can run, by name. Each takes the worker's Db first. */
export const READ_QUERIES = {
  listCalls,
  callBatch,
  getCallDetail,
  callExists,
  latestRecording,
  analyticsReport,
} as const;

export type ReadQueries = typeof READ_QUERIES;
export type ReadName = keyof ReadQueries;
export type ReadArgs<K extends ReadName> = ReadQueries[K] extends (db: Db, ...args: infer A) => unknown ? A : never;
export type ReadResult<K extends ReadName> = Awaited<ReturnType<ReadQueries[K]>>;

/** Runs a read query by name: in a worker (ReadPool) or on a Db in this thread (inlineReads). */
export interface DbReads {
  run<K extends ReadName>(name: K, ...args: ReadArgs<K>): Promise<ReadResult<K>>;
}

type AnyQuery = (db: Db, ...args: unknown[]) => Promise<unknown>;

/** Runs the read queries on `db` in this thread (no pool: in-memory databases, or the pool turned off). */
export function inlineReads(db: Db): DbReads {
  return {
    run: (name, ...args) => (READ_QUERIES[name] as AnyQuery)(db, ...args) as Promise<never>,
  };
}

/** Messages between the pool and a worker. */
export type ReadRequest = { id: number; name: ReadName; args: unknown[] };
export type SerializedError = { name: string; message: string; code?: string; field?: string };
export type ReadReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };
export type WorkerStatus = { ready: true } | { ready: false; error: SerializedError };
export interface ReadWorkerData {
  databaseUrl: string;
  busyTimeoutMs: number;
}

/** The pool could not answer: its worker died, the query timed out, or the pool is closed. */
export class ReadPoolUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReadPoolUnavailableError';
  }
}

/** An error a query threw inside a worker, with its name, message and code (if any) kept. */
export class ReadQueryError extends Error {
  readonly code?: string;
  readonly field?: string;
  constructor(error: SerializedError) {
    super(error.message);
    this.name = error.name;
    this.code = error.code;
    this.field = error.field;
  }
}

export interface ReadPoolOptions {
  /** Worker threads (default 1: SQLite reads on a 2-core machine; more lets queries run in parallel). */
  size?: number;
  /** A query not answered within this is failed (503) and its worker replaced (default 30 s). */
  queryTimeoutMs?: number;
  /** busy_timeout of the read connections (reads in WAL mode rarely wait; default 1000 ms). */
  busyTimeoutMs?: number;
  /** Called when a worker dies or is replaced (for the log). */
  onWorkerExit?: (info: { slot: number; reason: string }) => void;
  /** Start the workers at the first read, not at start (default false). */
  lazy?: boolean;
  /** With `lazy`: a worker without a read for this long is stopped (default 60 s; 0 = never). */
  idleMs?: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

interface Slot {
  index: number;
  worker: Worker;
  pending: Map<number, Pending>;
  /** Set once this worker is being replaced or closed: its late replies and exit are ignored. */
  retired: boolean;
}

export const DEFAULT_QUERY_TIMEOUT_MS = 30_000;
export const DEFAULT_IDLE_MS = 60_000;
/** A worker that dies before it is ready is restarted after this (so a broken start does not spin). */
const RESTART_DELAY_MS = 1000;

export class ReadPool implements DbReads {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  private readonly queryTimeoutMs: number;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private readonly size: number;
  private idleTimer: NodeJS.Timeout | undefined;
  /** When the last read was answered (performance.now()): idleness counts from there, not from its start. */
  private lastAnsweredAt = 0;
  /** Workers started / stopped for being idle (lazy pools). */
  readonly stats = { started: 0, idleStops: 0 };

  private constructor(
    private readonly data: ReadWorkerData,
    private readonly options: ReadPoolOptions,
  ) {
    this.queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    this.size = Math.max(1, Math.floor(options.size ?? 1));
  }

  /**
   * Starts `size` workers and waits until each has opened its connection (rejects if one cannot);
   * with `lazy`, returns at once and starts them at the first read.
   */
  static async start(databaseUrl: string, options: ReadPoolOptions = {}): Promise<ReadPool> {
    const pool = new ReadPool({ databaseUrl, busyTimeoutMs: options.busyTimeoutMs ?? 1000 }, options);
    if (options.lazy) return pool;
    try {
      await Promise.all(Array.from({ length: pool.size }, (_, i) => pool.spawn(i)));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** The live workers (tests use this to kill one). */
  get workers(): readonly Worker[] {
    return this.slots.map((s) => s.worker);
  }

  /** Queries sent and not yet answered. */
  get inFlight(): number {
    return this.slots.reduce((n, s) => n + s.pending.size, 0);
  }

  run<K extends ReadName>(name: K, ...args: ReadArgs<K>): Promise<ReadResult<K>> {
    if (this.closed) return Promise.reject(new ReadPoolUnavailableError('the read pool is closed'));
    if (this.options.lazy) this.wake();
    // The least busy live worker (all equal: the first). None while a broken start waits to retry.
    const live = this.slots.filter((s) => !s.retired);
    if (live.length === 0) return Promise.reject(new ReadPoolUnavailableError('no read worker is running'));
    const slot = live.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    return new Promise<ReadResult<K>>((resolve, reject) => {
      const timer = setTimeout(() => {
        slot.pending.delete(id);
        reject(new ReadPoolUnavailableError(`read query ${name} timed out after ${this.queryTimeoutMs} ms`));
        // The worker is stuck in that query (better-sqlite3 cannot be interrupted): replace it.
        this.replace(slot, `query ${name} timed out`);
      }, this.queryTimeoutMs);
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      const request: ReadRequest = { id, name, args };
      slot.worker.postMessage(request);
    });
  }

  /**
   * Lazy pools: starts the workers that are not running (a query posted now waits in the worker's
   * port until it is ready) and pushes back the idle stop.
   */
  private wake(): void {
    for (let i = 0; i < this.size; i++) {
      const slot = this.slots[i];
      // A slot that died is restarted by onExit (at once, or after a delay): not here.
      if (!slot) {
        this.stats.started++;
        this.spawn(i).catch(() => undefined);
      }
    }
    const idleMs = this.options.idleMs ?? DEFAULT_IDLE_MS;
    if (idleMs <= 0) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stopIdle(), idleMs);
    this.idleTimer.unref();
  }

  /** No read for idleMs: stop the workers once none has a query in flight (else look again later). */
  private stopIdle(): void {
    this.idleTimer = undefined;
    if (this.closed) return;
    if (this.inFlight > 0) {
      this.idleTimer = setTimeout(() => this.stopIdle(), 1000);
      this.idleTimer.unref();
      return;
    }
    // A slow read (e.g. the first, which waited for the worker to start) answered less than idleMs ago.
    const sinceAnswer = performance.now() - this.lastAnsweredAt;
    const idleMs = this.options.idleMs ?? DEFAULT_IDLE_MS;
    if (sinceAnswer < idleMs) {
      this.idleTimer = setTimeout(() => this.stopIdle(), Math.ceil(idleMs - sinceAnswer));
      this.idleTimer.unref();
      return;
    }
    for (const slot of this.slots) {
      if (!slot) continue;
      slot.retired = true;
      void slot.worker.terminate();
      this.stats.idleStops++;
    }
    this.slots.length = 0;
  }

  /** Stops the workers; queries still in flight fail with ReadPoolUnavailableError. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    await Promise.all(
      this.slots.map(async (slot) => {
        slot.retired = true;
        this.failAll(slot, 'the read pool is closed');
        await slot.worker.terminate();
      }),
    );
  }

  /** Starts the worker of slot `index`; resolves when it is ready, rejects if it fails first. */
  private spawn(index: number): Promise<void> {
    const { file, execArgv } = moduleEntry(__filename, 'read-worker');
    const worker = new Worker(file, { workerData: this.data, execArgv });
    noteHelperThread(worker);
    // An app that is never closed must not be kept alive by its read workers.
    worker.unref();
    const slot: Slot = { index, worker, pending: new Map(), retired: false };
    this.slots[index] = slot;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on('message', (msg: ReadReply | WorkerStatus) => {
        if ('ready' in msg) {
          if (msg.ready) {
            ready = true;
            resolve();
          } else reject(new ReadQueryError(msg.error));
          return;
        }
        if (slot.retired) return;
        const p = slot.pending.get(msg.id);
        if (!p) return; // timed out already
        slot.pending.delete(msg.id);
        clearTimeout(p.timer);
        this.lastAnsweredAt = performance.now();
        if (msg.ok) p.resolve(msg.value);
        else p.reject(new ReadQueryError(msg.error));
      });
      worker.on('error', (err) => {
        if (!ready) reject(err);
        this.onExit(slot, `worker error: ${err.message}`, ready);
      });
      worker.on('exit', (code) => {
        if (!ready) reject(new Error(`read worker exited with code ${code} before it was ready`));
        this.onExit(slot, `worker exited with code ${code}`, ready);
      });
    });
  }

  private onExit(slot: Slot, reason: string, wasReady: boolean): void {
    if (slot.retired) return;
    slot.retired = true;
    this.failAll(slot, `the read worker died (${reason})`);
    this.options.onWorkerExit?.({ slot: slot.index, reason });
    if (this.closed) return;
    const restart = (): void => {
      if (this.closed) return;
      // A failed restart is reported through onExit again and retried after the delay.
      this.spawn(slot.index).catch(() => undefined);
    };
    if (wasReady) restart();
    else {
      const t = setTimeout(() => {
        this.restartTimers.delete(t);
        restart();
      }, RESTART_DELAY_MS);
      t.unref();
      this.restartTimers.add(t);
    }
  }

  /** Retires a stuck worker: its queries fail, a fresh one takes its place. */
  private replace(slot: Slot, reason: string): void {
    if (slot.retired || this.closed) return;
    this.onExit(slot, reason, true);
    void slot.worker.terminate();
  }

  private failAll(slot: Slot, message: string): void {
    for (const [id, p] of slot.pending) {
      clearTimeout(p.timer);
      p.reject(new ReadPoolUnavailableError(message));
      slot.pending.delete(id);
    }
  }
}
