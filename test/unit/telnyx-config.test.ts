import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, loadConfig } from '../../src/config';
import { rawPublicKeyBase64 } from '../../src/channels/telnyx/signature';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('Telnyx configuration', () => {
  it('defaults: no key (webhooks unchecked outside production), 300 s tolerance, PCMU', () => {
    expect(loadConfig({}).telnyx).toEqual({ publicKey: '', apiKey: '', signatureToleranceS: 300, streamCodec: 'PCMU' });
  });

  it('reads a real Ed25519 public key, the tolerance and the codec', () => {
    const key = rawPublicKeyBase64(generateKeyPairSync('ed25519').publicKey);
    const c = loadConfig({
      TELNYX_PUBLIC_KEY: key,
      TELNYX_API_KEY: 'KEY0123',
      TELNYX_SIGNATURE_TOLERANCE_S: '60',
      TELNYX_STREAM_CODEC: 'PCMA',
    });
    expect(c.telnyx).toEqual({ publicKey: key, apiKey: 'KEY0123', signatureToleranceS: 60, streamCodec: 'PCMA' });
  });

  it('names every bad Telnyx variable at once', () => {
    const problems = problemsOf({
      TELNYX_PUBLIC_KEY: 'not-a-key',
      TELNYX_SIGNATURE_TOLERANCE_S: '5',
      TELNYX_STREAM_CODEC: 'OPUS',
    }).join('\n');
    expect(problems).toMatch(/TELNYX_PUBLIC_KEY/);
    expect(problems).toMatch(/TELNYX_SIGNATURE_TOLERANCE_S/);
    expect(problems).toMatch(/TELNYX_STREAM_CODEC/);
    // 44 characters of base64 that decode to 33 bytes are refused too.
    expect(problemsOf({ TELNYX_PUBLIC_KEY: 'A'.repeat(44) }).join('\n')).toMatch(/TELNYX_PUBLIC_KEY/);
  });
});
