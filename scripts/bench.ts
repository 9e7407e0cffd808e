/**
 * npm run bench -- [--calls 100[,200,...]] [--seconds 30] [--ai-url ws://...] [--tsx] [--no-build]
 *                  [--ramp-seconds S] [--profile] [--out bench-results] [--label text]
 *
 * Bridge benchmark: the server in its own process (built JS: `node dist/src/main.js`), the local
 * Realtime server in a second (`--tts tone`, stats at /stats) unless --ai-url is given, and N
 * simultaneous simulated calls from a third (scripts/bench/caller.ts: real-pace 20 ms frames,
 * barge-ins, recording and transcripts on as in production). A list of call counts runs one fresh
 * set of processes per count (a sweep).
 *
 * Measured over a steady window of --seconds once every call is streaming:
 * - bridge-added latency per direction, from the server's exact recorders (SWITCHBOARD_BENCH_METRICS=1,
 *   exported on /metrics as switchboard_bench_latency_ms): uplink = Twilio frame received -> appended
 *   on the AI socket; downlink = AI audio message received -> media sent to Twilio;
 * - barge-in reaction (speech_started received -> clear sent); event-loop delay p99 and max;
 * - CPU seconds and resident memory of each process (from /proc), memory per call;
 * - frames lost over the whole run: caller frames sent vs appends the AI received, and agent audio
 *   the AI sent (minus what followed a barge-in, which the bridge drops on purpose) vs received.
 * Writes bench-results/bench-<time>.{json,md} and prints the Markdown table.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, existsSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CallerConfig, CallerMessage, CallerTotals, OrchestratorMessage } from './bench/caller';
import { parsePrometheus, valueOf, type Sample } from './bench/prometheus';
import { RssSampler, sampleProcess, sampleSystem, type ProcSample } from './bench/proc';

const ROOT = path.resolve(__dirname, '..');
const AUTH_TOKEN = 'bench-twilio-auth-token-0123456789';
const FRAME_BYTES = 160;
const SETTLE_MS = 2000;

const USAGE = `Usage: npm run bench -- [options]
  --calls N[,N...]    simultaneous calls; a list runs a sweep (default 100)
  --seconds S         measured steady window per run (default 30)
  --ramp-seconds S    calls start evenly over this long (default max(2, calls/50))
  --ai-url URL        use this Realtime endpoint instead of the local server (frame loss then not counted)
  --tsx               run the server with tsx instead of the built JS
  --no-build          do not run npm run build first
  --profile           write a V8 CPU profile of the server (node --cpu-prof) into the output folder
  --out DIR           output folder (default bench-results)
  --label TEXT        a note stored with the results (e.g. "before")
  --help`;

interface Stat {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

interface ProcFigures {
  cpuSeconds: number;
  cpuPercentOfOneCore: number;
  rssPeakMb: number;
}

export interface RunResult {
  calls: number;
  seconds: number;
  uplinkMs: Stat;
  downlinkMs: Stat;
  bargeInMs: Stat;
  eventLoopMs: { p50: number; p99: number; max: number };
  server: ProcFigures & { rssBaselineMb: number; rssMeanMb: number; memoryPerCallKb: number };
  ai: ProcFigures | null;
  caller: ProcFigures;
  /** Whole machine during the window, in % of one core (200 = both cores busy); other = not the bench's processes. */
  machineCpuPercent: { all: number; other: number };
  frames: {
    callerSent: number;
    callerSkipped: number;
    aiAppends: number | null;
    uplinkLost: number | null;
    aiAgentFrames: number | null;
    aiAgentFramesAfterBargeIn: number | null;
    callerReceivedFrames: number;
    downlinkLost: number | null;
  };
  callsOk: number;
  streams: number;
  questions: number;
  interruptions: number;
  clears: number;
  forcedHangups: number;
  callerErrors: string[];
}

function fail(message: string): never {
  console.error(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with code ${child.exitCode} before ${url} answered`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

async function scrape(baseUrl: string): Promise<Sample[]> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered HTTP ${res.status}`);
  return parsePrometheus(await res.text());
}

function benchStat(samples: Sample[], series: string): Stat {
  const v = (stat: string): number => valueOf(samples, 'switchboard_bench_latency_ms', { series, stat }) ?? NaN;
  return { count: v('count'), p50: v('p50'), p99: v('p99'), max: v('max') };
}

