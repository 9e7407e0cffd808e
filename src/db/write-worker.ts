/**
 * Entry of the database writer thread (started by DbWriter, src/db/db-writer.ts): opens the write
 * connection and runs the CallStore methods the main thread sends, in the order they arrive,
 * answering each with its result or its error. On SQLite that is SqliteCallStore
 * (sqlite-writes/sqlite-call-store.ts: better-sqlite3 directly, with the settings of
 * sqlite-settings.ts; this thread never loads Prisma); on PostgreSQL, CallRepository through Prisma.
 * A close message (queued behind every write sent before it) closes the connection and ends the thread.
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

interface OpenStore {
  store: CallStore;
  close(): Promise<void>;
}

async function openStore(data: WriteWorkerData): Promise<OpenStore> {
  if (!isPostgresUrl(data.databaseUrl)) {
    const store = SqliteCallStore.open(sqliteFilePath(data.databaseUrl), data.busyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS);
    return { store, close: () => Promise.resolve(store.close()) };
  }
  // Prisma (client, query compiler, pg) only for PostgreSQL. `require`, as in prisma.ts.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createDb } = require('./prisma') as typeof PrismaModule;
  const db = await createDb(data.databaseUrl, { busyTimeoutMs: data.busyTimeoutMs });
  return { store: new CallRepository(db), close: () => db.$disconnect().catch(() => undefined) };
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
  const repo = opened.store;
  // One write at a time, in arrival order (as the main thread's single connection did).
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (req: WriteRequest) => {
    chain = chain.then(async () => {
      if (req.method === 'close') {
        await opened.close().catch(() => undefined);
        port.postMessage({ closed: true } satisfies WriterStatus);
        port.close();
        process.exit(0);
      }
      let reply: WriteReply;
      try {
        const method = repo[req.method] as ((...args: unknown[]) => Promise<unknown>) | undefined;
        if (typeof method !== 'function') throw new Error(`unknown write ${String(req.method)}`);
        reply = { id: req.id, ok: true, value: await method.apply(repo, req.args) };
      } catch (err) {
        reply = { id: req.id, ok: false, error: serializeWriteError(err) };
      }
      try {
        port.postMessage(reply);
      } catch (err) {
        port.postMessage({ id: req.id, ok: false, error: serializeWriteError(err) } satisfies WriteReply);
      }
    });
  });
  port.postMessage({ ready: true } satisfies WriterStatus);
}

void main();
