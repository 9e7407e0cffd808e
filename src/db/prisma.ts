/**
 * Prisma client factory, by DATABASE_URL: PostgreSQL (postgres://) through src/db/postgres.ts, or
 * SQLite (file:) through the better-sqlite3 driver adapter, in WAL mode with a busy timeout and an
 * explicit synchronous level (the process that first switches a file to WAL would otherwise keep
 * FULL while later ones get NORMAL). SQLite stores dates as Unix milliseconds.
 */
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from '../generated/prisma/client';
import { isPostgresUrl } from './dialect';
import { prepareSqliteFile, sqliteFilePath } from './paths';
import {
  connectionPragmas,
  SQLITE_BUSY_TIMEOUT_MS,
  SQLITE_CACHE_KIB,
  SQLITE_MMAP_BYTES,
  SQLITE_SYNCHRONOUS,
} from './sqlite-settings';
import type * as PostgresModule from './postgres';

// Loaded only for a PostgreSQL URL (the client and driver are ~3 MB of heap). `require`, not
// `import()`: under tsx's CommonJS hook an extensionless dynamic import fails.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadPostgres = (): typeof PostgresModule => require('./postgres') as typeof PostgresModule;

export type Db = PrismaClient;
export { PrismaClient };

export { SQLITE_BUSY_TIMEOUT_MS, SQLITE_CACHE_KIB, SQLITE_MMAP_BYTES, SQLITE_SYNCHRONOUS } from './sqlite-settings';

export interface CreateDbOptions {
  /** How long a write waits for another connection's lock before failing (default SQLITE_BUSY_TIMEOUT_MS). */
  busyTimeoutMs?: number;
  /**
   * Connect at the first query instead of now. Prisma's query compiler (WebAssembly) and the SQLite
   * connection cost ~40 MB of resident memory per thread that uses them; the server's main thread
   * hands its writes to the writer thread and its API reads to the read pool, so it connects only
   * if something still queries here (a notes update, tests). The settings below apply either way.
   */
  lazy?: boolean;
  /** PostgreSQL: connections in the pool (default src/db/postgres.ts PG_POOL_SIZE). */
  poolSize?: number;
}

/** The better-sqlite3 adapter, with the connection settings applied as soon as it connects (lazily or not). */
class PragmaSqlite3 extends PrismaBetterSqlite3 {
  constructor(
    config: ConstructorParameters<typeof PrismaBetterSqlite3>[0],
    options: ConstructorParameters<typeof PrismaBetterSqlite3>[1],
    private readonly pragmas: string[],
  ) {
    super(config, options);
  }

  override async connect(): ReturnType<PrismaBetterSqlite3['connect']> {
    const adapter = await super.connect();
    for (const sql of this.pragmas) await adapter.queryRaw({ sql, args: [], argTypes: [] });
    return adapter;
  }
}

export async function createDb(databaseUrl: string, options: CreateDbOptions = {}): Promise<Db> {
  // The PostgreSQL client and driver (~3 MB of heap) load only for a PostgreSQL URL.
  if (isPostgresUrl(databaseUrl))
    return loadPostgres().createPostgresDb(databaseUrl, {
      lazy: options.lazy,
      poolSize: options.poolSize,
    });
  const file = sqliteFilePath(databaseUrl);
  prepareSqliteFile(file);
  const busyTimeoutMs = options.busyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS;
  const adapter = new PragmaSqlite3(
    { url: file, timeout: busyTimeoutMs },
    { timestampFormat: 'unixepoch-ms' },
    connectionPragmas(busyTimeoutMs),
  );
  const db = new PrismaClient({ adapter });
  if (options.lazy) return db;
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
