/**
 * Short-lived signed session tokens for web calls: a website's server (holding an API token) mints
 * one with `POST /api/web-calls` and hands it to its page, which places exactly one call with it
 * and never sees the API token. The token names the agent profile (the page cannot pick another)
 * and an expiry; it is single-use.
 *
 * Format: `wcs1.<base64url JSON {p, l?, exp, n}>.<base64url HMAC-SHA256>`; the key is derived from
 * URL_SIGNING_SECRET for this purpose only, so it opens nothing else.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_TOKEN_PREFIX = 'wcs1.';
export const DEFAULT_SESSION_TTL_SEC = 300;
export const MAX_SESSION_TTL_SEC = 3600;
export const MIN_SESSION_TTL_SEC = 10;
/** Tokens longer than this are not parsed. */
const MAX_TOKEN_CHARS = 1024;
/** At most this many spent tokens are remembered (until their expiry); beyond, minting is refused. */
export const MAX_SPENT_TOKENS = 100_000;
const TOKEN_PATTERN = /^wcs1\.([A-Za-z0-9_-]{1,800})\.([A-Za-z0-9_-]{43})$/;

export interface SessionClaims {
  profile: string;
  languageHint?: string;
  /** Expiry, seconds since the epoch. */
  expiresAt: number;
  nonce: string;
}

export type SessionRefusal = 'malformed' | 'forged' | 'expired' | 'replayed';

export class SessionTokens {
  private readonly key: Buffer;
  /** Nonces of tokens already used, with their expiry (seconds). */
  private readonly spent = new Map<string, number>();

  constructor(
    secret: string,
    private readonly nowMs: () => number = Date.now,
  ) {
    if (!secret) throw new Error('SessionTokens needs a secret');
    this.key = createHmac('sha256', secret).update('switchboard web-call session tokens').digest();
  }

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.key).update(payload).digest();
  }

  mint(profile: string, ttlSec = DEFAULT_SESSION_TTL_SEC, languageHint?: string): { token: string; expiresAt: number } {
    const expiresAt = Math.floor(this.nowMs() / 1000) + ttlSec;
    const claims = {
      p: profile,
      ...(languageHint ? { l: languageHint } : {}),
      exp: expiresAt,
      n: randomBytes(12).toString('base64url'),
    };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { token: `${SESSION_TOKEN_PREFIX}${payload}.${this.mac(payload).toString('base64url')}`, expiresAt };
  }

  /** The token's claims, or why it is refused. Does not spend it (see `spend`). */
  verify(token: string): SessionClaims | SessionRefusal {
    if (token.length > MAX_TOKEN_CHARS) return 'malformed';
    const match = TOKEN_PATTERN.exec(token);
    if (!match) return 'malformed';
    const given = Buffer.from(match[2], 'base64url');
    const expected = this.mac(match[1]);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'forged';
    let raw: { p?: unknown; l?: unknown; exp?: unknown; n?: unknown };
    try {
      raw = JSON.parse(Buffer.from(match[1], 'base64url').toString('utf8')) as typeof raw;
    } catch {
      return 'malformed';
    }
    if (typeof raw.p !== 'string' || typeof raw.exp !== 'number' || typeof raw.n !== 'string') return 'malformed';
    if (raw.l !== undefined && typeof raw.l !== 'string') return 'malformed';
    const now = Math.floor(this.nowMs() / 1000);
    if (raw.exp <= now) return 'expired';
    if (this.spent.has(raw.n)) return 'replayed';
    return { profile: raw.p, languageHint: raw.l as string | undefined, expiresAt: raw.exp, nonce: raw.n };
  }

  /**
   * Marks the token used: 'replayed' when it already was (a concurrent replay), 'full' when the
   * memory of spent tokens is at its bound (the call is refused rather than the token forgotten).
   */
  spend(claims: SessionClaims): 'ok' | 'replayed' | 'full' {
    if (this.spent.has(claims.nonce)) return 'replayed';
    if (this.spent.size >= MAX_SPENT_TOKENS) this.prune();
    if (this.spent.size >= MAX_SPENT_TOKENS) return 'full';
    this.spent.set(claims.nonce, claims.expiresAt);
    if (this.spent.size % 1024 === 0) this.prune();
    return 'ok';
  }

  /** Spent tokens remembered (until they expire). */
  get spentCount(): number {
    return this.spent.size;
  }

  private prune(): void {
    const now = Math.floor(this.nowMs() / 1000);
    for (const [nonce, exp] of this.spent) if (exp <= now) this.spent.delete(nonce);
  }
}

/** True when the bearer credential looks like a session token (and not an API token). */
export function isSessionToken(credential: string): boolean {
  return credential.startsWith(SESSION_TOKEN_PREFIX);
}
