/**
 * The SQLite connection settings every connection of the server uses (Prisma's, src/db/prisma.ts, and
 * the writer thread's direct one, src/db/sqlite-writes/). No Prisma here: the writer thread loads
 * this without loading Prisma's client.
 */

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

/** The connection settings, run on every new connection (see PragmaSqlite3). */
export function connectionPragmas(busyTimeoutMs: number): string[] {
  return [
    'PRAGMA journal_mode = WAL',
    `PRAGMA synchronous = ${SQLITE_SYNCHRONOUS}`,
    `PRAGMA busy_timeout = ${Math.round(busyTimeoutMs)}`,
    'PRAGMA foreign_keys = ON',
    `PRAGMA cache_size = -${SQLITE_CACHE_KIB}`,
    `PRAGMA mmap_size = ${SQLITE_MMAP_BYTES}`,
    'PRAGMA temp_store = MEMORY',
  ];
}
