/**
 * The database and its WAL are created owner-only (0600, folder 0700): they hold phone numbers and
 * transcripts. (Recordings: test/integration/wav-recorder.test.ts.)
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDb } from '../../src/db/prisma';

const mode = (file: string): number => statSync(file).mode & 0o777;

describe('file permissions', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'switchboard-perms-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('a new database, its folder and its WAL are readable by the owner only', async () => {
    const file = path.join(root, 'data', 'calls.db');
    const url = `file:${file}`;
    // (Migrations open the file the same way: prepareSqliteFile, before SQLite creates it.)
    const db = await createDb(url);
    try {
      await db.$executeRawUnsafe('CREATE TABLE t (phone TEXT)');
      await db.$executeRawUnsafe(`INSERT INTO t VALUES ('+15550001111')`);
      expect(mode(file)).toBe(0o600);
      expect(mode(`${file}-wal`)).toBe(0o600);
      expect(mode(path.dirname(file))).toBe(0o700);
    } finally {
      await db.$disconnect();
    }
  });
});
