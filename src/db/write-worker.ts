/**
 * Entry of the database writer thread (started by DbWriter, src/db/db-writer.ts): opens the write
 * connection and runs the CallStore methods the main thread sends, in the order they arrive,
 * answering each with its result or its error. On SQLite that is SqliteCallStore
 * (sqlite-writes/sqlite-call-store.ts: better-sqlite3 directly, with the settings of
 * sqlite-settings.ts; this thread never loads Prisma); on PostgreSQL, CallRepository through Prisma.
 * A close message (queued behind every write sent before it) closes the connection and ends the thread.
 *
 * Group commit (SQLite): the writes that are waiting when the thread gets to them (every message
 * that arrived since it last looked, up to MAX_GROUP) run in one transaction, with one commit, and
 * are answered in one message once it has committed. A write never sees a result that is not yet
 * durable, and a write that fails inside a group fails alone: the group is rolled back at once and
 * its writes run again one by one, each in its own transaction, exactly as without grouping.
 * PostgreSQL runs them one by one (its client is asynchronous; a group would hold a pooled
 * connection in a transaction across awaits).
 */
import { parentPort, workerData } from 'node:worker_threads';
// call-repository.ts imports only Prisma's types: loading it does not load Prisma.
import { CallRepository, type CallStore } from './call-repository';
import type { WriteReply, WriteRequest, WriteWorkerData, WriterStatus } from './db-writer';
import { isPostgresUrl } from './dialect';
import { sqliteFilePath } from './paths';
import type * as PrismaModule from './prisma';
import { SQLITE_BUSY_TIMEOUT_MS } from './sqlite-settings';
import { SqliteCallStore } from './sqlite-writes/sqlite-call-store';
import { serializeWriteError } from './write-errors';

/** At most this many writes share a transaction (a bound on how long one commit holds the lock). */
export const MAX_GROUP = 64;

interface OpenStore {
  store: CallStore;
  /** Runs the writes `work` starts in one transaction; false (all rolled back) if one of them failed. */
  group?: (work: (stop: () => boolean) => void) => boolean;
  close(): Promise<void>;
}

/** A write request (not the close). */
type Write = { id: number; method: Exclude<WriteRequest['method'], 'close'>; args: unknown[] };

async function openStore(data: WriteWorkerData): Promise<OpenStore> {
  if (!isPostgresUrl(data.databaseUrl)) {
    const store = SqliteCallStore.open(sqliteFilePath(data.databaseUrl), data.busyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS);
    return { store, group: (work) => store.group(work), close: () => Promise.resolve(store.close()) };
  }
  // Prisma (client, query compiler, pg) only for PostgreSQL. `require`, as in prisma.ts.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createDb } = require('./prisma') as typeof PrismaModule;
  const db = await createDb(data.databaseUrl, { busyTimeoutMs: data.busyTimeoutMs });
  return { store: new CallRepository(db), close: () => db.$disconnect().catch(() => undefined) };
}

/** Starts one write; a method that throws instead of rejecting becomes a rejection. */
function start(store: CallStore, req: Write): Promise<unknown> {
  try {
    const method = store[req.method] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (typeof method !== 'function') throw new Error(`unknown write ${String(req.method)}`);
    return method.apply(store, req.args);
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

async function settle(req: Write, outcome: Promise<unknown>): Promise<WriteReply> {
  try {
    return { id: req.id, ok: true, value: await outcome };
  } catch (err) {
    return { id: req.id, ok: false, error: serializeWriteError(err) };
  }
}

/** Runs writes (no close among them): a group answered together once committed, else one by one. */
async function runWrites(opened: OpenStore, writes: Write[], answer: (replies: WriteReply[]) => void): Promise<void> {
  let replies: WriteReply[] | undefined;
  if (opened.group && writes.length > 1) {
    const outcomes: Promise<unknown>[] = [];
    const committed = opened.group((stop) => {
      for (const w of writes) {
        outcomes.push(start(opened.store, w));
        if (stop()) return;
      }
    });
    for (const o of outcomes) o.catch(() => undefined);
    if (committed) replies = await Promise.all(writes.map((w, i) => settle(w, outcomes[i])));
  }
  if (replies) {
    answer(replies);
    return;
  }
  // One by one (PostgreSQL, a lone write, or a group that failed): each answered as soon as it is done.
  for (const w of writes) answer([await settle(w, start(opened.store, w))]);
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('write-worker.ts runs as a worker thread (see db-writer.ts)');
  const data = workerData as WriteWorkerData;
  let opened: OpenStore;
  try {
    opened = await openStore(data);
  } catch (err) {
    port.postMessage({ ready: false, error: serializeWriteError(err) } satisfies WriterStatus);
    process.exit(1);
  }
  const answer = (replies: WriteReply[]): void => {
    try {
      port.postMessage(replies);
    } catch {
      // A result that cannot be cloned (a bug): each write of the group is answered on its own.
      for (const r of replies) {
        try {
          port.postMessage([r]);
        } catch (err) {
          port.postMessage([{ id: r.id, ok: false, error: serializeWriteError(err) }] satisfies WriteReply[]);
        }
      }
    }
  };
  // Writes wait here until the thread gets to them; then the waiting ones run, in arrival order, in
  // groups of at most MAX_GROUP. One group at a time (as the main thread's single connection did).
  const waiting: WriteRequest[] = [];
  let running = false;
  const drain = async (): Promise<void> => {
    running = true;
    try {
      await drainWaiting();
    } finally {
      running = false;
    }
  };
  const drainWaiting = async (): Promise<void> => {
    while (waiting.length > 0) {
      const closeAt = waiting.findIndex((r) => r.method === 'close');
      const take = Math.min(closeAt < 0 ? waiting.length : closeAt, MAX_GROUP);
      if (take === 0) {
        await opened.close().catch(() => undefined);
        port.postMessage({ closed: true } satisfies WriterStatus);
        port.close();
        process.exit(0);
      }
      await runWrites(opened, waiting.splice(0, take) as Write[], answer);
    }
  };
  port.on('message', (msg: WriteRequest[] | WriteRequest) => {
    if (Array.isArray(msg)) for (const req of msg) waiting.push(req);
    else waiting.push(msg);
    // After the other messages already delivered with this one: they join the same group.
    if (!running) {
      running = true;
      setImmediate(() => void drain());
    }
  });
  port.postMessage({ ready: true } satisfies WriterStatus);
}

void main();
