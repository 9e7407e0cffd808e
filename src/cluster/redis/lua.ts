/**
 * A Lua script run with EVALSHA, sent in full (EVAL) only when Redis does not know it yet
 * (NOSCRIPT: first use, or after a Redis restart). Scripts are how the cluster-wide limits stay
 * atomic: Redis runs one script at a time, so "prune, count, add" cannot interleave between instances.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!/^NOSCRIPT/.test((err as Error).message ?? '')) throw err;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** Lua: `now`, Redis's own clock in ms (the instances' clocks may differ; Redis's is the one judge). */
export const LUA_NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;
