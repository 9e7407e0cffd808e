import { generateKeyPairSync } from 'node:crypto';
import {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  TelnyxWebhookVerifier,
  rawPublicKeyBase64,
  signTelnyxWebhook,
  telnyxPublicKey,
} from '../../src/channels/telnyx/signature';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const PUBLIC_B64 = rawPublicKeyBase64(publicKey);
const NOW_MS = 1_780_000_000_000;
const NOW_S = NOW_MS / 1000;

function headers(body: string, timestampS = NOW_S, key = privateKey): Record<string, string> {
  return { [SIGNATURE_HEADER]: signTelnyxWebhook(key, timestampS, body), [TIMESTAMP_HEADER]: String(timestampS) };
}

function verifier(toleranceS = 300): TelnyxWebhookVerifier {
  return new TelnyxWebhookVerifier(PUBLIC_B64, { toleranceS });
}

describe('Telnyx webhook signatures (Ed25519 over "timestamp|body")', () => {
  const body = JSON.stringify({ data: { event_type: 'call.hangup', payload: { call_control_id: 'v3:x' } } });

  it('accepts a webhook signed with the account key over timestamp|raw body', () => {
    expect(PUBLIC_B64).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(verifier().check(Buffer.from(body), headers(body), NOW_MS)).toBe('ok');
  });

  it('refuses missing, malformed, forged and tampered signatures', () => {
    const v = verifier();
    const good = headers(body);
    expect(v.check(Buffer.from(body), {}, NOW_MS)).toBe('missing');
    expect(v.check(Buffer.from(body), { [SIGNATURE_HEADER]: good[SIGNATURE_HEADER] }, NOW_MS)).toBe('missing');
    expect(v.check(Buffer.from(body), { ...good, [TIMESTAMP_HEADER]: '12abc' }, NOW_MS)).toBe('malformed');
    expect(v.check(Buffer.from(body), { ...good, [SIGNATURE_HEADER]: 'not base64!' }, NOW_MS)).toBe('malformed');
    expect(
      v.check(Buffer.from(body), { ...good, [SIGNATURE_HEADER]: Buffer.alloc(32).toString('base64') }, NOW_MS),
    ).toBe('malformed');
    expect(v.check(Buffer.from(`${body} `), good, NOW_MS)).toBe('forged');
    // Signed over another timestamp than the header claims.
    expect(v.check(Buffer.from(body), { ...headers(body, NOW_S - 1), [TIMESTAMP_HEADER]: String(NOW_S) }, NOW_MS)).toBe(
      'forged',
    );
    const other = generateKeyPairSync('ed25519').privateKey;
    expect(v.check(Buffer.from(body), headers(body, NOW_S, other), NOW_MS)).toBe('forged');
    expect(
      v.check(Buffer.from(body), { ...good, [SIGNATURE_HEADER]: Buffer.alloc(64).toString('base64') }, NOW_MS),
    ).toBe('forged');
  });

  it('refuses timestamps outside the tolerance, either way', () => {
    const v = verifier(300);
    expect(v.check(Buffer.from(body), headers(body, NOW_S - 301), NOW_MS)).toBe('expired');
    expect(v.check(Buffer.from(body), headers(body, NOW_S + 301), NOW_MS)).toBe('expired');
    expect(v.check(Buffer.from(body), headers(body, NOW_S - 299), NOW_MS)).toBe('ok');
  });

  it('accepts a signature once: a replay within the window is refused, and forgotten after it', () => {
    const v = verifier(300);
    const h = headers(body);
    expect(v.check(Buffer.from(body), h, NOW_MS)).toBe('ok');
    expect(v.check(Buffer.from(body), h, NOW_MS + 1000)).toBe('replayed');
    // After the window the timestamp itself is too old: still refused, as expired.
    expect(v.check(Buffer.from(body), h, NOW_MS + 301_000)).toBe('expired');
  });

  it('forgets the oldest signatures beyond its bound instead of growing', () => {
    const v = new TelnyxWebhookVerifier(PUBLIC_B64, { toleranceS: 300, maxRemembered: 2 });
    const first = headers('a');
    expect(v.check(Buffer.from('a'), first, NOW_MS)).toBe('ok');
    expect(v.check(Buffer.from('b'), headers('b'), NOW_MS)).toBe('ok');
    expect(v.check(Buffer.from('c'), headers('c'), NOW_MS)).toBe('ok');
    expect(v.check(Buffer.from('a'), first, NOW_MS)).toBe('ok'); // 'a' was forgotten first
  });

  it('refuses a public key that is not 32 bytes of base64, with a readable message', () => {
    expect(() => telnyxPublicKey('short')).toThrow(/32-byte Ed25519 public key/);
    expect(() => telnyxPublicKey(Buffer.alloc(31).toString('base64'))).toThrow(/32-byte/);
    expect(() => telnyxPublicKey(PUBLIC_B64)).not.toThrow();
  });
});
