/**
 * npm run simulate -- [--url http://localhost:3000] [--calls N] [--say "text" ...] [--wav file.wav]
 *                     [--duration s] [--token TWILIO_AUTH_TOKEN] [--public-url URL] [--flood]
 *
 * Places N concurrent simulated Twilio calls against a running Switchboard server, prints one
 * summary row per call and exits 0 when every call completed, 1 otherwise (2 on bad arguments).
 *
 * Reads the same `.env` as the server (from the current folder, never overriding the environment),
 * so PORT, PUBLIC_URL and TWILIO_AUTH_TOKEN match the server's without options. A call the server
 * refuses (HTTP error on the webhook, refused stream handshake, busy TwiML) is listed as REFUSED with
 * a hint saying what to pass.
 */
import { parseArgs } from 'node:util';
import dotenv from 'dotenv';
import {
  FRAME_BYTES,
  FRAME_MS,
  placeCall,
  type CallHandle,
  type CallScriptStep,
  type CallSummary,
} from './twilio-caller';
import { readWavAsMulaw } from './wav-input';
import { runTelnyxSimulation, telnyxKeygen, telnyxPrivateKey } from './telnyx-simulate-cli';

const USAGE = `Usage: npm run simulate -- [options]
  (PORT, PUBLIC_URL and TWILIO_AUTH_TOKEN are read from the environment and ./.env, as the server does)
  --url URL           server to call (default http://localhost:$PORT, PORT defaulting to 3000)
  --public-url URL    the server's PUBLIC_URL, used for signatures (default: PUBLIC_URL, else
                      http://localhost:<port>, the server's own default)
  --token TOKEN       Twilio auth token for signatures (default: TWILIO_AUTH_TOKEN; none = unsigned)
  --calls N           concurrent calls (default 1)
  --say TEXT          a caller utterance; repeat for several (default: a question, then goodbye)
  --wav FILE          speak this WAV file (any rate, mono/stereo) as the first utterance
  --duration S        hang up after S seconds at the latest (default: when the script ends)
  --stagger MS        delay between call starts (default 50)
  --flood             send frames as fast as possible instead of every 20 ms
  --provider NAME     twilio (default) or telnyx: place the calls the way Telnyx does (TeXML, media streaming)
  --telnyx-key KEY    Telnyx: base64 PKCS#8 Ed25519 key signing the webhooks (default:
                      TELNYX_SIMULATOR_PRIVATE_KEY; none = unsigned); the server needs its TELNYX_PUBLIC_KEY
  --telnyx-keygen     print a new key pair (TELNYX_PUBLIC_KEY and TELNYX_SIMULATOR_PRIVATE_KEY lines for .env)
  --help              show this help`;

const DEFAULT_UTTERANCES = ["Hi, I'd like to check the status of my order, please.", "Thanks, that's all. Goodbye."];

function fail(message: string): never {
  console.error(`simulate: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} must be a non-negative number`);
  return n;
}

