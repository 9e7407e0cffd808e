/**
 * Where the project and a SQLite database live on disk. Kept apart from migrations.ts, which loads
 * the schema engine and the PostgreSQL driver, so the server's main thread needs neither.
 */
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';

export const PROJECT_ROOT = path.resolve(
  __dirname,
  '..',
  '..',
  ...(__dirname.includes(`${path.sep}dist${path.sep}`) ? ['..'] : []),
);
/** Turns `file:./data/x.db` (relative to the project root, as Prisma does) into a path. */
export function sqliteFilePath(databaseUrl: string): string {
  const raw = databaseUrl.replace(/^file:/, '').split('?')[0];
  if (raw === ':memory:') return raw;
  return path.isAbsolute(raw) ? raw : path.resolve(PROJECT_ROOT, raw);
}

/**
 * Creates the database's folder (0700) and an empty database file (0600) before SQLite opens it, so
 * the file, and the -wal/-shm files SQLite gives the same permissions, are the owner's only: they
 * hold phone numbers and transcripts. An existing file keeps the permissions its operator chose.
 */
export function prepareSqliteFile(file: string): void {
  if (file === ':memory:') return;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
}
