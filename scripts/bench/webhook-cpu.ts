/**
 * npx tsx scripts/bench/webhook-cpu.ts [--route stream-ended] [--requests 4000] [--runs 3]
 *
 * The server's CPU per Twilio webhook request: the real app (src/app.ts, signatures checked, a
 * temporary SQLite database) in this process, a keep-alive client in a child process that sends
 * signed form posts one after the other (300 to warm up, then --requests). Reported: this process's
 * CPU time (user + system, every thread) per request, and the client's wall time per round trip.
 * A call costs three or more webhooks (the voice webhook, status callbacks, <Connect action>), each a
 * chunk of main-thread time that delays the frames of every other call
 * (docs/benchmarks/bridge.md, "Per-call work: the webhooks' middleware").
 *
 * The default route, /twilio/stream-ended, keeps no state, so every request does the same work:
 * the middleware stack, the form parser, the signature check, a TwiML answer.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import { startTestApp } from '../lib/test-app';
import { createMigratedTempDatabase } from '../lib/test-db';

const AUTH_TOKEN = 'f'.repeat(32);
const PUBLIC_URL = 'https://switchboard.bench.test';

/** The child: posts `body` to `url` with `signature`, n times in sequence, when told to. */
const CLIENT = `
const [url, signature, body] = process.argv.slice(2);
async function run(n) {
  for (let i = 0; i < n; i++) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body,
    });
    await res.text();
    if (res.status !== 200) throw new Error('HTTP ' + res.status);
  }
}
process.on('message', async (n) => {
  const started = performance.now();
  await run(n);
  process.send(performance.now() - started);
});
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      route: { type: 'string', default: 'stream-ended' },
      requests: { type: 'string', default: '4000' },
      runs: { type: 'string', default: '3' },
    },
  });
  const requests = Number(values.requests);
  // Builds the migrated template database startTestApp copies (jest's global set-up does it in tests).
  (await createMigratedTempDatabase()).cleanup();
  const app = await startTestApp({
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    PUBLIC_URL,
    // The limiter still counts every request (its cost is measured); it must not refuse them.
    WEBHOOK_RATE_LIMIT_PER_MIN: '100000000',
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-webhook-cpu-'));
  const pathAndQuery = `/twilio/${values.route}?callId=bench`;
  const params = {
    CallSid: `CA${'a'.repeat(32)}`,
    AccountSid: `AC${'b'.repeat(32)}`,
    CallStatus: 'in-progress',
    From: '+15551234567',
    To: '+15557654321',
    Direction: 'inbound',
    ApiVersion: '2010-04-01',
  };
  const signature = computeTwilioSignature(AUTH_TOKEN, `${PUBLIC_URL}${pathAndQuery}`, params);
  const clientFile = path.join(dir, 'client.cjs');
  writeFileSync(clientFile, CLIENT);
  const child = fork(clientFile, [`${app.baseUrl}${pathAndQuery}`, signature, new URLSearchParams(params).toString()]);
  let failed: ((err: Error) => void) | undefined;
  child.once('exit', (code) => failed?.(new Error(`client exited (${code})`)));
  const round = (n: number): Promise<number> =>
    new Promise((resolve, reject) => {
      failed = reject;
      child.once('message', (ms) => resolve(ms as number));
      child.send(n);
    });
  try {
    await round(300);
    for (let run = 1; run <= Number(values.runs); run++) {
      const cpu = process.cpuUsage();
      const wallMs = await round(requests);
      const used = process.cpuUsage(cpu);
      console.log(
        `/twilio/${values.route} run ${run}: server CPU ${((used.user + used.system) / requests).toFixed(0)} µs per request ` +
          `(user ${(used.user / requests).toFixed(0)}, system ${(used.system / requests).toFixed(0)}); ` +
          `round trip ${((wallMs * 1000) / requests).toFixed(0)} µs`,
      );
    }
  } finally {
    child.kill();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
