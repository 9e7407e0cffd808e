/** src/runtime/module-entry.ts: which file a worker thread or child process runs, from sources and from dist/. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { moduleEntry } from '../../src/runtime/module-entry';

describe('moduleEntry', () => {
  it("from a source file: the .ts sibling, through tsx's require hook", () => {
    const entry = moduleEntry('/app/src/db/db-writer.ts', 'write-worker');
    expect(entry.file).toBe('/app/src/db/write-worker.ts');
    expect(entry.execArgv).toEqual(['--require', require.resolve('tsx/cjs')]);
  });

  it('from a built file: the .js sibling, with no hook', () => {
    expect(moduleEntry('/app/dist/src/db/db-writer.js', 'write-worker')).toEqual({
      file: '/app/dist/src/db/write-worker.js',
      execArgv: [],
    });
  });

  it('without a name: the file itself (a child process running its own module)', () => {
    expect(moduleEntry('/app/dist/src/db/migrate-child.js')).toEqual({
      file: '/app/dist/src/db/migrate-child.js',
      execArgv: [],
    });
    expect(moduleEntry('/app/src/db/migrate-child.ts').file).toBe('/app/src/db/migrate-child.ts');
  });

  it('runs a TypeScript sibling for real with the arguments it gives', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'module-entry-'));
    try {
      writeFileSync(path.join(dir, 'child.ts'), 'const n: number = 41;\nprocess.stdout.write(String(n + 1));\n');
      const entry = moduleEntry(path.join(dir, 'parent.ts'), 'child');
      const out = execFileSync(process.execPath, [...entry.execArgv, entry.file], { encoding: 'utf8' });
      expect(out).toBe('42');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
