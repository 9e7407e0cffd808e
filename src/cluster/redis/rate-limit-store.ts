/**
 * express-rate-limit stores shared by every instance: rate-limit-redis's RedisStore (a Lua script
 * that increments a key and sets its window's expiry in one step) under `<REDIS_PREFIX>rl:<name>:`,
 * so a client's budget is the same whichever instance the balancer sends it to.
 *
 * Redis down or slow: the limiter does not fail closed (refusing every webhook would stop the call
 * center) nor fully open (a flood would then meet no limit at all). It falls back to an in-memory
 * store of this instance with the same window and limit, i.e. the one-instance behaviour; each
 * fallback is counted and logged by the RedisGuard. When Redis answers again the shared budget
 * applies again.
 */
import { MemoryStore, type ClientRateLimitInfo, type Options, type Store } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { RedisGuard } from './client';

/** Names of the limiters (one store each; express-rate-limit refuses a store shared by two limiters). */
export type RateLimiterName = string;

export class ClusterRateLimitStore implements Store {
  /** Keys are shared with other processes (express-rate-limit's double-count check uses this and prefix). */
  readonly localKeys = false;
  readonly prefix: string;
  private readonly redis: RedisStore;
  private readonly local = new MemoryStore();

  constructor(
    private readonly guard: RedisGuard,
    redisPrefix: string,
    readonly name: RateLimiterName,
  ) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`rate limiter name must be [A-Za-z0-9._-]+, got "${name}"`);
    this.prefix = `${redisPrefix}rl:${name}:`;
    const client = guard.client;
    this.redis = new RedisStore({
      prefix: this.prefix,
      sendCommand: (command: string, ...args: string[]) => client.call(command, ...args) as Promise<RedisReply>,
    });
    // RedisStore loads its scripts at construction, and loads them again when a call fails; a
    // failure here (Redis not connected yet) must not become an unhandled rejection.
    this.redis.incrementScriptSha.catch(() => undefined);
    this.redis.getScriptSha.catch(() => undefined);
  }

  init(options: Options): void {
    this.redis.init(options);
    this.local.init(options);
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    return this.guard.run(
      'rate-limit',
      () => this.redis.get(key),
      () => this.local.get(key),
      { limiter: this.name },
    );
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    return this.guard.run(
      'rate-limit',
      () => this.redis.increment(key),
      () => this.local.increment(key),
      { limiter: this.name },
    );
  }

  async decrement(key: string): Promise<void> {
    await this.guard.run(
      'rate-limit',
      () => this.redis.decrement(key),
      () => this.local.decrement(key),
      { limiter: this.name },
    );
  }

  async resetKey(key: string): Promise<void> {
    await this.local.resetKey(key);
    await this.guard.run(
      'rate-limit',
      () => this.redis.resetKey(key),
      () => undefined,
      { limiter: this.name },
    );
  }

  /** Stops the fallback store's timer. */
  shutdown(): void {
    this.local.shutdown();
  }
}
