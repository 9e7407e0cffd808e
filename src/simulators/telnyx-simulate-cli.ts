/**
 * `npm run simulate -- --provider telnyx`: the same calls as the Twilio simulation, placed the way
 * Telnyx places them (src/simulators/telnyx-caller.ts). Webhooks are signed with the Ed25519 private
 * key in --telnyx-key or TELNYX_SIMULATOR_PRIVATE_KEY (base64 PKCS#8 DER); the server must have its
 * public half as TELNYX_PUBLIC_KEY. `--telnyx-keygen` prints a fresh pair for the two .env lines.
 * Without a key the calls are unsigned (a development server without TELNYX_PUBLIC_KEY takes them).
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { rawPublicKeyBase64 } from '../channels/telnyx/signature';
import { placeTelnyxCall, type TelnyxCallHandle, type TelnyxCallSummary } from './telnyx-caller';
import type { CallScriptStep } from './twilio-caller';

/** Two lines for .env: the server's TELNYX_PUBLIC_KEY and the simulator's private key. */
export function telnyxKeygen(): string {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
  return `TELNYX_PUBLIC_KEY=${rawPublicKeyBase64(publicKey)}\nTELNYX_SIMULATOR_PRIVATE_KEY=${der}`;
}

/** The simulator's signing key from base64 PKCS#8 DER; throws a readable error otherwise. */
export function telnyxPrivateKey(base64: string): KeyObject {
  try {
    const key = createPrivateKey({ key: Buffer.from(base64.trim(), 'base64'), format: 'der', type: 'pkcs8' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not Ed25519');
    return key;
  } catch {
    throw new Error('the Telnyx simulator key must be a base64 PKCS#8 Ed25519 private key (see --telnyx-keygen)');
  }
}

export interface TelnyxSimulation {
  baseUrl: string;
  calls: number;
  script: CallScriptStep[];
  durationS: number | undefined;
  staggerMs: number;
  privateKey: KeyObject | undefined;
}

/** One row per call: the same columns as the Twilio table where they exist. */
export function telnyxRow(s: TelnyxCallSummary): string {
  const outcome = s.ok ? 'ok' : s.webhookStatus !== 200 || s.handshakeStatus !== null ? 'REFUSED' : 'FAILED';
  return [
    s.callControlId.slice(0, 14).padEnd(15),
    outcome.padEnd(8),
    s.codec.padEnd(6),
    s.closedBy.padEnd(7),
    (s.durationMs / 1000).toFixed(1).padEnd(7),
    String(s.framesSent).padEnd(7),
    ((s.agentAudioBytes / 8000) as number).toFixed(1).padEnd(8),
    `${s.marksEchoed}/${s.marksReceived}`.padEnd(7),
    String(s.clears).padEnd(7),
    s.errors.join('; '),
  ].join(' ');
}

/** Places the calls, prints the table; resolves with how many completed. */
export async function runTelnyxSimulation(sim: TelnyxSimulation): Promise<{ completed: number; total: number }> {
  console.log(
    `Placing ${sim.calls} Telnyx call(s) to ${sim.baseUrl} (${sim.privateKey ? 'signed with the simulator key' : 'unsigned'})`,
  );
  const handles: TelnyxCallHandle[] = [];
  for (let i = 0; i < sim.calls; i++) {
    handles.push(
      placeTelnyxCall({
        baseUrl: sim.baseUrl,
        privateKey: sim.privateKey,
        from: `+1555${String(2000000 + i).slice(-7)}`,
        script: sim.script,
        hangupAfterMs: sim.durationS === undefined ? undefined : sim.durationS * 1000,
      }),
    );
    if (sim.staggerMs > 0 && i < sim.calls - 1) await new Promise((r) => setTimeout(r, sim.staggerMs));
  }
  process.once('SIGINT', () => {
    for (const handle of handles) void handle.hangup();
  });
  const summaries = await Promise.all(handles.map((h) => h.done));
  console.log('call            result   codec  ended   secs    sent    agent s  marks   clears  errors');
  for (const summary of summaries) console.log(telnyxRow(summary));
  if (summaries.some((s) => s.webhookStatus === 403)) {
    console.log(
      "hint: the server refused the signature: pass --telnyx-key (or TELNYX_SIMULATOR_PRIVATE_KEY) matching the server's TELNYX_PUBLIC_KEY",
    );
  }
  const completed = summaries.filter((s) => s.ok).length;
  console.log(`${completed}/${summaries.length} calls completed`);
  return { completed, total: summaries.length };
}
