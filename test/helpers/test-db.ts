import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TempDir {
  dir: string;
  databaseUrl: string;
  recordingsDir: string;
  cleanup(): void;
}

/** A fresh temporary folder with a migrated SQLite database (a copy of the run's template). */
export function createTempDatabase(): TempDir {
  const template = process.env.SWITCHBOARD_TEMPLATE_DB;
  if (!template) throw new Error('SWITCHBOARD_TEMPLATE_DB is not set: run tests through jest (globalSetup)');
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-test-'));
  const file = path.join(dir, 'test.db');
  copyFileSync(template, file);
  return {
    dir,
    databaseUrl: `file:${file}`,
    recordingsDir: path.join(dir, 'recordings'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
