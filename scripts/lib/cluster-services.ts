/**
 * The machine's PostgreSQL, NATS and Redis for the cluster tests and benchmarks: a fresh database,
 * subject prefix and key prefix per run, so parallel jest workers and repeated runs never meet, all
 * removed afterwards. (The services themselves are started before a session and before CI; see
 * ../shared/notes/round-2-facts.md.)
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const POSTGRES_ADMIN_URL =
  process.env.SWITCHBOARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const NATS_TEST_URL = process.env.SWITCHBOARD_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
export const REDIS_TEST_URL = process.env.SWITCHBOARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A short random name part: lower-case letters and digits. */
export function uniqueSuffix(): string {
  return randomBytes(5).toString('hex');
}

export interface TempPostgres {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** CREATE DATABASE sb_<random> on the machine's PostgreSQL; drop() removes it (closing its sessions). */
export async function createPostgresDatabase(label = 'sb'): Promise<TempPostgres> {
  const name = `${label}_${uniqueSuffix()}`;
  const admin = new Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
