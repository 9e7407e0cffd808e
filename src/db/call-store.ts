/**
 * Where the CallManager's database writes run: by default in the database writer thread (DbWriter,
 * src/db/db-writer.ts), so Prisma's query preparation and SQLite's synchronous I/O stay off the main
 * thread that carries every call's audio. On this thread instead (a CallRepository on `db`) for an
 * in-memory database (a worker cannot share it), when asked (`inThread`), or when the writer cannot
 * start (logged; the server still runs). The same holds for PostgreSQL: the thread then keeps
 * Prisma's query compilation (not I/O, which pg does asynchronously) off the main thread.
 */
import { CallRepository, type CallStore } from './call-repository';
import { DbWriter, type DbWriterOptions } from './db-writer';
import { sqliteFilePath } from './paths';
import type { Db } from './prisma';

export interface OpenedCallStore {
  store: CallStore;
  /** The writer thread, when the writes run in one. */
  writer: DbWriter | undefined;
  /** Ends the writer thread (after the writes in flight); call after CallManager.close(). */
  close(): Promise<void>;
}

export interface OpenCallStoreOptions extends DbWriterOptions {
  /** Run the writes on this thread, on `db` (default false). */
  inThread?: boolean;
  /** The writer thread could not start: the writes run on this thread. */
  onFallback?: (err: Error) => void;
}

export async function openCallStore(
  databaseUrl: string,
  db: Db,
  options: OpenCallStoreOptions = {},
): Promise<OpenedCallStore> {
  const inline = (): OpenedCallStore => ({
    store: new CallRepository(db),
    writer: undefined,
    close: () => Promise.resolve(),
  });
  if (options.inThread || sqliteFilePath(databaseUrl) === ':memory:') return inline();
  try {
    const writer = await DbWriter.start(databaseUrl, options);
    return { store: writer, writer, close: () => writer.close() };
  } catch (err) {
    options.onFallback?.(err as Error);
    return inline();
  }
}
