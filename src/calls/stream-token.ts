/**
 * Per-call stream tokens. Twilio signs the Media Stream handshake over `wss://host/streams` with no
 * parameters, so one captured handshake header could open any number of streams. The webhook that
 * prepares a call therefore hands Twilio a token in the TwiML's <Parameter>s, and the stream's
 * `start` message must carry it back: HMAC-SHA256 (server secret) over the call id and an expiry,
 * short-lived, and single-use.
 *
 * `check` verifies the HMAC and expiry only (the secret is shared by every instance through
 * STREAM_TOKEN_SECRET). `consume` also marks the token used, so a replay is refused even when it
 * reaches another instance: in this process by default (LocalUsedTokens), cluster-wide with Redis
 * (src/cluster/redis/used-tokens.ts: SET NX PX).
 *
 * Format: `<expiry unix ms>.<base64url HMAC>`; compared in constant time.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const STREAM_TOKEN_PARAMETER = 'token';

export type StreamTokenCheck = 'ok' | 'missing' | 'malformed' | 'expired' | 'forged';

/** What `consume` answers: a check's result, or `used` when the token was already consumed. */
export type StreamTokenUse = StreamTokenCheck | 'used';

/** Where consumed tokens are remembered until they expire. */
export interface UsedTokens {
  /** Marks `id` used for `ttlMs`: true the first time, false when it already was (a replay). */
  markUsed(id: string, ttlMs: number): Promise<boolean>;
}

/** Consumed tokens of this process only (one instance): a map of id → expiry, swept as it grows. */
export class LocalUsedTokens implements UsedTokens {
  private readonly used = new Map<string, number>();
  private nextSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  markUsed(id: string, ttlMs: number): Promise<boolean> {
    return Promise.resolve(this.markUsedNow(id, ttlMs));
  }

  /** The same, synchronously (the Redis store falls back to it when Redis cannot answer). */
  markUsedNow(id: string, ttlMs: number): boolean {
    const t = this.now();
    if (t >= this.nextSweep) {
      for (const [key, expires] of this.used) if (expires <= t) this.used.delete(key);
      this.nextSweep = t + 10_000;
    }
    const expires = this.used.get(id);
    if (expires !== undefined && expires > t) return false;
    this.used.set(id, t + Math.max(1, ttlMs));
    return true;
  }

  get size(): number {
    return this.used.size;
  }
}

export class StreamTokens {
  private readonly secret: Buffer;

  /**
   * secret: shared by every instance behind one load balancer; empty = a random one for this process.
   * used: where consumed tokens are kept (default: this process).
   */
  constructor(
    secret: string | Buffer = '',
    readonly ttlMs = 60_000,
    private readonly used: UsedTokens = new LocalUsedTokens(),
  ) {
    this.secret = secret.length > 0 ? Buffer.from(secret) : randomBytes(32);
  }

  issue(callId: string, now = Date.now()): string {
    const expires = now + this.ttlMs;
    return `${expires}.${this.mac(callId, expires).toString('base64url')}`;
  }

  /** HMAC and expiry only; does not consume the token. */
  check(callId: string, token: string | undefined, now = Date.now()): StreamTokenCheck {
    if (!token) return 'missing';
    const match = /^(\d{13,16})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!match) return 'malformed';
    const expires = Number(match[1]);
    const given = Buffer.from(match[2], 'base64url');
    const expected = this.mac(callId, expires);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'forged';
    return now > expires ? 'expired' : 'ok';
  }

  /**
   * `check`, then (when it is ok) marks the token used until it expires: `ok` once, `used` on every
   * later attempt with the same token, on any instance sharing the UsedTokens store.
   */
  async consume(callId: string, token: string | undefined, now = Date.now()): Promise<StreamTokenUse> {
    const result = this.check(callId, token, now);
    if (result !== 'ok' || !token) return result;
    const expires = Number(token.slice(0, token.indexOf('.')));
    // Kept a second past its expiry: by then `check` refuses it as expired anyway.
    const first = await this.used.markUsed(StreamTokens.idOf(callId, token), expires - now + 1000);
    return first ? 'ok' : 'used';
  }

  /** The stored name of a consumed token: a hash (the token itself is a credential until it expires). */
  static idOf(callId: string, token: string): string {
    return createHash('sha256').update(`${callId}\n${token}`).digest('base64url');
  }

  private mac(callId: string, expires: number): Buffer {
    return createHmac('sha256', this.secret).update(`stream:${callId}:${expires}`).digest();
  }
}
