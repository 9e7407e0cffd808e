import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyPendingMigrations } from '../../src/db/migrations';
import { applyPendingMigrationsInChild } from '../../src/db/migrate-child';
import { createPostgresDatabase, dropPostgresDatabase } from '../../src/db/pg-admin';

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

/** The PostgreSQL server the tests use (TEST_POSTGRES_URL; default the machine's, trust auth). */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** The databases every persistence test of issue 16 runs on (describe.each(DATABASE_KINDS)). */
export const DATABASE_KINDS = ['sqlite', 'postgres'] as const;
export type DatabaseKind = (typeof DATABASE_KINDS)[number];

/** A migrated test database of either kind, with a recordings folder; cleanup() drops it. */
export interface TestDatabase {
  kind: DatabaseKind;
  databaseUrl: string;
  dir: string;
  recordingsDir: string;
  cleanup(): Promise<void>;
}

/**
 * A fresh migrated database: a copy of the run's SQLite template, or a new PostgreSQL database
 * `sb_<random>` with every migration applied (in a child process, about 1.5 s), dropped again by
 * cleanup().
 */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const tmp = createTempDatabase();
    return { kind, ...tmp, cleanup: async () => tmp.cleanup() };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-test-pg-'));
  const name = `sb_${randomBytes(6).toString('hex')}`;
  const databaseUrl = await createPostgresDatabase(TEST_POSTGRES_URL, name);
  try {
    // In a child process: jest's module system cannot load the schema engine's ES-module glue.
    await applyPendingMigrationsInChild(databaseUrl);
  } catch (err) {
    await dropPostgresDatabase(databaseUrl).catch(() => undefined);
    throw err;
  }
  return {
    kind,
    databaseUrl,
    dir,
    recordingsDir: path.join(dir, 'recordings'),
    async cleanup() {
      await dropPostgresDatabase(databaseUrl);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
