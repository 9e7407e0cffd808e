/**
 * A lazy read pool (src/db/read-pool.ts, `lazy: true`, as the app runs it): no worker until the first
 * read, the worker stopped after `idleMs` without reads (its ~35 MB go with it), started again by the
 * next read; a database it cannot open fails the read instead of hanging it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ReadPool, ReadPoolUnavailableError } from '../../src/db/read-pool';
import { createDb } from '../../src/db/prisma';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

async function eventually(check: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('lazy read pool', () => {
  let tmp: TempDir;
  beforeEach(() => {
    tmp = createTempDatabase();
  });
  afterEach(() => tmp.cleanup());

  it('starts its worker at the first read, stops it when idle, and starts it again', async () => {
    const db = await createDb(tmp.databaseUrl);
    await db.call.create({ data: { id: 'clazy0000001', callSid: 'CAlazy1', status: 'completed' } });
    await db.$disconnect();
    const pool = await ReadPool.start(tmp.databaseUrl, { lazy: true, idleMs: 3000 });
    try {
      expect(pool.workers).toHaveLength(0);
      await expect(pool.run('callExists', 'clazy0000001')).resolves.toBe(true);
      expect(pool.workers).toHaveLength(1);
      const first = pool.workers[0];
      // Reads keep it alive (each comes well within idleMs, even on a loaded machine)...
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 900));
        await expect(pool.run('callExists', 'nope')).resolves.toBe(false);
      }
      // (compared by identity: jest cannot print a diff of two Worker objects)
      expect(pool.workers[0] === first).toBe(true);
      // ... and without them it goes.
      const exited = new Promise((r) => first.once('exit', r));
      await eventually(() => pool.workers.length === 0, 10_000);
      await exited;
      expect(pool.stats).toEqual({ started: 1, idleStops: 1 });
      const list = await pool.run('listCalls', {}, { limit: 10, offset: 0 });
      expect((list as { total: number }).total).toBe(1);
      expect(pool.workers).toHaveLength(1);
      expect(pool.workers[0] === first).toBe(false);
      expect(pool.stats.started).toBe(2);
    } finally {
      await pool.close();
    }
    await expect(pool.run('callExists', 'x')).rejects.toBeInstanceOf(ReadPoolUnavailableError);
  });

  it('fails the read (not hangs it) when the worker cannot open the database', async () => {
    writeFileSync(path.join(tmp.dir, 'not-a-dir'), 'x');
    const pool = await ReadPool.start(`file:${path.join(tmp.dir, 'not-a-dir', 'x.db')}`, { lazy: true });
    try {
      await expect(pool.run('callExists', 'x')).rejects.toBeInstanceOf(ReadPoolUnavailableError);
    } finally {
      await pool.close();
    }
  });
});
