/**
 * Applies pending migrations in a short-lived child process instead of the server's own.
 *
 * Prisma's schema engine is a large WebAssembly module; once it has run in a process, 40-65 MB of it
 * stay resident for the life of that process (measured: RSS 39 -> 85-112 MB after
 * applyPendingMigrations and a full GC; a worker thread gives back only part of it, since its
 * allocator arenas stay with the process). The server only needs the result, so the engine runs in
 * a child that exits when done, and the server starts without that memory.
 *
 * The server's process never loads migrations.ts (the schema engine's glue, the PostgreSQL driver:
 * ~2.5 MB of heap every major GC would mark); only the child imports it.
 *
 * Run as a script (the child), this file applies the migrations of the URL in argv and reports the
 * outcome over IPC.
 */
import { fork } from 'node:child_process';
import { moduleEntry } from '../runtime/module-entry';
import type * as MigrationsModule from './migrations';

type ChildReply = { ok: true; applied: string[] } | { ok: false; message: string; stack?: string };

/** Applies every pending migration to `databaseUrl` in a child process; resolves with their names. */
export function applyPendingMigrationsInChild(databaseUrl: string, timeoutMs = 120_000): Promise<string[]> {
  // The child runs this file (through tsx's hook when running from sources).
  const { file, execArgv } = moduleEntry(__filename);
  return new Promise<string[]>((resolve, reject) => {
    const child = fork(file, ['--migrate', databaseUrl], {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env },
    });
    let reply: ChildReply | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`migrations did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (msg: ChildReply) => {
      reply = msg;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (reply?.ok) resolve(reply.applied);
      else if (reply) {
        const err = new Error(reply.message);
        if (reply.stack) err.stack = reply.stack;
        reject(err);
      } else reject(new Error(`the migration process exited (${signal ?? `code ${code}`}) without a result`));
    });
  });
}

if (require.main === module && process.argv[2] === '--migrate' && process.send) {
  const send = (msg: ChildReply): void => {
    process.send!(msg, () => process.exit(msg.ok ? 0 : 1));
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { applyPendingMigrations } = require('./migrations') as typeof MigrationsModule;
  applyPendingMigrations(process.argv[3]).then(
    (applied) => send({ ok: true, applied }),
    (err: unknown) =>
      send({ ok: false, message: (err as Error)?.message ?? String(err), stack: (err as Error)?.stack }),
  );
}
