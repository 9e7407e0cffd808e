/**
 * The WebSocket-upgrade limit per client IP, shared by the instances. The upgrade gate
 * (src/http/upgrades.ts) asks synchronously (`allowClient(ip): boolean`, before any await, so no
 * upgrade waits on Redis), so the shared count is learnt rather than asked for:
 * - fixed windows aligned on the epoch (every instance agrees on them), one Redis counter per
 *   window and address: `<REDIS_PREFIX>rl:upgrade:<window>:<ip key>`, INCR + PEXPIRE;
 * - each allowed upgrade is counted locally and sent to Redis; the reply is the cluster's count so
 *   far, remembered for the address;
 * - an upgrade is allowed while both this instance's own count and (cluster count last seen + this
 *   instance's counts not yet answered + 1) stay within the limit.
 * So a client that used its budget on other instances is refused here from the reply to its first
 * upgrade here on; an instance lets at most its own in-flight upgrades past the shared budget.
 * Refused upgrades are not sent (a flood costs Redis nothing more). Redis down: the local count
 * alone decides (the one-instance behaviour), counted as fallbacks by the RedisGuard.
 */
import { ipKey } from '../../http/security';
import type { RedisGuard } from './client';

interface AddressCount {
  /** This instance's upgrades of the address in the window. */
  local: number;
  /** The cluster's count from the latest Redis reply. */
  cluster: number;
  /** Sent to Redis, not answered yet. */
  inFlight: number;
}

export interface ClusterUpgradeLimiterOptions {
  guard: RedisGuard;
  redisPrefix: string;
  limit: number;
  windowMs?: number;
  now?: () => number;
}

/** The limiter: `allow(ip)`, and `settled()` resolving once every count sent to Redis is answered. */
export type ClusterUpgradeLimiter = ((ip: string | undefined) => boolean) & { settled(): Promise<void> };

/** `allow(ip)` for the upgrade gate's `allowClient`, with a budget shared through Redis. */
export function clusterUpgradeRateLimiter(options: ClusterUpgradeLimiterOptions): ClusterUpgradeLimiter {
  const { guard, limit } = options;
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  let window = -1;
  let counts = new Map<string, AddressCount>();
  const pending = new Set<Promise<void>>();

  const send = (key: string, entry: AddressCount, forWindow: number) => {
    entry.inFlight++;
    const redisKey = `${options.redisPrefix}rl:upgrade:${forWindow}:${key}`;
    const sent = guard
      .run(
        'upgrade-limit',
        async () => {
          const replies = await guard.client
            .multi()
            .incr(redisKey)
            .pexpire(redisKey, windowMs + 1000)
            .exec();
          const [err, value] = replies?.[0] ?? [new Error('transaction aborted'), null];
          if (err) throw err;
          return Number(value);
        },
        () => undefined,
      )
      .then((cluster) => {
        entry.inFlight--;
        if (cluster !== undefined && forWindow === window) entry.cluster = Math.max(entry.cluster, cluster);
      })
      .finally(() => pending.delete(sent));
    pending.add(sent);
  };

  const allow = (ip: string | undefined): boolean => {
    const t = now();
    const current = Math.floor(t / windowMs);
    if (current !== window) {
      window = current;
      counts = new Map();
    }
    const key = ipKey(ip);
    let entry = counts.get(key);
    if (!entry) {
      entry = { local: 0, cluster: 0, inFlight: 0 };
      counts.set(key, entry);
    }
    entry.local++;
    if (entry.local > limit || entry.cluster + entry.inFlight + 1 > limit) return false;
    if (guard.usable) send(key, entry, current);
    else guard.fellBack('upgrade-limit', 'redis not connected');
    return true;
  };
  return Object.assign(allow, { settled: async () => void (await Promise.all([...pending])) });
}