async function stopProcess(child: ChildProcess | undefined, timeoutMs = 15000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

function procFigures(a: ProcSample | null, b: ProcSample | null, windowS: number, peak: number): ProcFigures {
  const cpu = a && b ? b.cpuSeconds - a.cpuSeconds : NaN;
  return {
    cpuSeconds: round(cpu, 2),
    cpuPercentOfOneCore: round((cpu / windowS) * 100, 1),
    rssPeakMb: round(peak / 2 ** 20, 1),
  };
}

/**
 * The local AI server and the callers stand in for remote systems (OpenAI, Twilio) that would not
 * share the bridge's CPU: they run at a lower scheduling priority (nice 10) so that on a small
 * machine the server is not queued behind its own load generators. Their CPU is still reported.
 */
function lowerPriority(child: ChildProcess): void {
  try {
    if (child.pid) os.setPriority(child.pid, 10);
  } catch {
    // not permitted here: run at normal priority
  }
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

async function startAi(outDir: string, profile: boolean): Promise<{ child: ChildProcess; url: string }> {
  const args = [
    ...(profile
      ? ['--cpu-prof', `--cpu-prof-dir=${path.join(outDir, 'profiles')}`, '--cpu-prof-name=ai.cpuprofile']
      : []),
    path.join(ROOT, 'dist/src/simulators/local-realtime-cli.js'),
    ...['--port', '0', '--host', '127.0.0.1', '--tts', 'tone', '--stats', '--log-level', 'warn'],
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('local Realtime server did not start in 20 s')), 20000);
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const m = /listening on (ws:\/\/\S+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`local Realtime server exited with code ${code}`)));
  });
  child.stdout!.resume();
  lowerPriority(child);
  return { child, url };
}

