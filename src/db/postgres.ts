/**
 * The PostgreSQL side of createDb (src/db/prisma.ts): Prisma's client generated from the derived
 * schema (src/generated/prisma-pg) on @prisma/adapter-pg, whose pg.Pool serves the queries of this
 * thread concurrently. The client has the same model API as the SQLite one, so it is handed out as
 * a Db; dialectOf(db) tells the query modules which SQL to send. None of the SQLite tuning (WAL,
 * PRAGMAs, busy timeout, read workers) applies here.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as PgPrismaClient } from '../generated/prisma-pg/client';
import { markPostgres } from './dialect';
import type { Db } from './prisma';

/** Connections of one client's pool (each instance has a writer and a main-thread client). */
export const PG_POOL_SIZE = 10;

export interface PostgresDbOptions {
  /** Connect at the first query instead of now (default false). */
  lazy?: boolean;
  /** Connections in the pool (default PG_POOL_SIZE). */
  poolSize?: number;
  /** Called when an idle pooled connection fails (the server restarted...); the pool replaces it. */
  onPoolError?: (err: Error) => void;
}

export async function createPostgresDb(databaseUrl: string, options: PostgresDbOptions = {}): Promise<Db> {
  const adapter = new PrismaPg(
    {
      connectionString: databaseUrl,
      max: options.poolSize ?? PG_POOL_SIZE,
      application_name: 'switchboard',
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
    },
    { onPoolError: options.onPoolError ?? (() => undefined) },
  );
  const db = markPostgres(new PgPrismaClient({ adapter }) as unknown as Db);
  if (!options.lazy) await db.$queryRawUnsafe('SELECT 1');
  return db;
}
