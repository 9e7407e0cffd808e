/**
 * Entry of a read worker (started by ReadPool): opens its own read-only connection to the SQLite
 * file (or its own small pool to PostgreSQL) and runs the queries of READ_QUERIES that the pool sends as they arrive, answering each with
 * its result or its error. Under tsx / ts-jest this file is loaded through tsx's require hook; in
 * dist/ it is plain JS.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from '../generated/prisma/client';
import { isPostgresUrl } from './dialect';
import { sqliteFilePath } from './paths';
import { SQLITE_CACHE_KIB, SQLITE_MMAP_BYTES, type Db } from './prisma';
import {
  READ_QUERIES,
  type ReadReply,
  type ReadRequest,
  type ReadWorkerData,
  type SerializedError,
  type WorkerStatus,
} from './read-pool';
import type * as PostgresModule from './postgres';

// Loaded only for a PostgreSQL URL (the client and driver are ~3 MB of heap). `require`, not
// `import()`: under tsx's CommonJS hook an extensionless dynamic import fails.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadPostgres = (): typeof PostgresModule => require('./postgres') as typeof PostgresModule;

/** Connections of a PostgreSQL read worker's pool (its queries run concurrently). */
const READ_POOL_CONNECTIONS = 4;

function serializeError(err: unknown): SerializedError {
  const e = err as { name?: unknown; message?: unknown; code?: unknown; field?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(typeof e?.field === 'string' ? { field: e.field } : {}),
  };
}

/**
 * A read-only connection (it cannot write even by mistake, and in WAL mode it never blocks the
 * writer) with the read settings of src/db/prisma.ts: page cache, memory-mapped reads, temp tables
 * in memory. journal_mode and synchronous belong to the writer.
 */
async function openReadOnly(data: ReadWorkerData): Promise<Db> {
  // PostgreSQL: a small pool of its own (reads only by convention: the queries are READ_QUERIES).
  if (isPostgresUrl(data.databaseUrl))
    return loadPostgres().createPostgresDb(data.databaseUrl, { poolSize: READ_POOL_CONNECTIONS });
  const file = sqliteFilePath(data.databaseUrl);
  const adapter = new PrismaBetterSqlite3(
    { url: file, readonly: true, timeout: data.busyTimeoutMs },
    { timestampFormat: 'unixepoch-ms' },
  );
  const db = new PrismaClient({ adapter });
  await db.$queryRawUnsafe('PRAGMA query_only = ON');
  await db.$queryRawUnsafe(`PRAGMA busy_timeout = ${Math.round(data.busyTimeoutMs)}`);
  await db.$queryRawUnsafe(`PRAGMA cache_size = -${SQLITE_CACHE_KIB}`);
  await db.$queryRawUnsafe(`PRAGMA mmap_size = ${SQLITE_MMAP_BYTES}`);
  await db.$queryRawUnsafe('PRAGMA temp_store = MEMORY');
  return db;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('read-worker.ts runs as a worker thread (see read-pool.ts)');
  let db: Db;
  try {
    db = await openReadOnly(workerData as ReadWorkerData);
  } catch (err) {
    const status: WorkerStatus = { ready: false, error: serializeError(err) };
    port.postMessage(status);
    process.exit(1);
  }
  port.on('message', (req: ReadRequest) => {
    const query = READ_QUERIES[req.name] as ((db: Db, ...args: unknown[]) => Promise<unknown>) | undefined;
    const answer = query ? query(db, ...req.args) : Promise.reject(new Error(`unknown read query ${String(req.name)}`));
    const reply = (r: ReadReply): void => {
      try {
        port.postMessage(r);
      } catch (err) {
        // A result that cannot be cloned (a bug in a query) fails that query, not the worker.
        port.postMessage({ id: req.id, ok: false, error: serializeError(err) } satisfies ReadReply);
      }
    };
    answer.then(
      (value) => reply({ id: req.id, ok: true, value }),
      (err: unknown) => reply({ id: req.id, ok: false, error: serializeError(err) }),
    );
  });
  const ready: WorkerStatus = { ready: true };
  port.postMessage(ready);
}

void main();
