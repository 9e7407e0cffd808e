/**
 * Per-call stream tokens. Twilio signs the Media Stream handshake over `wss://host/streams` with no
 * parameters, so one captured handshake header could open any number of streams. The webhook that
 * prepares a call therefore hands Twilio a token in the TwiML's <Parameter>s, and the stream's
 * `start` message must carry it back: HMAC-SHA256 (server secret) over the call id and an expiry,
 * short-lived, and single-use because a call accepts exactly one stream (CallSession's state).
 *
 * Format: `<expiry unix ms>.<base64url HMAC>`; compared in constant time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const STREAM_TOKEN_PARAMETER = 'token';

export type StreamTokenCheck = 'ok' | 'missing' | 'malformed' | 'expired' | 'forged';

export class StreamTokens {
  private readonly secret: Buffer;

  /** secret: shared by every instance behind one load balancer; empty = a random one for this process. */
  constructor(
    secret: string | Buffer = '',
    readonly ttlMs = 60_000,
  ) {
    this.secret = secret.length > 0 ? Buffer.from(secret) : randomBytes(32);
  }

  issue(callId: string, now = Date.now()): string {
    const expires = now + this.ttlMs;
    return `${expires}.${this.mac(callId, expires).toString('base64url')}`;
  }

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

  private mac(callId: string, expires: number): Buffer {
    return createHmac('sha256', this.secret).update(`stream:${callId}:${expires}`).digest();
  }
}
