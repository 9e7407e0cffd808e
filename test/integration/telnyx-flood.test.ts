/**
 * Floods on the Telnyx entry points are bounded by the webhook budget (WEBHOOK_RATE_LIMIT_PER_MIN):
 * webhooks and stream upgrades beyond it get 429 with Retry-After, before any signature work.
 */
import request from 'supertest';
import WebSocket from 'ws';
import { startTelnyxHarness, type TelnyxHarness } from '../../scripts/lib/telnyx-harness';

function upgradeStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/telnyx/stream`);
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => undefined);
  });
}

describe('Telnyx floods', () => {
  let h: TelnyxHarness;
  beforeAll(async () => {
    h = await startTelnyxHarness({ replies: ['Hello.'] }, { WEBHOOK_RATE_LIMIT_PER_MIN: '5' });
  });
  afterAll(() => h.close());

  it('answers webhooks beyond the budget with 429 JSON and Retry-After, and upgrades beyond theirs with 429', async () => {
    const statuses: number[] = [];
    let last: request.Response | undefined;
    for (let i = 0; i < 8; i++) {
      last = await request(h.t.baseUrl).post('/telnyx/voice').type('form').send(`CallSid=v3:flood-${i}`);
      statuses.push(last.status);
    }
    // Unsigned: refused (403) while within the budget, then rate-limited.
    expect(statuses.slice(0, 5)).toEqual([403, 403, 403, 403, 403]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    expect(last!.headers['retry-after']).toBeDefined();
    expect(last!.body.error.code).toBe('rate_limited');
    const upgrades: number[] = [];
    for (let i = 0; i < 7; i++) upgrades.push(await upgradeStatus(h.t.port));
    expect(upgrades.slice(0, 5).every((s) => s === 101)).toBe(true);
    expect(upgrades.slice(5)).toEqual([429, 429]);
    expect(await h.t.sb.db.call.count()).toBe(0);
  });
});
