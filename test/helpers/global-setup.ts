/**
 * Builds one migrated SQLite template per test run; each test copies it (scripts/lib/test-db.ts)
 * instead of running the migrations again. Runs in jest's parent process, where Node can load the
 * schema engine's ES-module glue.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyPendingMigrations } from '../../src/db/migrations';

export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-template-'));
  const file = path.join(dir, 'template.db');
  await applyPendingMigrations(`file:${file}`);
  process.env.SWITCHBOARD_TEMPLATE_DB = file;
}
