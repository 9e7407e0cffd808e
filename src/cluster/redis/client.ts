/**
 * The Redis connection of the cluster-wide limits (REDIS_URL), and the guard every use of it goes
 * through. Redis holds nothing a call needs to go on: the shared rate-limit budgets, the cluster's
 * concurrent-call slots and the consumed stream tokens. So when Redis is down or slow each use
 * falls back to this instance's own view (docs/scaling.md: "a call center keeps answering calls"):
 * the rate limits become per-instance budgets, the call cap the per-instance cap, stream tokens
 * single-use per instance. Every fallback is counted (switchboard_redis_fallbacks_total{use}) and
 * logged, at most once per use every 10 s.
 *
 * The client never queues commands while disconnected (enableOfflineQueue off) and gives up on a
 * use after the command timeout (1 s by default), so a webhook waits at most that long for Redis; after a
 * timeout the guard skips Redis for a second instead of making every request wait again.
 */
import { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../logging/logger';

export interface RedisClientOptions {
  /** redis:// or rediss:// URL (REDIS_URL). Its password is never logged. */
  url: string;
  logger: Logger;
  /** How long one command may take before the guard falls back (default 1000 ms). */
  commandTimeoutMs?: number;
}

/** The URL without its user and password, for logs. */
export function redactedRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return 'redis://(unparsable)';
  }
}

/** A client that fails fast while Redis is unreachable and keeps reconnecting in the background. */
export function createRedisClient(options: RedisClientOptions): Redis {
  const client = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    connectTimeout: 2000,
    // disconnect() (used only when not connected) destroys the socket after 50 ms rather than 2 s:
    // ioredis keeps that timer even for a socket already closed, which would hold the process open.
    disconnectTimeout: 50,
    // Reconnect for ever, at most every 2 s: the limits come back as soon as Redis does.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  const log = options.logger.child({ component: 'redis' });
  let lastErrorLog = 0;
  client.on('error', (err: Error) => {
    // ioredis emits one per failed reconnect: logged once every 10 s.
    if (Date.now() - lastErrorLog < 10_000) return;
    lastErrorLog = Date.now();
    log.warn('redis connection error', { url: redactedRedisUrl(options.url), error: err.message });
  });
  client.on('ready', () => log.info('redis connected', { url: redactedRedisUrl(options.url) }));
  return client;
}

/** Waits until the client is ready, at most `timeoutMs`; false when it is not (the server starts degraded). */
export async function redisReady(client: Redis, timeoutMs = 2000): Promise<boolean> {
  if (client.status === 'ready') return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}

/** Ends the connection: QUIT when connected, else stops reconnecting at once. */
export async function closeRedisClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through: disconnect
    }
  }
  client.disconnect();
}

/** The uses of Redis, as labels of the fallback counter. */
export type RedisUse = 'rate-limit' | 'upgrade-limit' | 'call-cap' | 'stream-token';

/**
 * Runs each Redis use, or its local fallback when Redis is not connected, has just timed out, or
 * fails. Never throws what Redis threw.
 */
export class RedisGuard {
  /** Fallbacks per use since start (also the Prometheus counter when a registry was given). */
  readonly fallbacks: Record<RedisUse, number> = {
    'rate-limit': 0,
    'upgrade-limit': 0,
    'call-cap': 0,
    'stream-token': 0,
  };
  private readonly counter?: Counter<'use'>;
  private readonly lastLog = new Map<RedisUse, number>();
  private pausedUntil = 0;

  /**
   * deadlineMs: the longest one use may wait for Redis, retries included (rate-limit-redis retries a
   * failed increment once), before the fallback answers (default 1000 ms).
   */
  constructor(
    readonly client: Redis,
    private readonly logger: Logger,
    registry?: Registry,
    private readonly deadlineMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    if (registry) {
      this.counter = new Counter({
        name: 'switchboard_redis_fallbacks_total',
        help: 'Operations that used the local fallback because Redis was unreachable, slow or failing',
        labelNames: ['use'],
        registers: [registry],
      });
    }
  }

  /** Redis is connected and has not just timed out. */
  get usable(): boolean {
    return this.client.status === 'ready' && this.now() >= this.pausedUntil;
  }

  /** `op` on Redis, else `fallback` (counted, logged with `fields`, e.g. the callId). */
  async run<T>(
    use: RedisUse,
    op: () => Promise<T>,
    fallback: () => T | Promise<T>,
    fields: Record<string, unknown> = {},
  ): Promise<T> {
    if (!this.usable) {
      this.fellBack(use, 'redis not connected', fields);
      return fallback();
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`redis timed out after ${this.deadlineMs} ms`)), this.deadlineMs);
    });
    try {
      return await Promise.race([op(), deadline]);
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      if (/timed? ?out/i.test(message)) this.pausedUntil = this.now() + 1000;
      this.fellBack(use, message, fields);
      return fallback();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Counts and logs one fallback (for callers that detect the failure themselves). */
  fellBack(use: RedisUse, reason: string, fields: Record<string, unknown> = {}): void {
    this.fallbacks[use]++;
    this.counter?.inc({ use });
    const t = this.now();
    if (t - (this.lastLog.get(use) ?? -Infinity) < 10_000) return;
    this.lastLog.set(use, t);
    this.logger.error('redis unavailable: using the local fallback', {
      component: 'redis',
      use,
      reason,
      fallbacks: this.fallbacks[use],
      ...fields,
    });
  }
}
