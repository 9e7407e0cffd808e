/**
 * An idle server holds no more than it needs: at start, with no campaign in the database, the
 * campaign dialler's check for work runs in the writer thread (already up for the call writes), so
 * no read worker (~35 MB) is started for it; the first API read starts one. With a running campaign
 * the dialler does recover (test/integration/campaigns-crash.test.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../../scripts/lib/server-process';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

describe('idle start', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ API_TOKENS: 'idle-start-token-0123456789' });
  });
  afterAll(() => t.close());

  it('starts no read worker until the first API read', async () => {
    expect(t.sb.readPool).toBeDefined();
    expect(t.sb.readPool!.workers).toHaveLength(0);
    const res = await fetch(`${t.baseUrl}/api/calls`, {
      headers: { Authorization: 'Bearer idle-start-token-0123456789' },
    });
    expect(res.status).toBe(200);
    expect(t.sb.readPool!.workers).toHaveLength(1);
  });
});

/**
 * One instance on the embedded defaults (`npm start`) never loads what only other configurations use:
 * the NATS and Redis clients, the PostgreSQL driver and its Prisma client, the AWS SDK, the schema
 * engine's migrations module (it runs in a child). Each would be heap every major GC of the audio
 * thread marks (docs/benchmarks/bridge.md, "Heap the idle app holds"). The real entry point runs in
 * a child process, which lists its loaded modules on SIGUSR2.
 */
describe('modules of an idle server on the embedded defaults', () => {
  const ROOT = path.resolve(__dirname, '..', '..');
  let tmp: TempDir;
  let dir: string;
  beforeAll(() => {
    tmp = createTempDatabase();
    dir = mkdtempSync(path.join(tmpdir(), 'switchboard-modules-'));
  });
  afterAll(() => {
    tmp.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function loadedModules(): Promise<string[]> {
    const preload = path.join(dir, 'list-modules.cjs');
    writeFileSync(
      preload,
      `process.on('SIGUSR2', () => process.stdout.write('MODULES ' + JSON.stringify(Object.keys(require.cache)) + '\\n'));\n`,
    );
    const port = await freePort();
    const proc = spawn(
      process.execPath,
      [
        '--require',
        preload,
        '--import',
        pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href,
        path.join(ROOT, 'src', 'main.ts'),
      ],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          NODE_ENV: 'development',
          HOST: '127.0.0.1',
          PORT: String(port),
          DATABASE_URL: tmp.databaseUrl,
          RECORDING_STORAGE_PATH: tmp.recordingsDir,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
    try {
      return await new Promise<string[]>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no module list; stdout: ${out}; stderr: ${err}`)), 40_000);
        proc.stdout.on('data', (c: Buffer) => {
          const before = out;
          out += c.toString();
          if (!before.includes('switchboard listening') && out.includes('switchboard listening')) {
            void fetch(`http://127.0.0.1:${port}/health`).then(() => proc.kill('SIGUSR2'), reject);
          }
          const m = /MODULES (.*)\n/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(JSON.parse(m[1]) as string[]);
          }
        });
      });
    } finally {
      proc.kill('SIGKILL');
    }
  }

  it('has neither the cluster clients, nor PostgreSQL, nor the AWS SDK, nor the migrations module', async () => {
    const loaded = (await loadedModules()).map((f) => path.relative(ROOT, f));
    // The list is real: the server's own modules and express are in it.
    expect(loaded).toEqual(expect.arrayContaining([path.join('src', 'app.ts'), path.join('src', 'db', 'paths.ts')]));
    expect(loaded.some((f) => f.startsWith(path.join('node_modules', 'express', '')))).toBe(true);
    const unwanted = loaded.filter(
      (f) =>
        /^node_modules\/(@nats-io|ioredis|@aws-sdk|@smithy|pg|pg-pool|rate-limit-redis|@prisma\/adapter-pg|@prisma\/schema-engine-wasm)\//.test(
          f,
        ) ||
        /^src\/(db\/(migrations|postgres)\.ts|cluster\/(nats|redis)\/|recordings\/s3-|generated\/prisma-pg\/)/.test(f),
    );
    expect(unwanted).toEqual([]);
  }, 60_000);
});
