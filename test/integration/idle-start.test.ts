/**
 * An idle server holds no more than it needs: at start, with no campaign in the database, the
 * campaign dialler's check for work runs in the writer thread (already up for the call writes), so
 * no read worker (~35 MB) is started for it; the first API read starts one. With a running campaign
 * the dialler does recover (test/integration/campaigns-crash.test.ts).
 */
import path from 'node:path';
import { entryPointReport } from '../helpers/entry-point';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';

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
  async function loadedModules(): Promise<string[]> {
    const { report } = await entryPointReport({
      preload: `process.on('SIGUSR2', () => process.stdout.write('MODULES ' + JSON.stringify(Object.keys(require.cache)) + '\\n'));\n`,
      marker: 'MODULES',
      env: { NODE_ENV: 'development' },
    });
    return JSON.parse(report) as string[];
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
