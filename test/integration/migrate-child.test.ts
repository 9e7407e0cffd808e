/**
 * Migrations in a child process (src/db/migrate-child.ts): the same result as in-process, errors
 * passed back, and the server's process keeps none of the schema engine's memory.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { applyPendingMigrationsInChild } from '../../src/db/migrate-child';
import { MIGRATIONS_DIR, PROJECT_ROOT } from '../../src/db/migrations';
import { readdirSync } from 'node:fs';
import Database from 'better-sqlite3';

const run = promisify(execFile);

describe('migrations in a child process', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchboard-migrate-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('applies every pending migration once, then none', async () => {
    const file = path.join(dir, 'fresh.db');
    const expected = readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect((await applyPendingMigrationsInChild(`file:${file}`)).sort()).toEqual(expected);
    const db = new Database(file, { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['Call', 'Transcript', 'CallEvent']));
    } finally {
      db.close();
    }
    expect(await applyPendingMigrationsInChild(`file:${file}`)).toEqual([]);
  });

  it('passes the failure back when the database cannot be opened', async () => {
    writeFileSync(path.join(dir, 'not-a-dir'), 'x');
    await expect(applyPendingMigrationsInChild(`file:${path.join(dir, 'not-a-dir', 'x.db')}`)).rejects.toThrow(
      /EEXIST|ENOTDIR|not a directory|unable to open/i,
    );
  });

  it('leaves the schema engine’s memory out of the calling process', async () => {
    // A fresh node process each way (jest's own heap would blur a 40 MB difference).
    const script = (inChild: boolean, file: string): string => `
      const m = require(${JSON.stringify(path.join(PROJECT_ROOT, 'src/db/migrations.ts'))});
      const c = require(${JSON.stringify(path.join(PROJECT_ROOT, 'src/db/migrate-child.ts'))});
      (async () => {
        global.gc();
        const before = process.memoryUsage().rss;
        await ${inChild ? 'c.applyPendingMigrationsInChild' : 'm.applyPendingMigrations'}(${JSON.stringify(`file:${file}`)});
        global.gc();
        await new Promise((r) => setTimeout(r, 200));
        global.gc();
        console.log(Math.round((process.memoryUsage().rss - before) / 1048576));
      })();`;
    const growth = async (inChild: boolean, name: string): Promise<number> => {
      const { stdout } = await run(
        process.execPath,
        ['--expose-gc', '--require', require.resolve('tsx/cjs'), '-e', script(inChild, path.join(dir, name))],
        { cwd: PROJECT_ROOT, timeout: 60_000 },
      );
      return Number(stdout.trim().split('\n').pop());
    };
    const inProcess = await growth(false, 'a.db');
    const inChild = await growth(true, 'b.db');
    // In process the schema engine stays resident (tens of MB; less when the machine is loaded and
    // the measurement noisier); in a child it leaves with the child.
    expect(inProcess).toBeGreaterThan(inChild + 10);
    expect(inChild).toBeLessThan(inProcess / 2);
  }, 120_000);
});
