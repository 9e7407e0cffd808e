/**
 * A start that fails part-way (here: the local Realtime server's port is taken) rejects with the
 * cause and leaves nothing running behind it (read worker, database, timers).
 */
import net from 'node:net';
import { createApp } from '../../src/app';
import { testConfig } from '../../src/config';
import { createTempDatabase } from '../../scripts/lib/test-db';

function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

describe('createApp failing part-way', () => {
  it('rejects with the cause and releases the read worker and the database', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const tmp = createTempDatabase();
    try {
      const before = resourceCounts();
      const config = testConfig({
        DATABASE_URL: tmp.databaseUrl,
        RECORDING_STORAGE_PATH: tmp.recordingsDir,
        LOCAL_REALTIME_PORT: String(port),
      });
      expect(config.openai.useLocalServer).toBe(true);
      await expect(createApp(config)).rejects.toThrow(/EADDRINUSE/);
      await new Promise((r) => setTimeout(r, 200));
      const after = resourceCounts();
      // No worker thread (a MessagePort) and no interval left over from the failed start.
      for (const kind of ['MessagePort', 'Timeout'])
        expect(after.get(kind) ?? 0).toBeLessThanOrEqual(before.get(kind) ?? 0);
    } finally {
      await new Promise((r) => blocker.close(r));
      tmp.cleanup();
    }
  });
});
