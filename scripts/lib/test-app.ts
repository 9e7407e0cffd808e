import { createApp, type SwitchboardApp } from '../../src/app';
import { testConfig } from '../../src/config';
import { createTempDatabase, type TempDir } from './test-db';

export interface TestApp {
  sb: SwitchboardApp;
  port: number;
  baseUrl: string;
  tmp: TempDir;
  close(): Promise<void>;
}

/** The real app on port 0 with a temporary SQLite file and recordings folder. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const tmp = createTempDatabase();
  const config = testConfig({ DATABASE_URL: tmp.databaseUrl, RECORDING_STORAGE_PATH: tmp.recordingsDir, ...env });
  const sb = await createApp(config);
  const port = await sb.listen(0, '127.0.0.1');
  return {
    sb,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    tmp,
    async close() {
      await sb.close();
      tmp.cleanup();
    },
  };
}
