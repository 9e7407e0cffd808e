/**
 * An idle server holds no more than it needs: at start, with no campaign in the database, the
 * campaign dialler's check for work runs in the writer thread (already up for the call writes), so
 * no read worker (~35 MB) is started for it; the first API read starts one. With a running campaign
 * the dialler does recover (test/integration/campaigns-crash.test.ts).
 */
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';

describe('idle start', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ API_TOKENS: 'idle-start-token-0123456789' });
  });
  afterAll(() => t.close());

  it('starts no read worker until the first API read', async () => {
    expect(t.sb.readPool).toBeDefined();
    expect(t.sb.readPool!.workers).toHaveLength(0);
    const res = await fetch(`${t.baseUrl}/api/calls`, {
      headers: { Authorization: 'Bearer idle-start-token-0123456789' },
    });
    expect(res.status).toBe(200);
    expect(t.sb.readPool!.workers).toHaveLength(1);
  });
});
