import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyPendingMigrations } from '../../src/db/migrations';

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

/**
 * Outside jest (scripts such as soak and crash): builds the migrated template once, as jest's global
 * set-up does, then returns a fresh copy like createTempDatabase().
 */
export async function createMigratedTempDatabase(): Promise<TempDir> {
  if (!process.env.SWITCHBOARD_TEMPLATE_DB) {
    const templateDir = mkdtempSync(path.join(tmpdir(), 'switchboard-template-'));
    process.env.SWITCHBOARD_TEMPLATE_DB = path.join(templateDir, 'template.db');
    await applyPendingMigrations(`file:${process.env.SWITCHBOARD_TEMPLATE_DB}`);
  }
  return createTempDatabase();
}
