/**
 * The bridge harness (bridge-harness.ts) with Telnyx switched on: a fresh Ed25519 key pair whose
 * public half is the server's TELNYX_PUBLIC_KEY, and the Telnyx call simulator signing with the
 * private half.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { rawPublicKeyBase64 } from '../../src/channels/telnyx/signature';
import { placeTelnyxCall, type TelnyxCallHandle, type TelnyxCallOptions } from '../../src/simulators/telnyx-caller';
import { startBridgeHarness, type BridgeHarness, type LocalServerOptions } from './bridge-harness';

export interface TelnyxHarness extends BridgeHarness {
  privateKey: KeyObject;
  publicKeyBase64: string;
  telnyxCall(options?: Partial<TelnyxCallOptions>): TelnyxCallHandle;
}

export async function startTelnyxHarness(
  aiOptions: LocalServerOptions = {},
  env: Record<string, string> = {},
): Promise<TelnyxHarness> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicKeyBase64 = rawPublicKeyBase64(publicKey);
  const h = await startBridgeHarness(aiOptions, { TELNYX_PUBLIC_KEY: publicKeyBase64, ...env });
  let n = 0;
  return {
    ...h,
    privateKey,
    publicKeyBase64,
    telnyxCall(options = {}) {
      n++;
      return placeTelnyxCall({
        baseUrl: h.t.baseUrl,
        privateKey,
        from: `+1555700${String(1000 + n)}`,
        to: '+15559990000',
        ...options,
      });
    },
  };
}