function pad(value: string | number, width: number): string {
  const text = String(value);
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** Where the simulated calls go and how they are signed, with where each value came from. */
export interface SimulatorTarget {
  baseUrl: string;
  publicUrl: string;
  authToken: string;
  /** e.g. { port: 'PORT=3608 (environment or .env)', publicUrl: 'default http://localhost:<port>' } */
  sources: { port: string; publicUrl: string; authToken: string };
}

/**
 * The server's address, public URL and auth token the way the server itself derives them
 * (src/config: PUBLIC_URL defaults to http://localhost:PORT), options first, then the environment
 * (which includes .env once main() has loaded it).
 */
export function simulatorTarget(
  options: { url?: string; publicUrl?: string; token?: string },
  env: NodeJS.ProcessEnv,
): SimulatorTarget {
  const envPort = env.PORT?.trim() || undefined;
  let baseUrl: string;
  let port: string;
  let portSource: string;
  if (options.url) {
    baseUrl = options.url.replace(/\/+$/, '');
    let parsed: URL | undefined;
    try {
      parsed = new URL(baseUrl);
    } catch {
      parsed = undefined;
    }
    port = parsed?.port || (parsed?.protocol === 'https:' ? '443' : '80');
    portSource = '--url';
  } else {
    port = envPort ?? '3000';
    baseUrl = `http://localhost:${port}`;
    portSource = envPort ? `PORT=${envPort} (environment or .env)` : 'default 3000';
  }
  const envPublicUrl = env.PUBLIC_URL?.trim() || undefined;
  const publicUrl = (options.publicUrl ?? envPublicUrl ?? `http://localhost:${port}`).replace(/\/+$/, '');
  const publicUrlSource = options.publicUrl
    ? '--public-url'
    : envPublicUrl
      ? 'PUBLIC_URL (environment or .env)'
      : "the server's default http://localhost:<port>";
  const envToken = env.TWILIO_AUTH_TOKEN?.trim() || undefined;
  const authToken = options.token ?? envToken ?? '';
  const tokenSource = options.token
    ? '--token'
    : envToken
      ? 'TWILIO_AUTH_TOKEN (environment or .env)'
      : 'none: unsigned';
  return {
    baseUrl,
    publicUrl,
    authToken,
    sources: { port: portSource, publicUrl: publicUrlSource, authToken: tokenSource },
  };
}

export type CallOutcome = 'ok' | 'REFUSED' | 'FAILED';

/** ok only when the media stream ran and nothing went wrong; REFUSED when the server turned the call away. */
export function callOutcome(summary: CallSummary): CallOutcome {
  if (summary.ok && summary.streamSid !== undefined) return 'ok';
  const webhookRefused = summary.webhookStatus !== null && summary.webhookStatus !== 200;
  const streamRefused = summary.handshakeStatus !== null;
  const noStream = summary.webhookStatus === 200 && summary.streamUrl === undefined && summary.twiml !== undefined;
  return webhookRefused || streamRefused || noStream ? 'REFUSED' : 'FAILED';
}

/** What to do about a call that did not go through (undefined for a good call or an unknown failure). */
export function refusalHint(summary: CallSummary, target: SimulatorTarget): string | undefined {
  const signatureHint = target.authToken
    ? `the server refused the signature: --token (${target.sources.authToken}) and --public-url ` +
      `(${target.publicUrl}, from ${target.sources.publicUrl}) must be the server's TWILIO_AUTH_TOKEN and PUBLIC_URL`
    : "the server checks Twilio signatures: pass --token <the server's TWILIO_AUTH_TOKEN> (and --public-url " +
      '<its PUBLIC_URL> if it sets one), or run from the folder whose .env the server reads';
  const status = summary.webhookStatus;
  if (status === 401 || status === 403) return `webhook answered HTTP ${status}: ${signatureHint}`;
  if (status === 429)
    return 'webhook answered HTTP 429: the server rate-limits Twilio webhooks; place fewer calls at once';
  if (status === 404) return `webhook answered HTTP 404: is ${target.baseUrl} a Switchboard server? (pass --url)`;
  if (status !== null && status !== 200) return `webhook answered HTTP ${status}: see the server's log`;
  const handshake = summary.handshakeStatus;
  if (handshake === 401 || handshake === 403) return `media stream refused (HTTP ${handshake}): ${signatureHint}`;
  if (handshake !== null) return `media stream refused (HTTP ${handshake}): see the server's log`;
  if (status === 200 && summary.twiml !== undefined && summary.streamUrl === undefined) {
    return 'the server answered without a media stream: it is busy (MAX_CONCURRENT_CALLS reached) or shutting down';
  }
  if (summary.errors.some((e) => /ECONNREFUSED/.test(e))) {
    return `nothing answers at ${target.baseUrl} (port from ${target.sources.port}): start the server (npm start) or pass --url`;
  }
  return undefined;
}

/** Header and rows of the summary table; "sent" and "recv" both count 20 ms frames of audio. */
export const TABLE_HEADER = [
  pad('call', 15),
  pad('result', 8),
  pad('ended', 7),
  pad('secs', 7),
  pad('sent', 7),
  pad('recv', 7),
  pad('agent s', 8),
  pad('1st ms', 8),
  pad('marks', 7),
  pad('clears', 7),
  pad('gap ms', 6),
  'errors',
].join(' ');

export function row(summary: CallSummary): string {
  return [
    pad(summary.callSid.slice(0, 14), 15),
    pad(callOutcome(summary), 8),
    pad(summary.closedBy, 7),
    pad((summary.durationMs / 1000).toFixed(1), 7),
    pad(summary.framesSent, 7),
    // Media messages carry up to 100 ms each: count received audio in 20 ms frames like "sent".
    pad(Math.round(summary.bytesReceived / FRAME_BYTES), 7),
    pad((summary.agentAudioMs / 1000).toFixed(1), 8),
    pad(summary.firstAgentAudioMs ?? '-', 8),
    pad(`${summary.marksEchoed}/${summary.marksReceived}`, 7),
    pad(summary.clears, 7),
    pad(summary.playbackGapMs, 6),
    summary.errors.join('; '),
  ].join(' ');
}

async function main(): Promise<void> {
  let values: ReturnType<typeof parse>['values'];
  function parse() {
    return parseArgs({
      options: {
        url: { type: 'string' },
        'public-url': { type: 'string' },
        token: { type: 'string' },
        calls: { type: 'string' },
        say: { type: 'string', multiple: true },
        wav: { type: 'string' },
        duration: { type: 'string' },
        stagger: { type: 'string' },
        flood: { type: 'boolean' },
        provider: { type: 'string' },
        'telnyx-key': { type: 'string' },
        'telnyx-keygen': { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
    });
  }
  try {
    values = parse().values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values['telnyx-keygen']) {
    console.log(telnyxKeygen());
    return;
  }
  const provider = values.provider ?? 'twilio';
  if (provider !== 'twilio' && provider !== 'telnyx') fail('--provider must be twilio or telnyx');

  // The same .env the server reads (./.env, never overriding the environment), quietly.
  dotenv.config({ quiet: true });
  const target = simulatorTarget(
    { url: values.url, publicUrl: values['public-url'], token: values.token },
    process.env,
  );
  const { baseUrl, publicUrl, authToken } = target;
  if (!/^https?:\/\//.test(baseUrl)) fail('--url must start with http:// or https://');
  const callCount = Math.floor(positive('calls', values.calls, 1));
  if (callCount < 1) fail('--calls must be at least 1');
  const durationS = values.duration === undefined ? undefined : positive('duration', values.duration, 0);
  const staggerMs = positive('stagger', values.stagger, 50);

  const utterances = values.say?.length ? values.say : DEFAULT_UTTERANCES;
  const script: CallScriptStep[] = [{ waitForAgentMs: 8000, untilAgentSilentMs: 700 }];
  if (values.wav) {
    try {
      script.push({ audio: await readWavAsMulaw(values.wav) }, { waitForAgentMs: 15000, untilAgentSilentMs: 900 });
    } catch (err) {
      fail((err as Error).message);
    }
  }
  for (const text of utterances) {
    script.push({ say: text }, { waitForAgentMs: 15000, untilAgentSilentMs: 900 });
  }

  if (provider === 'telnyx') {
    const keyText = values['telnyx-key'] ?? (process.env.TELNYX_SIMULATOR_PRIVATE_KEY?.trim() || undefined);
    let privateKey: ReturnType<typeof telnyxPrivateKey> | undefined;
    try {
      privateKey = keyText ? telnyxPrivateKey(keyText) : undefined;
    } catch (err) {
      fail((err as Error).message);
    }
    const sim = { baseUrl, calls: callCount, script, durationS, staggerMs, privateKey };
    const { completed, total } = await runTelnyxSimulation(sim);
    process.exitCode = completed === total ? 0 : 1;
    return;
  }
  console.log(
    `Placing ${callCount} call(s) to ${baseUrl} (port: ${target.sources.port}; public URL ${publicUrl}: ` +
      `${target.sources.publicUrl}; ${authToken ? `signed with ${target.sources.authToken}` : 'unsigned'})`,
  );
  const handles: CallHandle[] = [];
  for (let i = 0; i < callCount; i++) {
    handles.push(
      placeCall({
        baseUrl,
        publicUrl,
        authToken: authToken || undefined,
        from: `+1555${String(1000000 + i).slice(-7)}`,
        script,
        realtime: !values.flood,
        hangupAfterMs: durationS === undefined ? undefined : durationS * 1000,
        keepAudio: false,
      }),
    );
    if (staggerMs > 0 && i < callCount - 1) await new Promise((r) => setTimeout(r, staggerMs));
  }
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    console.log('\nHanging up…');
    for (const handle of handles) void handle.hangup();
  });
  const summaries = await Promise.all(handles.map((h) => h.done));

  console.log(TABLE_HEADER);
  for (const summary of summaries) console.log(row(summary));
  console.log(`(sent, recv: ${FRAME_MS} ms audio frames)`);
  const hints = new Set<string>();
  for (const summary of summaries) {
    const hint = callOutcome(summary) === 'ok' ? undefined : refusalHint(summary, target);
    if (hint) hints.add(hint);
  }
  for (const hint of hints) console.log(`hint: ${hint}`);
  const completed = summaries.filter((s) => callOutcome(s) === 'ok').length;
  const refused = summaries.filter((s) => callOutcome(s) === 'REFUSED').length;
  console.log(
    `${completed}/${summaries.length} calls completed${refused ? `, ${refused} refused` : ''}${interrupted ? ' (interrupted)' : ''}`,
  );
  process.exitCode = completed === summaries.length ? 0 : 1;
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`simulate: ${err.stack ?? err.message}`);
    process.exit(1);
  });
}
