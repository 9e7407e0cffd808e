/**
 * Consumed stream tokens shared by the instances (the UsedTokens of src/calls/stream-token.ts): one
 * key per consumed token, `<REDIS_PREFIX>st:<hash of call id and token>`, set with SET NX PX (only
 * the first instance to consume a token creates it; it expires with the token). So a stream start
 * replayed to another instance is refused as `used`.
 *
 * Redis down: the token is checked against this instance's own record instead (still single-use
 * here; the HMAC and expiry checks never depend on Redis), counted and logged by the RedisGuard.
 */
import { LocalUsedTokens, type UsedTokens } from '../../calls/stream-token';
import type { RedisGuard } from './client';

export class RedisUsedTokens implements UsedTokens {
  private readonly local = new LocalUsedTokens();

  constructor(
    private readonly guard: RedisGuard,
    private readonly redisPrefix: string,
  ) {}

  async markUsed(id: string, ttlMs: number): Promise<boolean> {
    const px = Math.max(1, Math.ceil(ttlMs));
    // Also recorded here, so a replay to this instance is refused even if Redis goes away meanwhile.
    const firstHere = this.local.markUsedNow(id, px);
    const firstInCluster = await this.guard.run(
      'stream-token',
      async () => (await this.guard.client.set(`${this.redisPrefix}st:${id}`, '1', 'PX', px, 'NX')) === 'OK',
      () => true,
    );
    return firstHere && firstInCluster;
  }
}
