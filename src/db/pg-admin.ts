/**
 * Creating and dropping whole PostgreSQL databases: a scratch database to diff migrations from
 * (migrations.ts createMigration), and a database per test file (scripts/lib/test-db.ts). Plain
 * `pg`, connected to the server's `postgres` maintenance database with the URL's credentials.
 */
import { Client } from 'pg';

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The URL with its database name replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The database name of a postgres:// URL. */
export function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

async function onMaintenance<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: withDatabase(url, 'postgres') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function checkName(name: string): string {
  if (!NAME.test(name)) throw new Error(`not a plain database name: ${JSON.stringify(name)}`);
  return name;
}

/** Creates an empty database `name` on the server of `serverUrl`; returns its URL. */
export async function createPostgresDatabase(serverUrl: string, name: string): Promise<string> {
  checkName(name);
  await onMaintenance(serverUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  return withDatabase(serverUrl, name);
}

/** Drops the database of `url` (closing other sessions on it first). Idempotent. */
export async function dropPostgresDatabase(url: string): Promise<void> {
  const name = checkName(databaseOf(url));
  await onMaintenance(url, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}
