/**
 * Prisma client factory. SQLite through the better-sqlite3 driver adapter, in WAL mode with a busy
 * timeout and an explicit synchronous level (the process that first switches a file to WAL would
 * otherwise keep FULL while later ones get NORMAL). Dates are stored as Unix milliseconds.
 */
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from '../generated/prisma/client';
import { prepareSqliteFile, sqliteFilePath } from './migrations';

export type Db = PrismaClient;
export { PrismaClient };

/**
 * better-sqlite3 is synchronous: while a write waits for another connection's lock (a backup, an
 * operator's sqlite3 shell), the whole event loop - every call's audio - waits with it. So the wait is
 * kept short, and the CallManager retries failed writes asynchronously with backoff instead.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 100;
/** NORMAL in WAL mode: a commit survives a process crash (kill -9); only an OS crash can lose the last ones. */
export const SQLITE_SYNCHRONOUS = 'NORMAL';
/**
 * Read performance of the list, search and analytics queries over a large history: a 64 MiB page
 * cache and memory-mapped reads of up to 256 MiB of the file (address space, backed by the OS page
 * cache). The read workers of src/db/read-pool.ts use the same settings.
 */
export const SQLITE_CACHE_KIB = 64 * 1024;
export const SQLITE_MMAP_BYTES = 256 * 1024 * 1024;

export interface CreateDbOptions {
  /** How long a write waits for another connection's lock before failing (default SQLITE_BUSY_TIMEOUT_MS). */
  busyTimeoutMs?: number;
}

export async function createDb(databaseUrl: string, options: CreateDbOptions = {}): Promise<Db> {
  const file = sqliteFilePath(databaseUrl);
  prepareSqliteFile(file);
  const busyTimeoutMs = options.busyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS;
  const adapter = new PrismaBetterSqlite3({ url: file, timeout: busyTimeoutMs }, { timestampFormat: 'unixepoch-ms' });
  const db = new PrismaClient({ adapter });
  await db.$queryRawUnsafe('PRAGMA journal_mode = WAL');
  await db.$executeRawUnsafe(`PRAGMA synchronous = ${SQLITE_SYNCHRONOUS}`);
  await db.$executeRawUnsafe(`PRAGMA busy_timeout = ${Math.round(busyTimeoutMs)}`);
  await db.$executeRawUnsafe('PRAGMA foreign_keys = ON');
  await db.$queryRawUnsafe(`PRAGMA cache_size = -${SQLITE_CACHE_KIB}`);
  await db.$queryRawUnsafe(`PRAGMA mmap_size = ${SQLITE_MMAP_BYTES}`);
  await db.$executeRawUnsafe('PRAGMA temp_store = MEMORY');
  return db;
}

/** Reads back the pragmas that matter (for /health and tests). */
export async function readSqliteSettings(
  db: Db,
): Promise<{ journalMode: string; synchronous: number; busyTimeoutMs: number }> {
  const [jm] = await db.$queryRawUnsafe<{ journal_mode: string }[]>('PRAGMA journal_mode');
  const [sync] = await db.$queryRawUnsafe<{ synchronous: number | bigint }[]>('PRAGMA synchronous');
  const [busy] = await db.$queryRawUnsafe<{ timeout: number | bigint }[]>('PRAGMA busy_timeout');
  return { journalMode: jm.journal_mode, synchronous: Number(sync.synchronous), busyTimeoutMs: Number(busy.timeout) };
}
