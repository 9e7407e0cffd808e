/**
 * The cluster-wide concurrent-call cap and single-use stream tokens on the real Redis
 * (127.0.0.1:6379, a random key prefix per run, deleted at the end), each "instance" with its own
 * connection: admissions racing on two instances admit exactly the cap; a live call's slot outlives
 * the TTL while its instance renews it, and a crashed instance's slots free themselves after it;
 * CallAdmission refuses beyond the cluster cap and frees the slot at the call's end; a stream token
 * is accepted once across two instances; Redis unreachable admits and checks locally, no throw.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { RedisLimits } from '../../src/cluster/redis';
import { CallAdmission, type CallAdmissionDeps, type IncomingCall } from '../../src/calls/call-admission';
import { StreamTokens } from '../../src/calls/stream-token';
import { createLogger } from '../../src/logging/logger';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `sbtest:${randomBytes(6).toString('hex')}:`;
const SECRET = 'a-stream-token-secret-shared-by-instances';
const logger = createLogger({ level: 'error', json: true, silent: true });

// Not lazyConnect: a lazily connected ioredis client keeps a jest worker from exiting after quit().
let admin: Redis;
const opened: RedisLimits[] = [];

async function instance(url = REDIS_URL, connectWaitMs = 2000): Promise<RedisLimits> {
  const l = await RedisLimits.connect({ url, prefix: PREFIX, logger, connectWaitMs, commandTimeoutMs: 500 });
  opened.push(l);
  return l;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const slotsKey = `${PREFIX}calls:slots`;

beforeAll(async () => {
  admin = new Redis(REDIS_URL);
  await admin.ping();
});

afterEach(async () => {
  await admin.del(slotsKey);
});

afterAll(async () => {
  for (const l of opened) await l.close();
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

describe('cluster-wide call cap', () => {
  it('admissions racing on two instances admit exactly the cap', async () => {
    const [a, b] = [await instance(), await instance()];
    const capA = a.callCap({ limit: 7, ttlMs: 10_000, live: () => [] });
    const capB = b.callCap({ limit: 7, ttlMs: 10_000, live: () => [] });
    const attempts = Array.from({ length: 40 }, (_, i) => (i % 2 ? capA : capB).admit(`call-${i}`));
    const admitted = (await Promise.all(attempts)).filter(Boolean).length;
    expect(admitted).toBe(7);
    expect(await admin.zcard(slotsKey)).toBe(7);
    expect(await capB.count()).toBe(7);
    // A slot already held is kept (a repeated webhook), even at the cap; a release frees one slot.
    const held = (await admin.zrange(slotsKey, 0, 0))[0];
    expect(await capB.admit(held)).toBe(true);
    expect(await capA.admit('one-more')).toBe(false);
    await capB.release(held);
    expect(await capA.admit('one-more')).toBe(true);
    expect(await capA.admit('and-another')).toBe(false);
    expect(a.guard.fallbacks['call-cap'] + b.guard.fallbacks['call-cap']).toBe(0);
  });

  it("a live call's slot is renewed past the TTL; a crashed instance's slots free after it", async () => {
    const ttlMs = 1000;
    const [a, b] = [await instance(), await instance()];
    const running = ['live-1', 'live-2', 'live-3'];
    const capA = a.callCap({ limit: 3, ttlMs, live: () => running, refreshMs: 100 });
    const capB = b.callCap({ limit: 3, ttlMs, live: () => [] });
    for (const id of running) expect(await capA.admit(id)).toBe(true);
    // Two TTLs later the renewed slots still fill the cap.
    await new Promise((resolve) => setTimeout(resolve, 2 * ttlMs));
    expect(await capB.admit('refused-while-alive')).toBe(false);
    expect(await admin.zrange(slotsKey, 0, -1)).toEqual(running);

    // A "crashes": its renewals stop, its connection drops, nothing is released.
    await capA.close();
    a.client.disconnect();
    const crashedAt = Date.now();
    let freedAt = 0;
    while (!freedAt && Date.now() - crashedAt < 5000) {
      if (await capB.admit('after-crash')) freedAt = Date.now();
      else await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const waited = freedAt - crashedAt;
    expect(freedAt).toBeGreaterThan(0);
    // Freed no earlier than TTL after A's last renewal (at most refreshMs before the crash), not much later.
    expect(waited).toBeGreaterThanOrEqual(ttlMs - 100 - 50);
    expect(waited).toBeLessThan(ttlMs + 1000);
    expect(await capB.admit('second-after-crash')).toBe(true);
  });

  it('CallAdmission: the in-process cap, then the cluster cap; the slot follows the call id and frees at its end', async () => {
    const [a, b] = [await instance(), await instance()];
    const bridges = [
      { isDraining: false, size: 0 },
      { isDraining: false, size: 0 },
    ];
    const counters = [{ callsRefused: 0 }, { callsRefused: 0 }];
    const admission = (l: RedisLimits, i: number) =>
      new CallAdmission({
        config: { maxConcurrentCalls: 5 },
        callManager: {
          createCall: async (input: { callSid: string }) => {
            await new Promise((resolve) => setTimeout(resolve, 5));
            return { id: `id-${input.callSid}`, endedAt: null };
          },
        },
        bridge: bridges[i],
        logger,
        agentSettings: undefined,
        counters: counters[i],
        cap: l.callCap({ limit: 2, ttlMs: 10_000, live: () => [] }),
      } as unknown as CallAdmissionDeps);
    const [admA, admB] = [admission(a, 0), admission(b, 1)];
    const incoming = (sid: string): IncomingCall => ({
      providerCallId: sid,
      accountId: null,
      from: '+15550000001',
      to: '+15550000002',
      direction: 'inbound',
      provider: 'twilio',
      status: null,
      region: null,
      callerName: null,
    });
    const results = await Promise.all([
      admA.admitIncoming(incoming('CA1')),
      admB.admitIncoming(incoming('CA2')),
      admA.admitIncoming(incoming('CA3')),
    ]);
    const admitted = results.filter((r) => r.admitted);
    expect(admitted).toHaveLength(2);
    expect(results.filter((r) => !r.admitted)).toEqual([{ admitted: false, refusal: 'busy' }]);
    expect(counters[0].callsRefused + counters[1].callsRefused).toBe(1);
    // The provisional slots became the calls' ids.
    const ids = admitted.map((r) => (r.admitted ? r.call.id : '')).sort();
    expect((await admin.zrange(slotsKey, 0, -1)).sort()).toEqual(ids);

    // The call ends (on any instance): its slot is free for the next call.
    await admB.callEnded(ids[0]);
    expect((await admA.admitIncoming(incoming('CA4'))).admitted).toBe(true);
    expect((await admB.admitIncoming(incoming('CA5'))).admitted).toBe(false);

    // This instance's own cap is still checked first (Redis is not asked: the slots are unchanged).
    await admB.callEnded(ids[1]);
    bridges[0].size = 5;
    const before = await admin.zrange(slotsKey, 0, -1);
    expect(await admA.admitIncoming(incoming('CA6'))).toEqual({ admitted: false, refusal: 'busy' });
    expect(await admin.zrange(slotsKey, 0, -1)).toEqual(before);
    expect((await admB.admitIncoming(incoming('CA7'))).admitted).toBe(true);
  });
});

describe('single-use stream tokens across instances', () => {
  it('a token is accepted once, whichever instance sees it first; forged and expired ones are not recorded', async () => {
    const [a, b] = [await instance(), await instance()];
    const tokensA = new StreamTokens(SECRET, 60_000, a.usedTokens());
    const tokensB = new StreamTokens(SECRET, 60_000, b.usedTokens());
    const token = tokensA.issue('call-1');
    expect(await tokensB.consume('call-1', token)).toBe('ok');
    expect(await tokensA.consume('call-1', token)).toBe('used');
    expect(await tokensB.consume('call-1', token)).toBe('used');
    // `check` alone still answers ok (HMAC and expiry only).
    expect(tokensA.check('call-1', token)).toBe('ok');

    // Racing on both instances: exactly one wins.
    const raced = tokensB.issue('call-2');
    const outcomes = await Promise.all([tokensA.consume('call-2', raced), tokensB.consume('call-2', raced)]);
    expect(outcomes.sort()).toEqual(['ok', 'used']);

    // Refused tokens are not recorded; the key expires with the token and holds no token text.
    expect(await tokensA.consume('call-3', token)).toBe('forged');
    expect(await tokensA.consume('call-1', tokensA.issue('call-1', Date.now() - 120_000))).toBe('expired');
    const keys = await admin.keys(`${PREFIX}st:*`);
    expect(keys).toHaveLength(2);
    for (const key of keys) {
      expect(key).not.toContain(token.split('.')[1]);
      const ttl = await admin.pttl(key);
      expect(ttl).toBeGreaterThan(55_000);
      expect(ttl).toBeLessThanOrEqual(61_000);
    }
  });
});

describe('Redis unreachable', () => {
  it('the cap admits (this instance still caps itself) and tokens are single-use per instance, counted, nothing thrown', async () => {
    const down = await instance(`redis://127.0.0.1:${await closedPort()}`, 200);
    const cap = down.callCap({ limit: 1, ttlMs: 1000, live: () => ['x'], refreshMs: 50 });
    expect(await cap.admit('a')).toBe(true);
    expect(await cap.admit('b')).toBe(true);
    await cap.rename('a', 'c');
    await cap.release('c');
    await cap.refresh();
    expect(await cap.count()).toBeUndefined();
    expect(down.guard.fallbacks['call-cap']).toBeGreaterThanOrEqual(5);

    const tokens = new StreamTokens(SECRET, 60_000, down.usedTokens());
    const token = tokens.issue('call-9');
    expect(await tokens.consume('call-9', token)).toBe('ok');
    expect(await tokens.consume('call-9', token)).toBe('used');
    expect(down.guard.fallbacks['stream-token']).toBe(2);
  });
});