async function runOnce(opts: {
  calls: number;
  seconds: number;
  rampMs: number;
  aiUrl: string | undefined;
  tsx: boolean;
  profile: boolean;
  outDir: string;
}): Promise<RunResult> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-'));
  let ai: ChildProcess | undefined;
  let server: ChildProcess | undefined;
  let caller: ChildProcess | undefined;
  let logFd: number | undefined;
  try {
    let aiUrl = opts.aiUrl;
    let aiStatsUrl: string | undefined;
    if (!aiUrl) {
      const started = await startAi(opts.outDir, opts.profile);
      ai = started.child;
      aiUrl = started.url;
      aiStatsUrl = started.url.replace(/^ws:/, 'http:').replace(/\/v1\/realtime$/, '/stats');
    }
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    logFd = openSync(path.join(opts.outDir, `server-${opts.calls}.log`), 'w');
    const nodeArgs = [
      ...(opts.profile
        ? [
            '--cpu-prof',
            `--cpu-prof-dir=${path.join(opts.outDir, 'profiles')}`,
            `--cpu-prof-name=server-${opts.calls}.cpuprofile`,
          ]
        : []),
      ...(opts.tsx ? ['--import', 'tsx', path.join(ROOT, 'src/main.ts')] : [path.join(ROOT, 'dist/src/main.js')]),
    ];
    server = spawn(process.execPath, nodeArgs, {
      cwd: ROOT,
      stdio: ['ignore', logFd, logFd],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        HOST: '127.0.0.1',
        PORT: String(port),
        PUBLIC_URL: baseUrl,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        DATABASE_URL: `file:${path.join(tmp, 'bench.db')}`,
        RECORDING_STORAGE_PATH: path.join(tmp, 'recordings'),
        OPENAI_REALTIME_URL: aiUrl,
        OPENAI_API_KEY: opts.aiUrl ? (process.env.OPENAI_API_KEY ?? '') : 'bench-local',
        MAX_CONCURRENT_CALLS: String(Math.max(500, opts.calls + 10)),
        API_TOKENS: '',
        SWITCHBOARD_BENCH_METRICS: '1',
      },
    });
    await waitForHttp(`${baseUrl}/health`, 60000, server);
    await sleep(1000);
    const baseline = sampleProcess(server.pid);

    caller = fork(path.join(__dirname, 'bench/caller.ts'), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    lowerPriority(caller);
    const messages: CallerMessage[] = [];
    const waiters: (() => void)[] = [];
    caller.on('message', (m: CallerMessage) => {
      messages.push(m);
      for (const w of waiters.splice(0)) w();
    });
    const waitFor = async <T extends CallerMessage['type']>(
      type: T,
      timeoutMs: number,
    ): Promise<Extract<CallerMessage, { type: T }>> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const error = messages.find((m) => m.type === 'error');
        if (error && error.type === 'error') throw new Error(`caller process: ${error.message}`);
        const found = messages.find((m) => m.type === type);
        if (found) return found as Extract<CallerMessage, { type: T }>;
        if (caller!.exitCode !== null) throw new Error('caller process exited');
        if (Date.now() > deadline) throw new Error(`caller process: no '${type}' within ${timeoutMs} ms`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(1000)]);
      }
    };
    const config: CallerConfig = {
      baseUrl,
      publicUrl: baseUrl,
      authToken: AUTH_TOKEN,
      calls: opts.calls,
      rampMs: opts.rampMs,
    };
    caller.send({ type: 'start', config } satisfies OrchestratorMessage);
    const streaming = await waitFor('streaming', opts.rampMs + 60000);
    console.error(`bench: ${streaming.streams}/${opts.calls} calls streaming (${streaming.failed} failed); measuring`);

    await sleep(SETTLE_MS);
    await scrape(baseUrl); // resets the window (exact recorders, event-loop histogram)
    const cpuA = [sampleProcess(server.pid), sampleProcess(ai?.pid), sampleProcess(caller.pid)];
    const sysA = sampleSystem();
    const rss = [new RssSampler(server.pid), new RssSampler(ai?.pid), new RssSampler(caller.pid)];
    for (const r of rss) r.start();
    const windowStart = Date.now();
    await sleep(opts.seconds * 1000);
    const window = await scrape(baseUrl);
    const windowS = (Date.now() - windowStart) / 1000;
    const cpuB = [sampleProcess(server.pid), sampleProcess(ai?.pid), sampleProcess(caller.pid)];
    const sysB = sampleSystem();
    for (const r of rss) r.stop();

    caller.send({ type: 'finish' } satisfies OrchestratorMessage);
    const done = await waitFor('done', 90000);
    const totals: CallerTotals = done.totals;
    await sleep(1000);
    let aiStats: { appends: number; audioBytesOut: number; audioBytesOutAfterSpeechStarted: number } | undefined;
    if (aiStatsUrl) {
      const res = await fetch(aiStatsUrl);
      aiStats = (await res.json()) as typeof aiStats;
    }

    const uplinkLost = aiStats ? totals.framesSent - aiStats.appends : null;
    const aiAgentFrames = aiStats ? aiStats.audioBytesOut / FRAME_BYTES : null;
    const aiAfter = aiStats ? aiStats.audioBytesOutAfterSpeechStarted / FRAME_BYTES : null;
    const callerReceivedFrames = totals.bytesReceived / FRAME_BYTES;
    const serverFigures = procFigures(cpuA[0], cpuB[0], windowS, rss[0].peakBytes);
    const benchCpu = [0, 1, 2].reduce((sum, i) => sum + ((cpuB[i]?.cpuSeconds ?? 0) - (cpuA[i]?.cpuSeconds ?? 0)), 0);
    const machineBusy = sysA && sysB ? sysB.busySeconds - sysA.busySeconds : NaN;
    const baselineMb = (baseline?.rssBytes ?? 0) / 2 ** 20;
    return {
      calls: opts.calls,
      seconds: round(windowS, 1),
      uplinkMs: benchStat(window, 'uplink'),
      downlinkMs: benchStat(window, 'downlink'),
      bargeInMs: benchStat(window, 'barge_in'),
      eventLoopMs: {
        p50: benchStat(window, 'event_loop').p50,
        p99: benchStat(window, 'event_loop').p99,
        max: benchStat(window, 'event_loop').max,
      },
      server: {
        ...serverFigures,
        rssBaselineMb: round(baselineMb, 1),
        rssMeanMb: round(rss[0].meanBytes / 2 ** 20, 1),
        memoryPerCallKb: round((rss[0].peakBytes - (baseline?.rssBytes ?? 0)) / opts.calls / 1024, 0),
      },
      ai: ai ? procFigures(cpuA[1], cpuB[1], windowS, rss[1].peakBytes) : null,
      caller: procFigures(cpuA[2], cpuB[2], windowS, rss[2].peakBytes),
      machineCpuPercent: {
        all: round((machineBusy / windowS) * 100, 1),
        other: round(((machineBusy - benchCpu) / windowS) * 100, 1),
      },
      frames: {
        callerSent: totals.framesSent,
        callerSkipped: totals.framesSkipped,
        aiAppends: aiStats?.appends ?? null,
        uplinkLost,
        aiAgentFrames,
        aiAgentFramesAfterBargeIn: aiAfter,
        callerReceivedFrames,
        downlinkLost:
          aiAgentFrames !== null && aiAfter !== null ? round(aiAgentFrames - aiAfter - callerReceivedFrames, 2) : null,
      },
      callsOk: totals.callsOk,
      streams: totals.streamsStarted,
      questions: totals.questions,
      interruptions: totals.interruptions,
      clears: totals.clears,
      forcedHangups: totals.forcedHangups,
      callerErrors: totals.errors,
    };
  } finally {
    if (caller?.connected) caller.disconnect();
    await stopProcess(caller, 5000);
    await stopProcess(server);
    await stopProcess(ai);
    if (logFd !== undefined) closeSync(logFd);
    rmSync(tmp, { recursive: true, force: true });
  }
}

