/**
 * Entry of the database writer thread (started by DbWriter, src/db/db-writer.ts): opens the SQLite
 * write connection with the settings of src/db/prisma.ts (WAL, synchronous=NORMAL, busy timeout,
 * foreign keys) and runs the CallRepository methods the main thread sends, in the order they arrive,
 * answering each with its result or its error. On SQLite, transcript and event batches take a direct
 * better-sqlite3 path (sqlite-batch-insert.ts). A close message (queued behind every write sent
 * before it) disconnects and ends the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CallRepository } from './call-repository';
import type { WriteReply, WriteRequest, WriteWorkerData, WriterStatus } from './db-writer';
import { isPostgresUrl } from './dialect';
import { sqliteFilePath } from './paths';
import { createDb, SQLITE_BUSY_TIMEOUT_MS, type Db } from './prisma';
import { SqliteBatchInsert } from './sqlite-batch-insert';
import { serializeWriteError } from './write-errors';

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('write-worker.ts runs as a worker thread (see db-writer.ts)');
  const data = workerData as WriteWorkerData;
  let db: Db;
  try {
    db = await createDb(data.databaseUrl, { busyTimeoutMs: data.busyTimeoutMs });
  } catch (err) {
    port.postMessage({ ready: false, error: serializeWriteError(err) } satisfies WriterStatus);
    process.exit(1);
  }
  // On SQLite, transcripts and events skip Prisma (a batch ~0.3 ms instead of 4-7: sqlite-batch-insert.ts).
  let batches: SqliteBatchInsert | undefined;
  try {
    batches = isPostgresUrl(data.databaseUrl)
      ? undefined
      : new SqliteBatchInsert(sqliteFilePath(data.databaseUrl), data.busyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS);
  } catch (err) {
    port.postMessage({ ready: false, error: serializeWriteError(err) } satisfies WriterStatus);
    process.exit(1);
  }
  const repo = new CallRepository(db, batches);
  // One write at a time, in arrival order (as the main thread's single connection did).
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (req: WriteRequest) => {
    chain = chain.then(async () => {
      if (req.method === 'close') {
        batches?.close();
        await db.$disconnect().catch(() => undefined);
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
