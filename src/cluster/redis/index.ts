/**
 * Cluster-wide limits on Redis (REDIS_URL; docs/scaling.md), behind one object the app creates at
 * start and closes at shutdown:
 * - `rateLimitStore(name)`: an express-rate-limit store shared by the instances, keys under
 *   `<REDIS_PREFIX>rl:<name>:` (one per limiter: api, metrics, public, webhook-twilio, ...);
 * - `upgradeLimiter(...)`: the WebSocket-upgrade limit per IP, shared (for the upgrade gate);
 * - `callCap(...)`: the cluster-wide concurrent-call cap (CallAdmission's `cap`);
 * - `usedTokens()`: consumed stream tokens (StreamTokens' third argument), single-use cluster-wide.
 * Without REDIS_URL none of this is created and every limit stays in the process, as before.
 * Redis unreachable (at start or later): each use falls back to its local behaviour, counted and
 * logged (src/cluster/redis/client.ts); the server starts and keeps answering calls.
 */
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Logger } from '../../logging/logger';
import { closeRedisClient, createRedisClient, redactedRedisUrl, redisReady, RedisGuard } from './client';
import { RedisCallCap } from './call-cap';
import { ClusterRateLimitStore } from './rate-limit-store';
import { clusterUpgradeRateLimiter, type ClusterUpgradeLimiter } from './upgrade-limiter';
import { RedisUsedTokens } from './used-tokens';

export { RedisCallCap } from './call-cap';
export { ClusterRateLimitStore } from './rate-limit-store';
export { RedisUsedTokens } from './used-tokens';
export { RedisGuard } from './client';

export interface RedisLimitsOptions {
  /** REDIS_URL (config.cluster.redisUrl). */
  url: string;
  /** REDIS_PREFIX (config.cluster.redisPrefix), e.g. `switchboard:`. */
  prefix: string;
  logger: Logger;
  /** Where switchboard_redis_fallbacks_total is registered (the app's metrics registry). */
  registry?: Registry;
  /** How long one Redis command may take before the local fallback is used (default 1000 ms). */
  commandTimeoutMs?: number;
  /** How long `connect` waits for Redis before starting without it (default 2000 ms). */
  connectWaitMs?: number;
}

export class RedisLimits {
  private readonly stores = new Map<string, ClusterRateLimitStore>();
  private readonly caps: RedisCallCap[] = [];

  private constructor(
    readonly client: Redis,
    readonly guard: RedisGuard,
    readonly prefix: string,
  ) {}

  /** Connects (waiting up to connectWaitMs; if Redis is not there yet, starts degraded and keeps trying). */
  static async connect(options: RedisLimitsOptions): Promise<RedisLimits> {
    const client = createRedisClient({
      url: options.url,
      logger: options.logger,
      commandTimeoutMs: options.commandTimeoutMs,
    });
    const guard = new RedisGuard(client, options.logger, options.registry, options.commandTimeoutMs ?? 1000);
    if (!(await redisReady(client, options.connectWaitMs ?? 2000))) {
      options.logger.error('redis not reachable at start: limits are per instance until it is', {
        component: 'redis',
        url: redactedRedisUrl(options.url),
      });
    }
    return new RedisLimits(client, guard, options.prefix);
  }

  /** A new store for the limiter `name` (each limiter its own; a name may be used once). */
  rateLimitStore(name: string): ClusterRateLimitStore {
    if (this.stores.has(name)) throw new Error(`rate limiter "${name}" already has a store`);
    const store = new ClusterRateLimitStore(this.guard, this.prefix, name);
    this.stores.set(name, store);
    return store;
  }

  /** The upgrade gate's `allowClient`: `limit` upgrades per IP and window across the cluster. */
  upgradeLimiter(options: { limit: number; windowMs?: number }): ClusterUpgradeLimiter {
    return clusterUpgradeRateLimiter({ guard: this.guard, redisPrefix: this.prefix, ...options });
  }

  /** The cluster-wide call cap, already renewing the slots of `live()` calls. */
  callCap(options: { limit: number; ttlMs: number; live: () => Iterable<string>; refreshMs?: number }): RedisCallCap {
    const cap = new RedisCallCap({ guard: this.guard, redisPrefix: this.prefix, ...options }).start();
    this.caps.push(cap);
    return cap;
  }

  usedTokens(): RedisUsedTokens {
    return new RedisUsedTokens(this.guard, this.prefix);
  }

  /** Stops renewing slots (a clean stop should have ended its calls first) and closes the connection. */
  async close(): Promise<void> {
    await Promise.all(this.caps.map((cap) => cap.close()));
    for (const store of this.stores.values()) store.shutdown();
    await closeRedisClient(this.client);
  }
}
