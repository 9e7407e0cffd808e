/**
 * Entry of the database writer thread (started by DbWriter, src/db/db-writer.ts): opens the SQLite
 * write connection with the settings of src/db/prisma.ts (WAL, synchronous=NORMAL, busy timeout,
 * foreign keys) and runs the CallRepository methods the main thread sends, in the order they arrive,
 * answering each with its result or its error. A close message (queued behind every write sent
 * before it) disconnects and ends the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CallRepository } from './call-repository';
import type { SerializedWriteError, WriteReply, WriteRequest, WriteWorkerData, WriterStatus } from './db-writer';
import { createDb, type Db } from './prisma';

/** Keeps what write-errors.ts classifies by: name, message, Prisma's code, the driver adapter's cause. */
export function serializeWriteError(err: unknown): SerializedWriteError {
  const e = err as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    meta?: { driverAdapterError?: { cause?: Record<string, unknown> } };
  } | null;
  const cause = e?.meta?.driverAdapterError?.cause;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return {
    name: str(e?.name) ?? 'Error',
    message: str(e?.message) ?? String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(cause
      ? {
          meta: {
            driverAdapterError: {
              cause: {
                kind: str(cause.kind),
                originalCode: str(cause.originalCode),
                originalMessage: str(cause.originalMessage),
              },
            },
          },
        }
      : {}),
  };
}

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
  const repo = new CallRepository(db);
  // One write at a time, in arrival order (as the main thread's single connection did).
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (req: WriteRequest) => {
    chain = chain.then(async () => {
      if (req.method === 'close') {
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
