/**
 * Telnyx webhook signatures (API v2): every webhook carries `telnyx-signature-ed25519` (base64 of a
 * 64-byte Ed25519 signature) and `telnyx-timestamp` (Unix seconds). The signed message is
 * `${timestamp}|${rawBody}` — the body exactly as received, never re-serialised — verified with the
 * account's public key (base64 of 32 bytes, from the Mission Control portal). Sources: the Telnyx
 * webhook pages (developers.telnyx.com, "Receiving webhooks" and every callback page's headers) and
 * the official SDKs' verifiers (team-telnyx/telnyx-node src/lib/webhooks.ts: 5-minute tolerance).
 *
 * On top of Telnyx's scheme: a timestamp outside ±tolerance is refused, and a signature is accepted
 * once: a replay of a captured webhook within the tolerance window is refused too. Only signatures
 * that verified are remembered, so forged floods cannot grow the memory.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const SIGNATURE_HEADER = 'telnyx-signature-ed25519';
export const TIMESTAMP_HEADER = 'telnyx-timestamp';

export type TelnyxSignatureCheck = 'ok' | 'missing' | 'malformed' | 'expired' | 'forged' | 'replayed';

const STRICT_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Remembered signatures at most (each ~150 bytes): a busy account's webhooks within the window. */
const DEFAULT_MAX_REMEMBERED = 100_000;

function strictBase64(value: string, bytes: number): Buffer | undefined {
  if (value.length % 4 !== 0 || !STRICT_BASE64.test(value)) return undefined;
  const decoded = Buffer.from(value, 'base64');
  return decoded.length === bytes ? decoded : undefined;
}

/** The account's public key from its base64 form; throws a readable error when it is not 32 bytes of base64. */
export function telnyxPublicKey(base64: string): KeyObject {
  const raw = strictBase64(base64.trim(), 32);
  if (!raw) throw new Error('must be the base64 of a 32-byte Ed25519 public key (Mission Control, Keys & Credentials)');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export interface TelnyxVerifierOptions {
  /** Largest difference, in seconds, between telnyx-timestamp and our clock. */
  toleranceS: number;
  maxRemembered?: number;
}

export class TelnyxWebhookVerifier {
  private readonly key: KeyObject;
  /** signature -> when it may be forgotten (its timestamp + tolerance), oldest insertions first. */
  private readonly seen = new Map<string, number>();
  private readonly maxRemembered: number;

  constructor(
    publicKey: string | KeyObject,
    private readonly options: TelnyxVerifierOptions,
  ) {
    this.key = typeof publicKey === 'string' ? telnyxPublicKey(publicKey) : publicKey;
    this.maxRemembered = options.maxRemembered ?? DEFAULT_MAX_REMEMBERED;
  }

  /** Checks one webhook; `rawBody` must be the bytes as received. Never throws. */
  check(rawBody: Buffer, headers: IncomingHttpHeaders, nowMs = Date.now()): TelnyxSignatureCheck {
    const signatureText = header(headers, SIGNATURE_HEADER);
    const timestampText = header(headers, TIMESTAMP_HEADER);
    if (!signatureText || !timestampText) return 'missing';
    if (!/^\d{1,12}$/.test(timestampText)) return 'malformed';
    const signature = strictBase64(signatureText, 64);
    if (!signature) return 'malformed';
    const timestampS = Number(timestampText);
    if (Math.abs(nowMs / 1000 - timestampS) > this.options.toleranceS) return 'expired';
    let valid: boolean;
    try {
      valid = verify(null, Buffer.concat([Buffer.from(`${timestampText}|`), rawBody]), this.key, signature);
    } catch {
      valid = false;
    }
    if (!valid) return 'forged';
    this.forgetExpired(nowMs);
    if (this.seen.has(signatureText)) return 'replayed';
    if (this.seen.size >= this.maxRemembered) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(signatureText, (timestampS + this.options.toleranceS) * 1000);
    return 'ok';
  }

  private forgetExpired(nowMs: number): void {
    // Insertion order is close to timestamp order; stop at the first one still in its window.
    for (const [signature, until] of this.seen) {
      if (until >= nowMs) break;
      this.seen.delete(signature);
    }
  }
}

/** Signs a webhook body as Telnyx does (the simulator's and the tests' side). */
export function signTelnyxWebhook(
  privateKey: KeyObject | string,
  timestampS: number,
  rawBody: string | Buffer,
): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody) : rawBody;
  return sign(null, Buffer.concat([Buffer.from(`${timestampS}|`), body]), key).toString('base64');
}

/** The base64 raw public key of a key pair's public half (what TELNYX_PUBLIC_KEY holds). */
export function rawPublicKeyBase64(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url').toString('base64');
}
