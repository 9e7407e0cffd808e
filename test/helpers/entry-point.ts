/**
 * The real entry point (src/main.ts) in a child process under tsx, with a preloaded script that
 * reports something on SIGUSR2: the child is signalled once it says `switchboard listening` and has
 * answered GET /health, and the first line the preload writes starting with `marker` is returned
 * (with everything the child printed until then). The child runs in a fresh folder with its own
 * migrated database and recordings folder; it is killed and the folder removed afterwards. Used by
 * idle-start.test.ts (the modules loaded) and settle-heap.test.ts (the GCs made before listening);
 * config-startup.test.ts starts main.ts with spawnMain() alone.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../../scripts/lib/server-process';
import { createTempDatabase } from '../../scripts/lib/test-db';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * src/main.ts in a child process under tsx (by absolute URL: `--import tsx` would not resolve from a
 * temporary folder), with stdout and stderr piped and an environment of exactly PATH, HOME, HOST,
 * PORT and `env` (so a developer's .env or shell cannot leak in); `preload` is a CommonJS file run first.
 */
export function spawnMain(opts: {
  cwd: string;
  port: number;
  env: Record<string, string>;
  preload?: string;
}): ChildProcessByStdio<null, Readable, Readable> {
  const tsx = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  return spawn(
    process.execPath,
    [...(opts.preload ? ['--require', opts.preload] : []), '--import', tsx, path.join(ROOT, 'src', 'main.ts')],
    {
      cwd: opts.cwd,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        HOST: '127.0.0.1',
        PORT: String(opts.port),
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

export interface EntryPointReport {
  /** What followed `marker ` on the preload's line. */
  report: string;
  /** Everything the child wrote to stdout until then (its logs). */
  stdout: string;
}

export async function entryPointReport(opts: {
  /** CommonJS source run before the server's code; it writes `${marker} ...\n` on SIGUSR2. */
  preload: string;
  marker: string;
  /** The child's environment besides PATH, HOME, HOST, PORT, DATABASE_URL and RECORDING_STORAGE_PATH. */
  env: Record<string, string>;
  timeoutMs?: number;
}): Promise<EntryPointReport> {
  const tmp = createTempDatabase();
  const preload = path.join(tmp.dir, 'entry-point-preload.cjs');
  writeFileSync(preload, opts.preload);
  const port = await freePort();
  const proc = spawnMain({
    cwd: tmp.dir,
    port,
    preload,
    env: { DATABASE_URL: tmp.databaseUrl, RECORDING_STORAGE_PATH: tmp.recordingsDir, ...opts.env },
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const line = new RegExp(`${opts.marker} (.*)\\n`);
  try {
    return await new Promise<EntryPointReport>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${opts.marker} report; stdout: ${out}; stderr: ${err}`)),
        opts.timeoutMs ?? 40_000,
      );
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${code}); stdout: ${out}; stderr: ${err}`));
      });
      proc.stdout.on('data', (c: Buffer) => {
        const before = out;
        out += c.toString();
        if (!before.includes('switchboard listening') && out.includes('switchboard listening')) {
          void fetch(`http://127.0.0.1:${port}/health`).then(() => proc.kill('SIGUSR2'), reject);
        }
        const m = line.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve({ report: m[1], stdout: out });
        }
      });
    });
  } finally {
    proc.kill('SIGKILL');
    tmp.cleanup();
  }
}
