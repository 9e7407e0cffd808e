/**
 * Migrations on both databases (issue 16): the offline path (the wasm schema engine, in a child
 * process as main.ts runs it) applies every migration of the URL's dialect to an empty database and
 * records it in _prisma_migrations; applying again is a no-op; a failure comes back with the
 * driver's reason. And the PostgreSQL schema derived from prisma/schema.prisma is up to date.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { DATABASE_KINDS, TEST_POSTGRES_URL, type DatabaseKind } from '../../scripts/lib/test-db';
import { applyPendingMigrationsInChild } from '../../src/db/migrate-child';
import { migrationsDirFor, PROJECT_ROOT } from '../../src/db/migrations';
import { createPostgresDatabase, dropPostgresDatabase, withDatabase } from '../../src/db/pg-admin';
import { createDb } from '../../src/db/prisma';

const run = promisify(execFile);

/** An empty database of the kind (no migration applied) and how to drop it. */
async function emptyDatabase(kind: DatabaseKind): Promise<{ url: string; drop(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-migrate-'));
    return {
      url: `file:${path.join(dir, 'fresh.db')}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const url = await createPostgresDatabase(TEST_POSTGRES_URL, `sb_${randomBytes(6).toString('hex')}`);
  return { url, drop: () => dropPostgresDatabase(url) };
}

describe.each(DATABASE_KINDS)('migrations on %s', (kind) => {
  it('applies every migration once, records it, and applies none the second time', async () => {
    const empty = await emptyDatabase(kind);
    try {
      const dir = migrationsDirFor(empty.url);
      expect(dir).toBe(path.join(PROJECT_ROOT, 'prisma', ...(kind === 'postgres' ? ['postgresql'] : []), 'migrations'));
      const expected = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort();
      expect(expected.length).toBeGreaterThan(1);
      expect((await applyPendingMigrationsInChild(empty.url)).sort()).toEqual(expected);
      const db = await createDb(empty.url);
      try {
        const recorded = await db.$queryRawUnsafe<{ migration_name: string; finished: unknown }[]>(
          'SELECT "migration_name", "finished_at" AS "finished" FROM "_prisma_migrations" ORDER BY "migration_name"',
        );
        expect(recorded.map((r) => r.migration_name)).toEqual(expected);
        expect(recorded.every((r) => r.finished !== null)).toBe(true);
        // The schema is there and usable through the client.
        const call = await db.call.create({ data: { from: '+15550000001' } });
        await db.transcript.create({ data: { callId: call.id, speaker: 'caller', text: 'hello', startMs: 0 } });
        expect(await db.transcript.count()).toBe(1);
      } finally {
        await db.$disconnect();
      }
      expect(await applyPendingMigrationsInChild(empty.url)).toEqual([]);
    } finally {
      await empty.drop();
    }
  }, 60_000);
});

describe('PostgreSQL migrations and schema', () => {
  it('passes the driver’s reason back when the database cannot be reached', async () => {
    const missing = withDatabase(TEST_POSTGRES_URL, `sb_missing_${randomBytes(4).toString('hex')}`);
    await expect(applyPendingMigrationsInChild(missing)).rejects.toThrow(/does not exist/);
  }, 30_000);

  it('keeps prisma/postgresql/schema.prisma derived from prisma/schema.prisma', async () => {
    // Exits 1 (and says so) when the derived schema is out of date.
    await run(process.execPath, [path.join(PROJECT_ROOT, 'scripts', 'prisma-generate.js'), '--check'], {
      cwd: PROJECT_ROOT,
    });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { derivePostgresSchema } = require('../../scripts/prisma-generate.js') as {
      derivePostgresSchema(text: string): string;
    };
    const derived = derivePostgresSchema(
      'generator client {\n  output = "../src/generated/prisma"\n}\ndatasource db {\n  provider = "sqlite"\n}\nmodel Transcript {\n  id Int @id\n\n  @@index([callId, startMs])\n}\n',
    );
    expect(derived).toContain('provider = "postgresql"');
    expect(derived).toContain('"../../src/generated/prisma-pg"');
    expect(derived).toMatch(/searchVector Unsupported\("tsvector"\)\?/);
    expect(() => derivePostgresSchema('datasource db {\n  provider = "mysql"\n}\n')).toThrow(/cannot derive/);
  });
});
