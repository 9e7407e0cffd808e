/**
 * npm run simulate -- [--url http://localhost:3000] [--calls N] [--say "text" ...] [--wav file.wav]
 *                     [--duration s] [--token TWILIO_AUTH_TOKEN] [--public-url URL] [--flood]
 *
 * Places N concurrent simulated Twilio calls against a running Switchboard server, prints one
 * summary row per call and exits 0 when every call completed, 1 otherwise (2 on bad arguments).
 */
import { parseArgs } from 'node:util';
import { placeCall, type CallHandle, type CallScriptStep, type CallSummary } from './twilio-caller';
import { readWavAsMulaw } from './wav-input';

const USAGE = `Usage: npm run simulate -- [options]
  --url URL           server to call (default http://localhost:$PORT or http://localhost:3000)
  --public-url URL    the server's PUBLIC_URL, used for signatures (default: env PUBLIC_URL or --url)
  --token TOKEN       Twilio auth token for signatures (default: env TWILIO_AUTH_TOKEN; none = unsigned)
  --calls N           concurrent calls (default 1)
  --say TEXT          a caller utterance; repeat for several (default: a question, then goodbye)
  --wav FILE          speak this WAV file (any rate, mono/stereo) as the first utterance
  --duration S        hang up after S seconds at the latest (default: when the script ends)
  --stagger MS        delay between call starts (default 50)
  --flood             send frames as fast as possible instead of every 20 ms
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

function row(summary: CallSummary): string {
  return [
    pad(summary.callSid.slice(0, 14), 15),
    pad(summary.ok ? 'ok' : 'FAILED', 7),
    pad(summary.closedBy, 7),
    pad((summary.durationMs / 1000).toFixed(1), 7),
    pad(summary.framesSent, 7),
    pad(summary.framesReceived, 7),
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

  const baseUrl = (values.url ?? `http://localhost:${process.env.PORT ?? 3000}`).replace(/\/+$/, '');
  if (!/^https?:\/\//.test(baseUrl)) fail('--url must start with http:// or https://');
  const publicUrl = values['public-url'] ?? process.env.PUBLIC_URL ?? baseUrl;
  const authToken = values.token ?? process.env.TWILIO_AUTH_TOKEN ?? '';
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

  console.log(
    `Placing ${callCount} call(s) to ${baseUrl} (public URL ${publicUrl}, ${authToken ? 'signed' : 'unsigned'})`,
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

  console.log(
    [
      pad('call', 15),
      pad('result', 7),
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
    ].join(' '),
  );
  for (const summary of summaries) console.log(row(summary));
  const failed = summaries.filter((s) => !s.ok || s.streamSid === undefined).length;
  console.log(`${summaries.length - failed}/${summaries.length} calls completed${interrupted ? ' (interrupted)' : ''}`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((err: Error) => {
  console.error(`simulate: ${err.stack ?? err.message}`);
  process.exit(1);
});
