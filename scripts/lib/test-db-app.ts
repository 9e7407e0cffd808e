/**
 * The real app on port 0 on a test database of either kind (SQLite file or PostgreSQL database), for
 * the tests that run the same assertions on both (describe.each(DATABASE_KINDS)).
 */
import { createApp, type SwitchboardApp } from '../../src/app';
import { testConfig } from '../../src/config';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './test-db';

export interface DbTestApp {
  sb: SwitchboardApp;
  baseUrl: string;
  database: TestDatabase;
  close(): Promise<void>;
}

export async function startAppOn(kind: DatabaseKind, env: Record<string, string> = {}): Promise<DbTestApp> {
  const database = await createTestDatabase(kind);
  let sb: SwitchboardApp;
  try {
    sb = await createApp(
      testConfig({ DATABASE_URL: database.databaseUrl, RECORDING_STORAGE_PATH: database.recordingsDir, ...env }),
    );
  } catch (err) {
    await database.cleanup();
    throw err;
  }
  const port = await sb.listen(0, '127.0.0.1');
  return {
    sb,
    baseUrl: `http://127.0.0.1:${port}`,
    database,
    async close() {
      await sb.close();
      await database.cleanup();
    },
  };
}