const fmt = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const triple = (s: Stat): string => `${fmt(s.p50, 3)} / ${fmt(s.p99, 3)} / ${fmt(s.max, 2)}`;

export function markdownTable(results: RunResult[]): string {
  const lines = [
    '| Calls | Uplink p50 / p99 / max (ms) | Downlink p50 / p99 / max (ms) | Barge-in p50 / p99 / max (ms) (n) | Event-loop delay p99 / max (ms) | Server CPU (% of one core) | Server RSS peak (MB) | Memory per call (KB) | Frames lost up / down | AI CPU % | Caller CPU % | Other load on the machine (% of one core) |',
    '|---:|---|---|---|---|---:|---:|---:|---|---:|---:|---:|',
  ];
  for (const r of results) {
    const lost = `${r.frames.uplinkLost ?? 'n/a'} / ${r.frames.downlinkLost ?? 'n/a'}`;
    lines.push(
      `| ${r.calls} | ${triple(r.uplinkMs)} | ${triple(r.downlinkMs)} | ${triple(r.bargeInMs)} (${r.bargeInMs.count}) | ${fmt(r.eventLoopMs.p99)} / ${fmt(r.eventLoopMs.max)} | ${fmt(r.server.cpuPercentOfOneCore, 1)} | ${fmt(r.server.rssPeakMb, 0)} | ${fmt(r.server.memoryPerCallKb, 0)} | ${lost} | ${r.ai ? fmt(r.ai.cpuPercentOfOneCore, 0) : 'n/a'} | ${fmt(r.caller.cpuPercentOfOneCore, 0)} | ${fmt(r.machineCpuPercent.other, 0)} |`,
    );
  }
  return lines.join('\n');
}

function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        calls: { type: 'string', default: '100' },
        seconds: { type: 'string', default: '30' },
        'ramp-seconds': { type: 'string' },
        'ai-url': { type: 'string' },
        tsx: { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        out: { type: 'string', default: 'bench-results' },
        label: { type: 'string', default: '' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const counts = values.calls.split(',').map((c) => Number(c.trim()));
  if (counts.some((c) => !Number.isInteger(c) || c < 1 || c > 5000)) fail('--calls must be integers in 1..5000');
  const seconds = Number(values.seconds);
  if (!(seconds >= 1 && seconds <= 3600)) fail('--seconds must be in 1..3600');
  const rampSeconds = values['ramp-seconds'] === undefined ? undefined : Number(values['ramp-seconds']);
  if (rampSeconds !== undefined && !(rampSeconds >= 0)) fail('--ramp-seconds must be >= 0');
  if (values['ai-url'] && !/^wss?:\/\//.test(values['ai-url'])) fail('--ai-url must be a ws:// or wss:// URL');

  const outDir = path.resolve(ROOT, values.out);
  mkdirSync(outDir, { recursive: true });
  const needsBuild = !values.tsx || !values['ai-url'];
  if (needsBuild && !values['no-build']) {
    console.error('bench: building (npm run build)...');
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) {
      if (!existsSync(path.join(ROOT, 'dist/src/main.js'))) fail('npm run build failed');
      console.error('bench: npm run build reported errors; using the emitted JS anyway');
    }
  }

  const results: RunResult[] = [];
  for (const calls of counts) {
    const rampMs = (rampSeconds ?? Math.max(2, calls / 50)) * 1000;
    console.error(`bench: ${calls} calls, ramp ${rampMs / 1000} s, window ${seconds} s`);
    const result = await runOnce({
      calls,
      seconds,
      rampMs,
      aiUrl: values['ai-url'],
      tsx: values.tsx,
      profile: values.profile,
      outDir,
    });
    results.push(result);
    console.error(markdownTable([result]).split('\n').slice(-1)[0]);
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const report = {
    date: new Date().toISOString(),
    label: values.label,
    machine: machine(),
    server: values.tsx ? 'tsx src/main.ts' : 'node dist/src/main.js',
    ai: values['ai-url'] ?? 'local Realtime server (tone speech), own process',
    results,
  };
  const table = markdownTable(results);
  const md = `# Bridge benchmark ${report.date}${values.label ? ` (${values.label})` : ''}\n\nMachine: ${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}. Server: \`${report.server}\`; AI: ${report.ai}. Window: ${seconds} s per run.\n\n${table}\n`;
  writeFileSync(path.join(outDir, `bench-${stamp}.json`), JSON.stringify(report, null, 2));
  writeFileSync(path.join(outDir, `bench-${stamp}.md`), md);
  console.log(md);
  console.error(`bench: wrote ${path.join(values.out, `bench-${stamp}.{json,md}`)}`);
}

main().catch((err: unknown) => {
  console.error('bench failed:', err);
  process.exit(1);
});
