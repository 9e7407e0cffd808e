/**
 * The cluster-wide concurrent-call cap on Redis (the CallCap of src/calls/call-admission.ts).
 *
 * One sorted set, `<REDIS_PREFIX>calls:slots`: member = a call's slot name (its id; a provisional
 * `pending:<provider>:<provider call id>` while its record is being created), score = when the slot
 * expires (ms, Redis's clock). Every operation is one Lua script, so instances cannot interleave:
 * - admit: drop expired slots, count, add when below the cap (or when the slot is already held);
 * - rename: a provisional slot becomes the call's id once the call exists;
 * - refresh: every ttl/3 this instance renews the slots of the calls it runs (`live()`: the bridge's
 *   calls), re-adding them if they had expired meanwhile (a running call always counts);
 * - release: when the call ends.
 * An instance that dies stops renewing, so its calls' slots free themselves after the TTL
 * (CLUSTER_LEASE_TTL_MS), with no one cleaning up after it.
 *
 * Redis down: admit answers yes (the in-process cap of CallAdmission still bounds this instance),
 * counted and logged by the RedisGuard; the slots are renewed again once Redis is back.
 */
import type { CallCap } from '../../calls/call-admission';
import type { RedisGuard } from './client';
import { LUA_NOW, LuaScript } from './lua';

const ADMIT = new LuaScript(`${LUA_NOW}
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local admitted = 0
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  admitted = 1
elseif redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  admitted = 1
end
if admitted == 1 then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl + 1000)
end
return {admitted, redis.call('ZCARD', KEYS[1])}
`);

const RENAME = new LuaScript(`${LUA_NOW}
local ttl = tonumber(ARGV[3])
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ttl + 1000)
  return 1
end
return 0
`);

const REFRESH = new LuaScript(`${LUA_NOW}
local ttl = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
if #ARGV > 1 then
  redis.call('PEXPIRE', KEYS[1], ttl + 1000)
end
return redis.call('ZCARD', KEYS[1])
`);

const COUNT = new LuaScript(`${LUA_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
`);

/** Slots renewed per script run (keeps one run short however many calls an instance holds). */
const REFRESH_BATCH = 500;

export interface RedisCallCapOptions {
  guard: RedisGuard;
  redisPrefix: string;
  /** Concurrent calls allowed across the cluster. */
  limit: number;
  /** How long a slot lives without renewal (CLUSTER_LEASE_TTL_MS). */
  ttlMs: number;
  /** The calls this instance runs now (their slots are renewed): e.g. `() => bridge.all().map((c) => c.callId)`. */
  live: () => Iterable<string>;
  /** Renewal period (default ttl/3). */
  refreshMs?: number;
}

export class RedisCallCap implements CallCap {
  readonly key: string;
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;

  constructor(private readonly options: RedisCallCapOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1)
      throw new Error('call cap limit must be an integer >= 1');
    if (!Number.isInteger(options.ttlMs) || options.ttlMs < 100) throw new Error('call cap ttlMs must be >= 100');
    this.key = `${options.redisPrefix}calls:slots`;
  }

  get limit(): number {
    return this.options.limit;
  }

  /** Starts renewing this instance's slots. */
  start(): this {
    if (this.timer) return this;
    const period = this.options.refreshMs ?? Math.max(50, Math.floor(this.options.ttlMs / 3));
    this.timer = setInterval(() => void this.refresh(), period);
    this.timer.unref();
    return this;
  }

  async admit(slot: string): Promise<boolean> {
    const { guard, limit, ttlMs } = this.options;
    return guard.run(
      'call-cap',
      async () => {
        const [admitted] = (await ADMIT.run(guard.client, [this.key], [slot, limit, ttlMs])) as [number, number];
        return admitted === 1;
      },
      () => true,
      { slot },
    );
  }

  async rename(from: string, to: string): Promise<void> {
    const { guard, ttlMs } = this.options;
    await guard.run(
      'call-cap',
      () => RENAME.run(guard.client, [this.key], [from, to, ttlMs]),
      () => undefined,
      { callId: to },
    );
  }

  async release(slot: string): Promise<void> {
    const { guard } = this.options;
    await guard.run(
      'call-cap',
      () => guard.client.zrem(this.key, slot),
      () => undefined,
      { callId: slot },
    );
  }

  /** Slots held across the cluster now (expired ones dropped); undefined when Redis cannot answer. */
  async count(): Promise<number | undefined> {
    const { guard } = this.options;
    return guard.run(
      'call-cap',
      async () => Number(await COUNT.run(guard.client, [this.key], [])),
      () => undefined,
    );
  }

  /** Renews the slots of this instance's live calls now (one run at a time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.renew().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async renew(): Promise<void> {
    const { guard, ttlMs } = this.options;
    if (!guard.usable) return;
    const ids = [...this.options.live()];
    for (let i = 0; i === 0 || i < ids.length; i += REFRESH_BATCH) {
      const batch = ids.slice(i, i + REFRESH_BATCH);
      await guard.run(
        'call-cap',
        () => REFRESH.run(guard.client, [this.key], [ttlMs, ...batch]),
        () => undefined,
      );
    }
  }

  /** Stops renewing (the slots then expire unless released). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
  }
}
