/**
 * Which database a DATABASE_URL (or a Db client) is: SQLite (`file:…`, the embedded default) or
 * PostgreSQL (`postgres://…` / `postgresql://…`, for several instances). The query modules of
 * src/db pick their SQL dialect with dialectOf(db); nothing above src/db needs to know.
 */
export type Dialect = 'sqlite' | 'postgres';

/** True for postgres:// and postgresql:// URLs. */
export function isPostgresUrl(databaseUrl: string): boolean {
  return /^postgres(ql)?:\/\//i.test(databaseUrl);
}

export function dialectOfUrl(databaseUrl: string): Dialect {
  return isPostgresUrl(databaseUrl) ? 'postgres' : 'sqlite';
}

/** The clients createDb (or a worker) made for PostgreSQL; any other client is SQLite. */
const postgresClients = new WeakSet<object>();

/** Marks a Prisma client as a PostgreSQL one (createDb does it). */
export function markPostgres<T extends object>(db: T): T {
  postgresClients.add(db);
  return db;
}

/** The dialect of a client made by createDb (clients built elsewhere, e.g. in tests, are SQLite). */
export function dialectOf(db: object): Dialect {
  return postgresClients.has(db) ? 'postgres' : 'sqlite';
}

/**
 * A URL safe to log: the password of a postgres:// URL is replaced (file: URLs are unchanged).
 */
export function redactDatabaseUrl(databaseUrl: string): string {
  if (!isPostgresUrl(databaseUrl)) return databaseUrl;
  try {
    const u = new URL(databaseUrl);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}
