/**
 * npm run bench -- [--scenario steady|burst|churn[,...]] [--calls 100[,200,...]] [--seconds 30] [--runs N]
 *                  [--instances 1,2] (a cluster of N instances behind HAProxy: scripts/bench/cluster.ts)
 * npm run bench -- --scenario pipeline [--calls 50] [--turns 3] [--asr 150 --token 250 --speech 200]
 *                  [--greeting on|off] [--ramp-seconds S] [--ai-url ws://...] [--tsx] [--no-build]
 *                  [--profile] [--tag-log] [--out bench-results] [--label text] [--listeners 10] [--scrape S]
 *
 * Bridge benchmark: the server in its own process (built JS: `node dist/src/main.js`), the local
 * Realtime server in a second (scripts/bench/ai.ts: tone speech, stats at /stats) unless --ai-url is
 * given, and the simulated calls in a third (scripts/bench/caller.ts: real-pace 20 ms frames,
 * barge-ins, recording and transcripts on as in production). Every (scenario, call count, run) gets
 * a fresh set of processes; --runs N repeats each and reports the median.
 *
 * Scenarios:
 * - steady (the capacity sweep, with a list of call counts): N calls started over max(2, N/50) s and
 *   held; measured over --seconds once every call is streaming (+2 s);
 * - burst: N calls started within 2 s; measured over --seconds from the first call's webhook on, so
 *   call set-up is inside the window;
 * - churn: N calls up at once, each lasting a random 10-30 s and replaced at once (starts over
 *   --ramp-seconds, default 10, at first); measured over --seconds once N are streaming (+2 s).
 *
 * Latency as the caller hears it (the headline): every 10th 20 ms frame carries a tag in its audio
 * bytes (scripts/bench/tags.ts) and is timed outside the server, on one clock shared by the
 * processes: uplink = the caller's send of the Twilio media frame -> the AI's receipt of the
 * input_audio_buffer.append holding it; downlink = the AI's send of the response.output_audio.delta
 * -> the caller's receipt of the Twilio media message holding it. This includes every wait inside
 * the bridge (event loop, GC, batching) and the kernel's loopback.
 * Also: webhook time (POST -> TwiML received), stream set-up (upgrade -> start sent, and with the
 * greeting on, start -> first agent audio), frames lost over the whole run, event-loop delay, CPU
 * per call-second, peak RSS, the machine's idle share, and, secondary, the bridge's in-process
 * receipt-to-write latency (SWITCHBOARD_BENCH_METRICS=1, switchboard_bench_latency_ms on /metrics).
 * Writes bench-results/bench-<time>.{json,md} and prints the Markdown tables.
 */
import { BENCH_API_TOKEN, BENCH_AUTH_TOKEN, BENCH_PUBLIC_URL, benchServerEnv } from './bench/server-env';
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, existsSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { AiCommand, AiMessage, AiReport } from './bench/ai';
import type {
  CallerConfig,
  CallerMessage,
  CallerReport,
  CallRecord,
  OrchestratorMessage,
  Scenario,
} from './bench/caller';
import { benchStatAcross, parsePrometheus, type Sample, type Stat } from './bench/prometheus';
import {
  RssSampler,
  sampleProcess,
  sampleSystem,
  sampleThread,
  sampleThreads,
  type ProcSample,
  type ThreadSample,
} from './bench/proc';
import {
  callSecondsIn,
  distribution,
  matchTags,
  growthFromOneCall,
  medianOf,
  pairedDifferences,
  pairedTable,
  stolenPairs,
  runsWithoutSteal,
  anotherRun,
  DEFAULT_MAX_STEAL_PERCENT,
  hasSteal,
  type StolenPair,
  round,
  type PairedFigure,
  type CallerSide,
  type Dist,
  type Ranges,
} from './bench/figures';
import { now } from './bench/tags';
import { keepMainThreadProfile } from './bench/cpu-profile';
import { prepareBenchCluster, type BenchCluster } from './bench/cluster';
import type { LoadBalancer } from './lib/load-balancer';
import { listenersMarkdown, startListenersPhase, unchanged, type ListenersPhase } from './bench/listeners';
import {
  maxBeside,
  stallFigures,
  stallsMarkdown,
  startStallProbes,
  together,
  PROBE_LATE_MS,
  type MaxBeside,
  type StallFigures,
  type StallProbes,
} from './bench/stall-probe';
import { SERVER_ENV, serverNodeArgs } from './lib/server-runtime';
import { orderNote, runOrder } from './bench/run-order';
import { parseCpuList, pinProcess } from './bench/cpu-pin';
import { startScraper, type Scraper } from './bench/scraper';
import { pauseProcesses, type Paused } from './bench/pause-processes';

const ROOT = path.resolve(__dirname, '..');
/** Production rules apply (NODE_ENV=production): a Twilio-shaped auth token, an API token, an https public URL. */
const AUTH_TOKEN = BENCH_AUTH_TOKEN;
const API_TOKEN = BENCH_API_TOKEN;
/** What the server believes its public URL is (signatures and TwiML); the callers connect to 127.0.0.1. */
const PUBLIC_URL = BENCH_PUBLIC_URL;
const FRAME_BYTES = 160;
const SETTLE_MS = 2000;
const IDLE_SAMPLE_MS = 2000;
/**
 * Between the window-opening scrape of /metrics (which resets the server's window figures) and the
 * window itself. Opening the window is this process's dearest moment (34-45 ms of wall time and
 * 7-20 ms of CPU at the server's priority, measured on a 2-core PVM guest), and two of one
 * session's three largest maxima were frames sent 0.03 and 0.23 s after it (docs/benchmarks/
 * bridge.md, "A scrape in slices"). The bench's own work is not what a caller hears, so the window
 * opens after it has settled.
 */
const OPEN_SETTLE_MS = 500;
/**
 * Between the window's end and the bench's closing work (stopping the stall probes, the closing
 * scrape of /metrics): frames sent before the end arrive first. Until 2026-12-08 the window closed
 * after that work, and every run had a cluster of late frames in its last 30 ms, Switchboard's the
 * larger for the scrape the relay does not get (burst, 4 runs on a PVM guest: 19-153 frames over
 * 8 ms in the last 30 ms against the relay's 0-21; docs/benchmarks/bridge.md, seventeenth session).
 * Tags sent after the end are not counted; the in-process figures of the closing scrape then
 * cover this much more.
 */
const CLOSE_SETTLE_MS = 500;
/** The capacity of a sweep: the largest concurrency at which caller-side p99 stays under this each way. */
const CAPACITY_P99_MS = 20;
const SCENARIOS: Scenario[] = ['steady', 'burst', 'churn'];

const USAGE = `Usage: npm run bench -- [options]
  --scenario LIST     steady (default; with a list of --calls: the capacity sweep), burst (N calls
                      within 2 s, set-up inside the window), churn (N calls up, each 10-30 s and
                      replaced at once); a comma list runs each
  --calls N[,N...]    calls up at once; a list runs a sweep (default 100)
  --seconds S         measured window per run (default 30)
  --runs N            fresh runs per scenario and call count; the table shows the median (default 1)
  --greeting on|off   the agent greets first (AGENT_GREETS_FIRST; default on)
  --ramp-seconds S    the first N calls start evenly over this long (default: steady max(2, N/50),
                      burst 2, churn 10)
  --churn-seconds A-B churn: call duration range (default 10-30)
  --warm-up S         before the window, S seconds of short calls (100 at a time, each leaving at
                      its first quiet moment after 1-2 s; ~400 calls in 30 s) for every server
                      measured: a fresh server compiles its hot code over its first few hundred
                      calls; what follows is a server that has been up (default 0: cold)
  --tag-every N       tag every Nth frame for the caller-side latency (default 10; 0 = off)
  --listeners N       N supervisors (max 10) listen to one call in the 2nd and 4th quarters of the
                      window; caller-side latency with and without (scripts/bench/listeners.ts)
  --scrape S          also read Switchboard's /metrics every S s inside the window, as a Prometheus
                      server would, from a process at the load generators' priority (default 0:
                      only at the window's start and end, which the bench always does); the
                      in-process and event-loop p50/p99 are then the largest interval's
  --stall-probe       a SCHED_FIFO probe process on each CPU wakes every 2 ms through the window and
                      notes when it could not run: the stretches in which the whole machine stood
                      still, and each run's caller-side maxima beside them (scripts/bench/stall-probe.ts;
                      needs taskset and chrt, and the privilege for SCHED_FIFO)
  --ai-url URL        use this Realtime endpoint instead of the local server (no tags, frame loss not counted)
  --compare-js FILE   also measure another bridge, \`node FILE\` (fresh per run, next to Switchboard's),
                      given PORT, OPENAI_REALTIME_URL (the same local AI) and OPENAI_API_KEY; it must
                      answer POST /incoming-call with TwiML streaming to its own host (no status callbacks)
  --compare-dir DIR   also measure another Switchboard tree (e.g. a built export of an earlier commit:
                      DIR/dist/src/main.js), fresh per run, next to this one's, same settings
  --fixed-order       with --compare-*: Switchboard first in every run (default: the two take turns
                      going first, run by run; the second of a pair measured worse, whichever it was)
  --compare-label T   its name in the tables (default: the file's folder name, or DIR's name)
  --server-node-args A  extra node options of the server(s), space-separated (e.g. "--trace-gc"),
                      after npm start's own (scripts/lib/server-runtime.ts; SWITCHBOARD_SEMI_SPACE_MB
                      in the environment sizes the young generation as it does for npm start)
  --plain-node        run Switchboard without npm start's node options and malloc settings
  --tsx               run the server with tsx instead of the built JS
  --no-build          do not run npm run build first
  --profile           write V8 CPU profiles (server, AI, callers; the --compare-js server's too)
                      into the output folder
  --tag-log           write each run's tag send and receive times (tags-<run>.json) into the output
                      folder: when the late frames were (scripts/bench/late-frames.ts)
  --load-nice N       scheduling priority (nice) of the local AI and the callers (default 10: below
                      the server's 0; a negative value, written --load-nice=-5, needs the privilege
                      to raise priority)
  --pin-load LIST     hold the local AI and the callers to these CPUs (taskset list, e.g. 0), and
  --pin-server LIST   the server(s) to these (e.g. 1): on a small machine, the load generators on a
                      core of their own stand in for the remote systems they are (default: unpinned)
  --max-steal P       leave out of the medians the runs, and of the pair-by-pair figures the pairs,
                      in which the hypervisor stole more than P % of a core (a VM's neighbour;
                      default 2; all runs are kept if every one had it); the tables say how many,
                      and every run stays in the per-run table and the JSON
  --extra-runs N      up to N more runs (pairs with --compare-js) per scenario and count while fewer
                      than --runs were free of steal (default 0)
  --pause NAMES       stop (SIGSTOP) the machine's processes with these command names (ps -o comm;
                      comma list, e.g. beam.smp,epmd,mariadbd,mosquitto: services the server does not
                      use) for the whole bench, and continue them (SIGCONT) after it, however it ends
                      (scripts/bench/pause-processes.ts): their periodic work then lands in no run
  --out DIR           output folder (default bench-results)
  --label TEXT        a note stored with the results (e.g. "before")
  --help`;

interface ProcFigures {
  cpuSeconds: number;
  cpuPercentOfOneCore: number;
  rssPeakMb: number;
}

export interface RunResult {
  scenario: Scenario;
  calls: number;
  greeting: boolean;
  /** Length of the measured window (s). */
  seconds: number;
  /** Caller-side latency from tagged frames sent inside the window; null without the local AI. */
  callerSide: CallerSide | null;
  /** Burst: the same over the set-up phase only (the ramp + 2 s from the first webhook). */
  setupPhase: CallerSide | null;
  /** --listeners: the window's halves without and with listeners on one call. */
  listeners?: ListenersPhase;
  /** --stall-probe: when the machine stood still, and the caller-side maxima beside those times. */
  stalls?: { figures: StallFigures; max: MaxBeside | null };
  /** Secondary: the bridge's own receipt-to-write time (in-process recorders). */
  inProcess: { uplinkMs: Stat; downlinkMs: Stat; bargeInMs: Stat };
  /** Caller's POST of the voice webhook -> TwiML received. */
  webhookMs: Dist;
  /** TwiML received (the upgrade starts) -> stream open and 'start' sent. */
  streamSetupMs: Dist;
  /** 'start' sent -> first agent audio received (the greeting); null with the greeting off. */
  firstAgentAudioMs: Dist | null;
  eventLoopMs: { p50: number; p99: number; max: number };
  server: ProcFigures & {
    rssBaselineMb: number;
    /** The server's CPU with no call, over 2 s before the first (% of one core). */
    idleCpuPercent: number;
    memoryPerCallKb: number;
    /** Instances whose CPU and RSS are added up here. */
    instances: number;
    /** Seconds of streaming calls inside the window. */
    callSeconds: number;
    /** Server CPU time per second of call (ms). */
    cpuMsPerCallSecond: number;
    /** The same for the server's main thread alone (its event loop), NaN for a cluster. */
    mainThreadCpuMsPerCallSecond: number;
    /**
     * Milliseconds per second of the window that the main thread was ready to run but waited for a
     * core (schedstat): what the machine's other threads and processes add to every caller's wait.
     */
    mainThreadRunQueueWaitMsPerSecond: number;
    /**
     * Times a second the server's threads were put on a core (schedstat): all of them, and the main
     * thread alone; each is a wake-up or a return after preemption. NaN for a cluster.
     */
    threadSwitchInsPerSecond: number;
    mainThreadSwitchInsPerSecond: number;
  };
  ai: (ProcFigures & LoadGeneratorWait) | null;
  caller: ProcFigures & LoadGeneratorWait;
  /**
   * Whole machine during the window, in % of one core (200 = both cores busy) but idle (% of all
   * cores). other = busy in processes not the bench's; steal = taken by the hypervisor for another
   * guest (a VM's noisy neighbour: a run with much of it is not comparable with one without).
   */
  machine: { idlePercent: number; cpuPercent: number; otherPercent: number; stealPercent: number };
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
  callsPlaced: number;
  callsOk: number;
  callsFailed: number;
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

async function waitForPort(port: number, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`process exited with code ${child.exitCode} before port ${port} opened`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
}

async function scrape(baseUrl: string): Promise<Sample[]> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  if (!res.ok) throw new Error(`/metrics answered HTTP ${res.status}`);
  return parsePrometheus(await res.text());
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

/** The load generators' nice value (--load-nice). */
let loadNice = 10;
/** The CPUs of the load generators and of the server(s) (--pin-load, --pin-server); undefined: unpinned. */
let loadCpus: number[] | undefined;
let serverCpus: number[] | undefined;
/** The machine's processes stopped for the bench (--pause), continued when it ends. */
let paused: Paused | undefined;

/**
 * The local AI server and the callers stand in for remote systems (OpenAI, Twilio) that would not
 * share the bridge's CPU: by default they run at a lower scheduling priority (nice 10) so that on a
 * small machine the server is not queued behind its own load generators. Their CPU is still reported.
 */
function lowerPriority(child: ChildProcess): void {
  try {
    if (child.pid) os.setPriority(child.pid, loadNice);
  } catch {
    // not permitted here: run at normal priority
  }
}

/** Holds a child process to `cpus` (--pin-load, --pin-server); unpinned when they are undefined. */
function pinTo(child: ChildProcess, cpus: readonly number[] | undefined): void {
  if (cpus && child.pid) pinProcess(child.pid, cpus);
}

/** A forked helper process (tsx) with a queue of its IPC messages. */
class Helper<In extends { type: string }, Out extends { type: string }> {
  readonly child: ChildProcess;
  private readonly messages: Out[] = [];
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    execArgv: string[],
  ) {
    this.child = fork(script, args, {
      cwd: ROOT,
      execArgv: ['--import', 'tsx', ...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    lowerPriority(this.child);
    pinTo(this.child, loadCpus);
    this.child.on('message', (m: Out) => {
      this.messages.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.on('exit', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  send(message: In): void {
    if (this.child.connected) this.child.send(message);
  }

  has(type: Out['type']): boolean {
    return this.messages.some((m) => m.type === type);
  }

  /** Takes the first message of this type, waiting for it. */
  async take<T extends Out['type']>(type: T, timeoutMs: number): Promise<Extract<Out, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const error = this.messages.find((m) => m.type === 'error') as { message?: string } | undefined;
      if (error) throw new Error(`${this.name} process: ${error.message}`);
      const index = this.messages.findIndex((m) => m.type === type);
      if (index >= 0) return this.messages.splice(index, 1)[0] as Extract<Out, { type: T }>;
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`${this.name} process exited`);
      if (Date.now() > deadline) throw new Error(`${this.name} process: no '${type}' within ${timeoutMs} ms`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(1000)]);
    }
  }
}

interface RunOptions {
  scenario: Scenario;
  calls: number;
  seconds: number;
  rampMs: number;
  greeting: boolean;
  tagEvery: number;
  churnMs: [number, number];
  aiUrl: string | undefined;
  tsx: boolean;
  profile: boolean;
  /** Write the run's raw tag times to OUT/tags-<name>.json (see --tag-log). */
  tagLog: boolean;
  outDir: string;
  name: string;
  /** Run `node <file>` as the server under test instead of Switchboard (see --compare-js). */
  serverJs?: string;
  /** Run the built Switchboard of this tree (DIR/dist/src/main.js) instead of this one's (see --compare-dir). */
  serverDir?: string;
  /** Extra node options of the server (e.g. --trace-gc). */
  serverNodeArgs: string[];
  /** Without npm start's node options and environment (scripts/lib/server-runtime.ts). */
  plainNode: boolean;
  /** Supervisors listening to one call in the 2nd and 4th quarters of the window (scripts/bench/listeners.ts). */
  listeners: number;
  /** Switchboard instances; more than one: a cluster behind HAProxy (scripts/bench/cluster.ts). */
  instances: number;
  /** Seconds of short calls before the window (see --warm-up); 0: none. */
  warmUpSeconds: number;
  /** Scrape Switchboard's /metrics every this many seconds inside the window (see --scrape); 0: only at its edges. */
  scrapeSeconds: number;
  /** A SCHED_FIFO probe on each CPU through the window (see --stall-probe). */
  stallProbe: boolean;
}

/** The warm-up's calls: this many at a time, each leaving after 1-2 s (at a quiet moment), replaced as they end. */
const WARM_UP_CALLS = 100;

/**
 * Short calls for `seconds` through a caller process of their own (scripts/bench/caller.ts, churn),
 * before the measured window: the server's hot code is compiled by then, as on a server that has been
 * up. Resolves with the calls the warm-up made.
 */
async function warmUp(config: CallerConfig, seconds: number): Promise<number> {
  const warm = new Helper<OrchestratorMessage, CallerMessage>(
    'warm-up caller',
    path.join(__dirname, 'bench/caller.ts'),
    [],
    [],
  );
  try {
    warm.send({
      type: 'start',
      config: { ...config, calls: WARM_UP_CALLS, scenario: 'churn', tagEvery: 0, churnMinMs: 1000, churnMaxMs: 2000 },
    });
    await warm.take('ready', 30000);
    warm.send({ type: 'go' });
    await sleep(seconds * 1000);
    warm.send({ type: 'finish' });
    const { report } = await warm.take('done', 60000);
    if (report.totals.callsOk === 0) throw new Error('the warm-up made no call');
    return report.totals.callsPlaced;
  } finally {
    warm.child.kill();
  }
}

/** The server's command line as the report shows it (npm start's settings unless --plain-node). */
function serverCommand(plainNode: boolean, extraArgs: readonly string[], tsx: boolean): string {
  const env = plainNode ? [] : Object.entries(SERVER_ENV).map(([k, v]) => `${k}=${v}`);
  const args = [...(plainNode ? [] : serverNodeArgs()), ...extraArgs];
  return [...env, 'node', ...args, tsx ? '--import tsx src/main.ts' : 'dist/src/main.js'].join(' ');
}

async function runOnce(opts: RunOptions): Promise<RunResult> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-'));
  let ai: Helper<AiCommand, AiMessage> | undefined;
  let server: ChildProcess | undefined;
  const others: ChildProcess[] = [];
  let cluster: BenchCluster | undefined;
  let balancer: LoadBalancer | undefined;
  let caller: Helper<OrchestratorMessage, CallerMessage> | undefined;
  let probes: StallProbes | undefined;
  let logFd: number | undefined;
  const profilesDir = path.join(opts.outDir, 'profiles');
  const profileArgs = (name: string): string[] =>
    opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${profilesDir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  // The AI and the callers run under tsx, whose loader thread writes a profile too: a folder each,
  // the main thread's kept (keepMainThreadProfile) once they have exited.
  const helperProfileArgs = (name: string): string[] =>
    opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profilesDir, name)}`] : [];
  try {
    let aiUrl = opts.aiUrl;
    let aiStatsUrl: string | undefined;
    if (!aiUrl) {
      ai = new Helper<AiCommand, AiMessage>(
        'AI',
        path.join(__dirname, 'bench/ai.ts'),
        ['--tag-every', String(opts.tagEvery)],
        helperProfileArgs(`ai-${opts.name}`),
      );
      aiUrl = (await ai.take('listening', 30000)).url;
      aiStatsUrl = aiUrl.replace(/^ws:/, 'http:').replace(/\/v1\/realtime$/, '/stats');
    }
    const port = await freePort();
    let baseUrl = `http://127.0.0.1:${port}`;
    if (opts.instances > 1) cluster = await prepareBenchCluster();
    logFd = openSync(path.join(opts.outDir, `server-${opts.name}.log`), 'w');
    const external = opts.serverJs !== undefined;
    const root = opts.serverDir ? path.resolve(opts.serverDir) : ROOT;
    const nodeArgs = external
      ? [
          ...profileArgs(`server-${opts.name}`),
          // A compared server with no SIGTERM handler would die of the signal, writing no profile.
          ...(opts.profile ? ['--require', path.join(__dirname, 'bench/exit-on-sigterm.cjs')] : []),
          path.resolve(opts.serverJs!),
        ]
      : [
          ...(opts.plainNode ? [] : serverNodeArgs()),
          ...opts.serverNodeArgs,
          ...profileArgs(`server-${opts.name}`),
          ...(opts.tsx && !opts.serverDir
            ? ['--import', 'tsx', path.join(ROOT, 'src/main.ts')]
            : [path.join(root, 'dist/src/main.js')]),
        ];
    const spawnServer = (listenPort: number, instance: number): ChildProcess =>
      spawn(process.execPath, nodeArgs, {
        cwd: external ? path.dirname(path.resolve(opts.serverJs!)) : root,
        stdio: ['ignore', logFd, logFd],
        env: {
          ...process.env,
          ...(external || opts.plainNode ? {} : SERVER_ENV),
          ...benchServerEnv({
            port,
            tmp,
            aiUrl,
            openaiKey: opts.aiUrl ? (process.env.OPENAI_API_KEY ?? '') : undefined,
            maxConcurrentCalls: Math.max(500, opts.calls + 10),
            greeting: opts.greeting,
          }),
          SWITCHBOARD_BENCH_METRICS: '1',
          ...(cluster ? { ...cluster.env, INSTANCE_ID: `sb${instance}`, PORT: String(listenPort) } : {}),
        },
      });
    server = spawnServer(port, 0);
    pinTo(server, serverCpus);
    if (external) await waitForPort(port, 60000, server);
    else await waitForHttp(`${baseUrl}/health`, 60000, server);
    // The other instances start after the first has applied the migrations.
    const ports = [port];
    for (let i = 1; cluster && i < opts.instances; i++) {
      const otherPort = await freePort();
      const other = spawnServer(otherPort, i);
      pinTo(other, serverCpus);
      others.push(other);
      await waitForHttp(`http://127.0.0.1:${otherPort}/health`, 60000, other);
      ports.push(otherPort);
    }
    if (cluster) {
      balancer = await cluster.startBalancer(ports);
      baseUrl = balancer.baseUrl;
    }
    const callerConfig: CallerConfig = {
      baseUrl,
      publicUrl: PUBLIC_URL,
      authToken: AUTH_TOKEN,
      calls: opts.calls,
      rampMs: opts.rampMs,
      scenario: opts.scenario,
      greeting: opts.greeting,
      tagEvery: opts.aiUrl ? 0 : opts.tagEvery,
      churnMinMs: opts.churnMs[0],
      churnMaxMs: opts.churnMs[1],
      webhookPath: external ? '/incoming-call' : '/twilio/incoming-call',
      statusCallbacks: !external,
    };
    // The AI's counters before the window: what the warm-up's calls sent is not the window's.
    let aiBefore = { appends: 0, audioBytesOut: 0, audioBytesOutAfterSpeechStarted: 0 };
    if (opts.warmUpSeconds > 0) {
      const warmCalls = await warmUp(callerConfig, opts.warmUpSeconds);
      console.error(`bench: warm-up: ${warmCalls} calls in ${opts.warmUpSeconds} s`);
      if (aiStatsUrl) aiBefore = (await (await fetch(aiStatsUrl)).json()) as typeof aiBefore;
    }
    await sleep(1000);
    const idleA = sampleProcess(server.pid);
    await sleep(IDLE_SAMPLE_MS);
    const baseline = sampleProcess(server.pid);
    const idleCpuPercent =
      idleA && baseline ? round(((baseline.cpuSeconds - idleA.cpuSeconds) / (IDLE_SAMPLE_MS / 1000)) * 100, 1) : NaN;

    caller = new Helper<OrchestratorMessage, CallerMessage>(
      'caller',
      path.join(__dirname, 'bench/caller.ts'),
      [],
      helperProfileArgs(`caller-${opts.name}`),
    );
    caller.send({ type: 'start', config: callerConfig });
    await caller.take('ready', 30000);
    // --stall-probe: one per CPU, started before the window (their start-up is not the window's).
    const probeCpus = opts.stallProbe ? [...Array(os.availableParallelism()).keys()] : [];
    probes = opts.stallProbe ? startStallProbes(probeCpus) : undefined;
    await probes?.running;

    // The first three: server, AI, caller; then the other instances.
    const pids = [server.pid, ai?.child.pid, caller.child.pid, ...others.map((o) => o.pid)];
    let cpuA: (ProcSample | null)[] = [];
    // The main threads of the server, the AI and the callers.
    let mainThreadsA: (ThreadSample | null)[] = [];
    // Every thread of the server (one instance).
    let serverThreadsA: ThreadSample | null = null;
    let sysA = null as ReturnType<typeof sampleSystem>;
    let rss: RssSampler[] = [];
    let windowStart = 0;
    const openWindow = async (): Promise<void> => {
      if (!external) await scrape(`http://127.0.0.1:${port}`); // resets the window (exact recorders, event-loop histogram)
      await sleep(OPEN_SETTLE_MS);
      cpuA = pids.map((pid) => sampleProcess(pid));
      mainThreadsA = pids.slice(0, 3).map((pid) => sampleThread(pid));
      serverThreadsA = sampleThreads(pids[0]);
      sysA = sampleSystem();
      rss = pids.map((pid) => new RssSampler(pid));
      for (const r of rss) r.start();
      windowStart = now();
      caller!.send({ type: 'window-start' });
      ai?.send({ type: 'window-start' });
    };

    const streamingTimeout = opts.rampMs + 60000;
    if (opts.scenario === 'burst') {
      await openWindow();
      caller.send({ type: 'go' });
      const streaming = await caller.take('streaming', streamingTimeout);
      console.error(
        `bench: ${streaming.streams}/${opts.calls} calls streaming after ${Math.round(now() - windowStart)} ms (${streaming.failed} failed)`,
      );
    } else {
      caller.send({ type: 'go' });
      const streaming = await caller.take('streaming', streamingTimeout);
      console.error(
        `bench: ${streaming.streams}/${opts.calls} calls streaming (${streaming.failed} failed); measuring`,
      );
      await sleep(SETTLE_MS);
      await openWindow();
    }
    const listening =
      opts.listeners > 0 && !external
        ? await startListenersPhase(baseUrl, API_TOKEN, opts.listeners, windowStart, opts.seconds, now)
        : undefined;
    // --scrape: /metrics read every S s through the window, as a Prometheus server would
    // (scripts/bench/scraper.ts: a process of its own, at the load generators' priority).
    let scraper: Scraper | undefined;
    if (opts.scrapeSeconds > 0 && !external) {
      const endMs = windowStart + opts.seconds * 1000 - 100;
      scraper = startScraper(
        `http://127.0.0.1:${port}/metrics`,
        API_TOKEN,
        windowStart,
        opts.scrapeSeconds * 1000,
        endMs,
      );
      lowerPriority(scraper.child);
      pinTo(scraper.child, loadCpus);
    }
    await sleep(Math.max(0, windowStart + opts.seconds * 1000 - now()));
    // The window closes before the bench's own closing work (see CLOSE_SETTLE_MS): its /proc
    // samples first, then the frames still in flight arrive, then the probes, listeners and the
    // closing scrape.
    const windowEnd = now();
    const windowS = (windowEnd - windowStart) / 1000;
    const cpuB = pids.map((pid) => sampleProcess(pid));
    const [mainThread, aiThread, callerThread] = pids
      .slice(0, 3)
      .map((pid, i) => threadFigures(mainThreadsA[i] ?? null, sampleThread(pid), windowS));
    const serverThreads = threadFigures(serverThreadsA, sampleThreads(pids[0]), windowS);
    const sysB = sampleSystem();
    for (const r of rss) r.stop();
    caller.send({ type: 'window-end' });
    ai?.send({ type: 'window-end' });
    await sleep(CLOSE_SETTLE_MS);
    const scraped = scraper ? await scraper.texts : [];
    const probed = probes ? await probes.stop() : undefined;
    const listened = listening?.stop();
    const window = external ? [] : await scrape(`http://127.0.0.1:${port}`);
    const scrapes = [...scraped.map(parsePrometheus), window];

    caller.send({ type: 'finish' });
    const report: CallerReport = (await caller.take('done', 120000)).report;
    await sleep(1000);
    let aiReport: AiReport | undefined;
    let aiStats: { appends: number; audioBytesOut: number; audioBytesOutAfterSpeechStarted: number } | undefined;
    if (ai && aiStatsUrl) {
      ai.send({ type: 'report' });
      aiReport = (await ai.take('report', 30000)).report;
      const res = await fetch(aiStatsUrl);
      const after = (await res.json()) as typeof aiBefore;
      aiStats = {
        appends: after.appends - aiBefore.appends,
        audioBytesOut: after.audioBytesOut - aiBefore.audioBytesOut,
        audioBytesOutAfterSpeechStarted:
          after.audioBytesOutAfterSpeechStarted - aiBefore.audioBytesOutAfterSpeechStarted,
      };
    }

    const totals = report.totals;
    const records = report.records;
    const setupFrom = opts.scenario === 'steady' ? -Infinity : windowStart;
    const setupRecords = records.filter((r) => r.placedAt >= setupFrom && r.placedAt <= windowEnd);
    const durations = (pick: (r: CallRecord) => number | null): Dist =>
      distribution(setupRecords.map(pick).filter((x): x is number => x !== null && Number.isFinite(x) && x >= 0));
    const callSeconds = callSecondsIn(records, windowStart, windowEnd);

    const uplinkLost = aiStats ? totals.framesSent - aiStats.appends : null;
    const aiAgentFrames = aiStats ? aiStats.audioBytesOut / FRAME_BYTES : null;
    const aiAfter = aiStats ? aiStats.audioBytesOutAfterSpeechStarted / FRAME_BYTES : null;
    const callerReceivedFrames = totals.bytesReceived / FRAME_BYTES;
    // Every instance's CPU and peak RSS added up (one instance: just the server).
    const serverFigures = pids
      .map((_, i) => i)
      .filter((i) => i === 0 || i > 2)
      .map((i) => procFigures(cpuA[i], cpuB[i], windowS, rss[i].peakBytes))
      .reduce((sum, f) => ({
        cpuSeconds: round(sum.cpuSeconds + f.cpuSeconds, 2),
        cpuPercentOfOneCore: round(sum.cpuPercentOfOneCore + f.cpuPercentOfOneCore, 1),
        rssPeakMb: round(sum.rssPeakMb + f.rssPeakMb, 1),
      }));
    const benchCpu = pids
      .map((_, i) => i)
      .reduce((sum, i) => sum + ((cpuB[i]?.cpuSeconds ?? 0) - (cpuA[i]?.cpuSeconds ?? 0)), 0);
    const machineBusy = sysA && sysB ? sysB.busySeconds - sysA.busySeconds : NaN;
    const machineTotal = sysA && sysB ? sysB.totalSeconds - sysA.totalSeconds : NaN;
    const machineSteal = sysA && sysB ? sysB.stealSeconds - sysA.stealSeconds : NaN;
    const baselineMb = (baseline?.rssBytes ?? 0) / 2 ** 20;
    const loop = (stat: 'p50' | 'p99' | 'max'): number => benchStatAcross(scrapes, 'event_loop')[stat];
    const tags = aiReport
      ? {
          upSent: report.upSent,
          upReceived: aiReport.upReceived,
          downSent: aiReport.downSent,
          downReceived: report.downReceived,
        }
      : undefined;
    const stalls = probed
      ? {
          figures: stallFigures(probeCpus, probed, windowStart, windowEnd),
          max: tags ? maxBeside(tags, windowStart, windowEnd, together(probed, PROBE_LATE_MS)) : null,
        }
      : undefined;
    if (opts.tagLog && tags) {
      // Raw times on the shared clock (scripts/bench/tags.ts): what scripts/bench/late-frames.ts reads,
      // with --stall-probe each CPU's probe stretches (scripts/bench/stall-probe.ts).
      // The processes' ids name them in a scheduler trace (late-frames.ts --sched).
      const pids = { server: server.pid, ai: ai?.child.pid, callers: caller.child.pid, bench: process.pid };
      const log = { windowStart, windowEnd, pids, ...tags, ...(probed ? { probeCpus, probes: probed } : {}) };
      writeFileSync(path.join(opts.outDir, `tags-${opts.name}.json`), JSON.stringify(log));
    }
    return {
      scenario: opts.scenario,
      calls: opts.calls,
      greeting: opts.greeting,
      seconds: round(windowS, 1),
      callerSide: aiReport
        ? matchTags(report.upSent, aiReport.upReceived, aiReport.downSent, report.downReceived, windowStart, windowEnd)
        : null,
      listeners:
        listened && aiReport
          ? (() => {
              const split = (ranges: Ranges): CallerSide =>
                matchTags(report.upSent, aiReport.upReceived, aiReport.downSent, report.downReceived, ranges);
              const { on, off, ...rest } = listened;
              const without = split(off);
              const withL = split(on);
              const control = off.length >= 2 ? { first: split([off[0]]), third: split([off[1]]) } : null;
              return { ...rest, without, with: withL, unchanged: unchanged(without, withL), control };
            })()
          : undefined,
      stalls,
      setupPhase:
        aiReport && opts.scenario === 'burst'
          ? matchTags(
              report.upSent,
              aiReport.upReceived,
              aiReport.downSent,
              report.downReceived,
              windowStart,
              Math.min(windowEnd, windowStart + opts.rampMs + SETTLE_MS),
            )
          : null,
      inProcess: {
        uplinkMs: benchStatAcross(scrapes, 'uplink'),
        downlinkMs: benchStatAcross(scrapes, 'downlink'),
        bargeInMs: benchStatAcross(scrapes, 'barge_in'),
      },
      webhookMs: durations((r) => (r.twimlAt === null ? null : r.twimlAt - r.placedAt)),
      streamSetupMs: durations((r) => (r.twimlAt === null || r.streamAt === null ? null : r.streamAt - r.twimlAt)),
      firstAgentAudioMs: opts.greeting
        ? durations((r) =>
            r.streamAt === null || r.firstAgentAudioAt === null ? null : r.firstAgentAudioAt - r.streamAt,
          )
        : null,
      eventLoopMs: { p50: loop('p50'), p99: loop('p99'), max: loop('max') },
      server: {
        ...serverFigures,
        rssBaselineMb: round(baselineMb, 1),
        idleCpuPercent,
        memoryPerCallKb: round((rss[0].peakBytes - (baseline?.rssBytes ?? 0)) / opts.calls / 1024, 0),
        instances: opts.instances,
        callSeconds: round(callSeconds, 1),
        cpuMsPerCallSecond: round((serverFigures.cpuSeconds * 1000) / callSeconds, 2),
        // One instance's main thread (a cluster's would not add up to a meaningful figure).
        mainThreadCpuMsPerCallSecond: others.length === 0 ? round(mainThread.cpuMs / callSeconds, 2) : NaN,
        mainThreadRunQueueWaitMsPerSecond: others.length === 0 ? mainThread.waitMsPerSecond : NaN,
        threadSwitchInsPerSecond: others.length === 0 ? serverThreads.switchInsPerSecond : NaN,
        mainThreadSwitchInsPerSecond: others.length === 0 ? mainThread.switchInsPerSecond : NaN,
      },
      ai: ai
        ? {
            ...procFigures(cpuA[1], cpuB[1], windowS, rss[1].peakBytes),
            eventLoopP99Ms: aiReport?.eventLoopMs.p99 ?? NaN,
            mainThreadRunQueueWaitMsPerSecond: aiThread.waitMsPerSecond,
          }
        : null,
      caller: {
        ...procFigures(cpuA[2], cpuB[2], windowS, rss[2].peakBytes),
        eventLoopP99Ms: report.eventLoopMs.p99,
        mainThreadRunQueueWaitMsPerSecond: callerThread.waitMsPerSecond,
      },
      machine: {
        idlePercent: round((1 - machineBusy / machineTotal) * 100, 1),
        cpuPercent: round((machineBusy / windowS) * 100, 1),
        otherPercent: round(((machineBusy - machineSteal - benchCpu) / windowS) * 100, 1),
        stealPercent: round((machineSteal / windowS) * 100, 1),
      },
      frames: {
        callerSent: totals.framesSent,
        callerSkipped: totals.framesSkipped,
        aiAppends: aiStats?.appends ?? null,
        uplinkLost,
        aiAgentFrames,
        aiAgentFramesAfterBargeIn: aiAfter,
        callerReceivedFrames,
        // Switchboard drops the agent audio that follows speech_started (a barge-in); a relay forwards it.
        downlinkLost:
          aiAgentFrames !== null && aiAfter !== null
            ? round(aiAgentFrames - (external ? 0 : aiAfter) - callerReceivedFrames, 2)
            : null,
      },
      callsPlaced: totals.callsPlaced,
      callsOk: totals.callsOk,
      callsFailed: records.filter((r) => r.streamAt === null).length,
      streams: totals.streamsStarted,
      questions: totals.questions,
      interruptions: totals.interruptions,
      clears: totals.clears,
      forcedHangups: totals.forcedHangups,
      callerErrors: totals.errors,
    };
  } finally {
    for (const p of probes?.children ?? []) p.kill();
    if (caller?.child.connected) caller.child.disconnect();
    await stopProcess(caller?.child, 5000);
    await stopProcess(server);
    for (const other of others) await stopProcess(other);
    await balancer?.stop();
    await cluster?.drop().catch(() => undefined);
    if (ai?.child.connected) ai.child.disconnect();
    await stopProcess(ai?.child, 5000);
    if (opts.profile) {
      for (const name of [`ai-${opts.name}`, `caller-${opts.name}`]) {
        keepMainThreadProfile(path.join(profilesDir, name), path.join(profilesDir, `${name}.cpuprofile`));
      }
    }
    if (logFd !== undefined) closeSync(logFd);
    rmSync(tmp, { recursive: true, force: true });
  }
}

const fmt = (x: number | null | undefined, digits = 1): string =>
  x !== null && x !== undefined && Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
const four = (d: Dist | null | undefined): string =>
  d ? `${fmt(d.p50)} / ${fmt(d.p95)} / ${fmt(d.p99)} / ${fmt(d.max)}` : 'n/a';
const two = (d: Dist | null | undefined): string => (d ? `${fmt(d.p50)} / ${fmt(d.p99)}` : 'n/a');

export interface Row {
  label: string;
  /** Runs the figures are the median of. */
  runs: number;
  /** Runs left out of the median for the hypervisor's steal (runsWithoutSteal()). */
  stolenRuns?: number;
  /** Every run had more steal than --max-steal (so none was left out). */
  allStolen?: boolean;
  result: RunResult;
}

/** The Runs cell: "4", "2 (2 left out: steal)" or "2 (all with steal)". */
const runsCell = (row: Row): string =>
  row.stolenRuns
    ? `${row.runs} (${row.stolenRuns} left out: steal)`
    : row.allStolen
      ? `${row.runs} (all with steal)`
      : String(row.runs);

/** Caller-side figures (the headline). */
export function markdownTable(rows: Row[]): string {
  const lines = [
    '| Scenario | Calls | Runs | Uplink p50 / p95 / p99 / max (ms) | Downlink p50 / p95 / p99 / max (ms) | Webhook p50 / p99 (ms) | Stream set-up p50 / p99 (ms) | First agent audio p50 / p99 (ms) | Frames lost up / down | Event-loop delay p99 / max (ms) | Server CPU per call-second (ms) | Server CPU (% of one core) | Server peak RSS (MB) | Machine idle (%) | In-process uplink / downlink p99 (ms) |',
    '|---|---:|---:|---|---|---|---|---|---|---|---:|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    const { label, result: r } = row;
    const runs = runsCell(row);
    const lost = `${fmt(r.frames.uplinkLost, 0)} / ${fmt(r.frames.downlinkLost, 0)}`;
    lines.push(
      `| ${label} | ${r.calls} | ${runs} | ${four(r.callerSide?.uplinkMs)} | ${four(r.callerSide?.downlinkMs)} | ${two(r.webhookMs)} | ${two(r.streamSetupMs)} | ${two(r.firstAgentAudioMs)} | ${lost} | ${fmt(r.eventLoopMs.p99)} / ${fmt(r.eventLoopMs.max)} | ${fmt(r.server.cpuMsPerCallSecond, 2)} | ${fmt(r.server.cpuPercentOfOneCore)} | ${fmt(r.server.rssPeakMb, 0)} | ${fmt(r.machine.idlePercent)} | ${fmt(r.inProcess.uplinkMs.p99, 3)} / ${fmt(r.inProcess.downlinkMs.p99, 3)} |`,
    );
  }
  return lines.join('\n');
}

/**
 * A load generator's own delays, which the caller-side figures include: its event loop's p99, and
 * how long its main thread waited for a core (ms per second of the window). The generators stamp a
 * tag just before sending it and on receipt, so a generator kept off the CPU by the bridge's threads
 * adds its wait to the bridge's latency; the wait shows how much of that there was.
 */
interface LoadGeneratorWait {
  eventLoopP99Ms: number;
  mainThreadRunQueueWaitMsPerSecond: number;
}

/**
 * A thread's (or a process's threads') CPU over the window (ms), its wait for a core (ms per second)
 * and how often it was put on one (per second); NaN where unread.
 */
function threadFigures(
  a: ThreadSample | null,
  b: ThreadSample | null,
  windowS: number,
): { cpuMs: number; waitMsPerSecond: number; switchInsPerSecond: number } {
  if (!a || !b) return { cpuMs: NaN, waitMsPerSecond: NaN, switchInsPerSecond: NaN };
  const waited =
    a.runQueueWaitSeconds !== null && b.runQueueWaitSeconds !== null
      ? b.runQueueWaitSeconds - a.runQueueWaitSeconds
      : NaN;
  const slices = a.timeslices !== null && b.timeslices !== null ? b.timeslices - a.timeslices : NaN;
  return {
    cpuMs: (b.cpuSeconds - a.cpuSeconds) * 1000,
    waitMsPerSecond: round((waited * 1000) / windowS, 1),
    switchInsPerSecond: round(slices / windowS, 0),
  };
}

/** What stands behind the headline: tag counts, load generators, calls. */
export function detailsTable(rows: Row[]): string {
  const lines = [
    '| Scenario | Calls | Runs | Window (s) | Tags timed up / down | Burst set-up phase up / down p99 (ms) | Up tags lost | Down tags not heard (barge-in drops) / before stream | Call-seconds in window | Calls placed / failed / forced hang-ups | Barge-ins | Server idle CPU % / RSS before calls (MB) | Server main thread CPU per call-second (ms) / waiting for a core (ms per s) | Server threads put on a core (per s, all / main thread) | AI CPU % / loop p99 (ms) / waiting for a core (ms per s) | Caller CPU % / loop p99 (ms) / waiting for a core (ms per s) | Other load / hypervisor steal (% of one core) |',
    '|---|---:|---:|---:|---|---|---:|---|---:|---|---:|---|---:|---|---|---|---|',
  ];
  for (const row of rows) {
    const { label, result: r } = row;
    const runs = runsCell(row);
    const t = r.callerSide?.tags;
    lines.push(
      `| ${label} | ${r.calls} | ${runs} | ${fmt(r.seconds)} | ${t ? `${fmt(r.callerSide!.uplinkMs.n, 0)} / ${fmt(r.callerSide!.downlinkMs.n, 0)}` : 'n/a'} | ${r.setupPhase ? `${fmt(r.setupPhase.uplinkMs.p99)} / ${fmt(r.setupPhase.downlinkMs.p99)}` : 'n/a'} | ${t ? fmt(t.upLost, 0) : 'n/a'} | ${t ? `${fmt(t.downNotReceived, 0)} / ${fmt(t.downBeforeStream, 0)}` : 'n/a'} | ${fmt(r.server.callSeconds, 0)} | ${fmt(r.callsPlaced, 0)} / ${fmt(r.callsFailed, 0)} / ${fmt(r.forcedHangups, 0)} | ${fmt(r.interruptions, 0)} | ${fmt(r.server.idleCpuPercent)} / ${fmt(r.server.rssBaselineMb, 0)} | ${fmt(r.server.mainThreadCpuMsPerCallSecond, 2)} / ${fmt(r.server.mainThreadRunQueueWaitMsPerSecond)} | ${fmt(r.server.threadSwitchInsPerSecond, 0)} / ${fmt(r.server.mainThreadSwitchInsPerSecond, 0)} | ${r.ai ? `${fmt(r.ai.cpuPercentOfOneCore, 0)} / ${fmt(r.ai.eventLoopP99Ms)} / ${fmt(r.ai.mainThreadRunQueueWaitMsPerSecond)}` : 'n/a'} | ${fmt(r.caller.cpuPercentOfOneCore, 0)} / ${fmt(r.caller.eventLoopP99Ms)} / ${fmt(r.caller.mainThreadRunQueueWaitMsPerSecond)} | ${fmt(r.machine.otherPercent, 0)} / ${fmt(r.machine.stealPercent, 0)} |`,
    );
  }
  return lines.join('\n');
}

interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  os: string;
  loadAverage: string;
}

function machine(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadAverage: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
}

function gitCommit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
  return `${r.stdout.trim() || 'unknown'}${dirty.stdout.trim() ? ' (+ uncommitted changes)' : ''}`;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        scenario: { type: 'string', default: 'steady' },
        calls: { type: 'string', default: '100' },
        seconds: { type: 'string', default: '30' },
        runs: { type: 'string', default: '1' },
        greeting: { type: 'string', default: 'on' },
        'ramp-seconds': { type: 'string' },
        'churn-seconds': { type: 'string', default: '10-30' },
        'tag-every': { type: 'string', default: '10' },
        'warm-up': { type: 'string', default: '0' },
        listeners: { type: 'string', default: '0' },
        scrape: { type: 'string', default: '0' },
        'stall-probe': { type: 'boolean', default: false },
        instances: { type: 'string', default: '1' },
        'ai-url': { type: 'string' },
        'compare-js': { type: 'string' },
        'compare-dir': { type: 'string' },
        'compare-label': { type: 'string', default: '' },
        'server-node-args': { type: 'string', default: '' },
        'plain-node': { type: 'boolean', default: false },
        tsx: { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        'tag-log': { type: 'boolean', default: false },
        'load-nice': { type: 'string', default: '10' },
        'pin-load': { type: 'string' },
        'pin-server': { type: 'string' },
        'max-steal': { type: 'string', default: String(DEFAULT_MAX_STEAL_PERCENT) },
        'extra-runs': { type: 'string', default: '0' },
        'fixed-order': { type: 'boolean', default: false },
        pause: { type: 'string', default: '' },
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
  const maxStealPercent = Number(values['max-steal']);
  if (!(maxStealPercent >= 0)) fail('--max-steal must be a percentage of one core, 0 or more');
  const extraRuns = Number(values['extra-runs']);
  if (!Number.isInteger(extraRuns) || extraRuns < 0 || extraRuns > 20) fail('--extra-runs must be an integer in 0..20');
  const fixedOrder = values['fixed-order'];
  loadNice = Number(values['load-nice']);
  if (!Number.isInteger(loadNice) || loadNice < -20 || loadNice > 19) fail('--load-nice must be an integer in -20..19');
  try {
    const cpuCount = os.availableParallelism();
    loadCpus = values['pin-load'] === undefined ? undefined : parseCpuList(values['pin-load'], cpuCount);
    serverCpus = values['pin-server'] === undefined ? undefined : parseCpuList(values['pin-server'], cpuCount);
  } catch (err) {
    fail(`--pin-load / --pin-server: ${(err as Error).message}`);
  }
  const scenarios = values.scenario.split(',').map((s) => (s.trim() === 'sweep' ? 'steady' : s.trim())) as Scenario[];
  if (scenarios.some((s) => !SCENARIOS.includes(s))) fail('--scenario must be steady, burst or churn (or a list)');
  const counts = values.calls.split(',').map((c) => Number(c.trim()));
  if (counts.some((c) => !Number.isInteger(c) || c < 1 || c > 5000)) fail('--calls must be integers in 1..5000');
  const seconds = Number(values.seconds);
  if (!(seconds >= 1 && seconds <= 3600)) fail('--seconds must be in 1..3600');
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) fail('--runs must be an integer in 1..20');
  if (values.greeting !== 'on' && values.greeting !== 'off') fail('--greeting must be on or off');
  const greeting = values.greeting === 'on';
  const rampSeconds = values['ramp-seconds'] === undefined ? undefined : Number(values['ramp-seconds']);
  if (rampSeconds !== undefined && !(rampSeconds >= 0)) fail('--ramp-seconds must be >= 0');
  const churn = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(values['churn-seconds']);
  if (!churn || !(Number(churn[1]) > 0) || Number(churn[2]) < Number(churn[1])) fail('--churn-seconds must be A-B');
  const churnMs: [number, number] = [Number(churn[1]) * 1000, Number(churn[2]) * 1000];
  const tagEvery = Number(values['tag-every']);
  const warmUpSeconds = Number(values['warm-up']);
  if (!(warmUpSeconds >= 0 && warmUpSeconds <= 600)) fail('--warm-up must be seconds in 0..600');
  const listeners = Number(values.listeners);
  const scrapeSeconds = Number(values.scrape);
  if (!(scrapeSeconds >= 0 && scrapeSeconds <= 3600)) fail('--scrape must be seconds in 0..3600');
  const instanceCounts = values.instances.split(',').map(Number);
  if (instanceCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 4)) fail('--instances must be 1-4 (a list: 1,2)');
  if (!Number.isInteger(listeners) || listeners < 0 || listeners > 10) fail('--listeners must be 0-10');
  if (!Number.isInteger(tagEvery) || tagEvery < 0) fail('--tag-every must be an integer >= 0');
  if (values['ai-url'] && !/^wss?:\/\//.test(values['ai-url'])) fail('--ai-url must be a ws:// or wss:// URL');
  if (values['compare-js'] && !existsSync(values['compare-js'])) fail(`--compare-js: no file ${values['compare-js']}`);
  if (values['compare-js'] && values['compare-dir']) fail('--compare-js and --compare-dir: one at a time');
  if (values['compare-dir'] && !existsSync(path.join(values['compare-dir'], 'dist/src/main.js'))) {
    fail(`--compare-dir: no ${path.join(values['compare-dir'], 'dist/src/main.js')} (build that tree first)`);
  }
  const extraNodeArgs = values['server-node-args'].split(/\s+/).filter(Boolean);
  try {
    serverNodeArgs(); // SWITCHBOARD_SEMI_SPACE_MB, checked before anything starts
  } catch (err) {
    fail((err as Error).message);
  }

  const outDir = path.resolve(ROOT, values.out);
  mkdirSync(outDir, { recursive: true });
  if (!values.tsx && !values['no-build']) {
    console.error('bench: building (npm run build)...');
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) {
      if (!existsSync(path.join(ROOT, 'dist/src/main.js'))) fail('npm run build failed');
      console.error('bench: npm run build reported errors; using the emitted JS anyway');
    }
  }

  const pauseNames = values.pause
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (pauseNames.some((n) => !/^[\w.+-]{1,15}$/.test(n)))
    fail('--pause takes command names (ps -o comm), comma-separated');
  paused = pauseProcesses(pauseNames);
  if (pauseNames.length > 0) {
    console.error(
      `bench: paused for the bench: ${paused.processes.map((p) => `${p.comm}[${p.pid}]`).join(', ') || 'nothing'}` +
        (paused.missing.length > 0 ? `; not running: ${paused.missing.join(', ')}` : ''),
    );
  }

  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();
  // --instances 1,2: one instance and a two-instance cluster side by side in each run.
  const targets: { label: string; serverJs?: string; serverDir?: string; instances?: number }[] = instanceCounts.map(
    (n) => ({ label: n === 1 ? 'Switchboard' : `Switchboard, ${n} instances`, instances: n }),
  );
  if (values['compare-js']) {
    targets.push({
      label: values['compare-label'] || path.basename(path.dirname(path.resolve(values['compare-js']))),
      serverJs: values['compare-js'],
    });
  }
  if (values['compare-dir']) {
    targets.push({
      label: values['compare-label'] || path.basename(path.resolve(values['compare-dir'])),
      serverDir: values['compare-dir'],
    });
  }
  const rows: Row[] = [];
  const allRuns: (Row & { index: number })[] = [];
  const paired: { scenario: Scenario; calls: number; figures: PairedFigure[]; leftOut: StolenPair[] }[] = [];
  for (const scenario of scenarios) {
    for (const calls of counts) {
      const rampMs =
        (rampSeconds ?? (scenario === 'burst' ? 2 : scenario === 'churn' ? 10 : Math.max(2, calls / 50))) * 1000;
      if (scenario === 'burst' && seconds * 1000 < rampMs + SETTLE_MS) {
        console.error('bench: note: the burst window is shorter than the ramp; the window ends before set-up does');
      }
      // With --compare-js, each run measures Switchboard and then the other server, under the same conditions.
      const results: RunResult[][] = targets.map(() => []);
      let quietRuns = 0;
      for (let i = 0; anotherRun(i, quietRuns, runs, extraRuns); i++) {
        for (const t of runOrder(i, targets.length, fixedOrder)) {
          const target = targets[t];
          const label = targets.length > 1 ? `${scenario} — ${target.label}` : scenario;
          console.error(
            `bench: ${label}, ${calls} calls, ramp ${rampMs / 1000} s, window ${seconds} s, greeting ${values.greeting}, run ${i + 1}/${runs}` +
              (i >= runs ? ` (extra: ${i - quietRuns} of the runs so far had steal)` : ''),
          );
          const result = await runOnce({
            scenario,
            calls,
            seconds,
            rampMs,
            greeting,
            tagEvery,
            churnMs,
            aiUrl: values['ai-url'],
            tsx: values.tsx,
            profile: values.profile,
            tagLog: values['tag-log'],
            outDir,
            name: `${target.serverJs || target.serverDir ? 'other-' : ''}${(target.instances ?? 1) > 1 ? `x${target.instances}-` : ''}${scenario}-${calls}-${i + 1}`,
            serverJs: target.serverJs,
            serverDir: target.serverDir,
            serverNodeArgs: extraNodeArgs,
            plainNode: values['plain-node'],
            listeners,
            instances: target.instances ?? 1,
            warmUpSeconds,
            scrapeSeconds,
            stallProbe: values['stall-probe'],
          });
          results[t].push(result);
          allRuns.push({ label, runs: 1, result, index: i + 1 });
          console.error(
            markdownTable([{ label, runs: 1, result }])
              .split('\n')
              .slice(-1)[0],
          );
        }
        if (!results.some((r) => hasSteal(r[i], maxStealPercent))) quietRuns++;
      }
      for (const [t, target] of targets.entries()) {
        const label = targets.length > 1 ? `${scenario} — ${target.label}` : scenario;
        // The runs in which the hypervisor stole more than --max-steal are left out of the median (all
        // kept if every run was); each run, with its steal, is in the per-run table and the JSON.
        const kept = runsWithoutSteal(results[t], maxStealPercent);
        rows.push({
          label,
          runs: kept.length,
          stolenRuns: results[t].length - kept.length,
          allStolen: results[t].every((r) => hasSteal(r, maxStealPercent)),
          result: kept.length > 1 ? medianOf(kept) : kept[0],
        });
      }
      if (targets.length === 2 && runs > 1) {
        const leftOut = stolenPairs(results[0], results[1], maxStealPercent);
        paired.push({ scenario, calls, figures: pairedDifferences(results[0], results[1], leftOut), leftOut });
      }
    }
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const report = {
    date: startedAt,
    label: values.label,
    commit: gitCommit(),
    machine: { ...machine(), loadAverageBefore: loadBefore.map((l) => l.toFixed(2)).join(' ') },
    server: serverCommand(values['plain-node'], extraNodeArgs, values.tsx),
    ai: values['ai-url'] ?? 'local Realtime server (tone speech), own process',
    options: {
      scenarios,
      counts,
      seconds,
      runs,
      greeting: values.greeting,
      tagEvery,
      churnSeconds: values['churn-seconds'],
      warmUpSeconds,
      /** With --compare-*: which server went first in each run (`runs` below is in the order measured). */
      order: fixedOrder ? 'fixed' : 'alternating',
      /** --pin-load / --pin-server: the CPUs each side was held to (null: unpinned). */
      pinLoad: loadCpus ?? null,
      pinServer: serverCpus ?? null,
      /** --pause: the machine's processes stopped for the bench. */
      paused: paused?.processes ?? [],
    },
    rows,
    paired,
    runs: allRuns.map(({ label, index, result }) => ({ scenario: label, run: index, result })),
  };
  const capacity =
    scenarios.includes('steady') && counts.length > 1
      ? `\n\nCapacity (steady; the largest count of the sweep at which every count up to it keeps caller-side p99 under ${CAPACITY_P99_MS} ms each way): ${targets
          .map((target) => {
            const steady = rows
              .filter((r) => r.result.scenario === 'steady' && r.label.endsWith(targets.length > 1 ? target.label : ''))
              .sort((a, b) => a.result.calls - b.result.calls);
            let best: number | null = null;
            for (const r of steady) {
              const side = r.result.callerSide;
              if (!side || !(side.uplinkMs.p99 < CAPACITY_P99_MS && side.downlinkMs.p99 < CAPACITY_P99_MS)) break;
              best = r.result.calls;
            }
            return `${target.label} ${best ?? 'none'}`;
          })
          .join(', ')}.`
      : '';
  const growth = growthFromOneCall(rows);
  const growthText =
    growth.length > 0
      ? `\n\nPeak RSS growth per call from one call:\n\n${growth.map((line) => `- ${line}`).join('\n')}`
      : '';
  const pairedTables = paired
    .map((p) => pairedTable(`${p.scenario}, ${p.calls} calls`, targets[1].label, p.figures, p.leftOut, maxStealPercent))
    .filter((t) => t !== '');
  const pairedText =
    pairedTables.length > 0
      ? `\n\nPair by pair (${orderNote(
          targets.map((t) => t.label),
          fixedOrder,
        )}; the difference within a pair is steadier than either median on a machine whose speed drifts):\n\n${pairedTables.join('\n\n')}`
      : '';
  const perRun =
    runs > 1
      ? `\n\nEach run, in the order measured:\n\n${markdownTable(allRuns.map((r) => ({ ...r, label: `${r.label} #${r.index}` })))}\n`
      : '\n';
  const md =
    `# Bridge benchmark ${report.date}${values.label ? ` (${values.label})` : ''}\n\n` +
    `Commit ${report.commit}. Machine: ${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}, ` +
    `load average before ${report.machine.loadAverageBefore}. Server: \`${report.server}\`; AI: ${report.ai}. ` +
    (loadCpus || serverCpus
      ? `CPUs: the AI and the callers on ${loadCpus?.join(',') ?? 'any'}, the server on ${serverCpus?.join(',') ?? 'any'} (taskset). `
      : '') +
    (paused && paused.processes.length > 0
      ? `Stopped for the bench: ${paused.processes.map((p) => `${p.comm}[${p.pid}]`).join(', ')}. `
      : '') +
    `Window: ${seconds} s per run; greeting ${values.greeting}; ` +
    (scrapeSeconds > 0 ? `Switchboard's /metrics scraped every ${scrapeSeconds} s in the window; ` : '') +
    `${warmUpSeconds > 0 ? `after a ${warmUpSeconds} s warm-up (${WARM_UP_CALLS} short calls at a time)` : 'cold servers (no warm-up)'}; ${runs > 1 ? `median of ${runs} runs` : 'one run'}.\n\n` +
    `Latency as the caller hears it (tagged frames, timed outside the server):\n\n${markdownTable(rows)}\n\n` +
    `Details:\n\n${detailsTable(rows)}${capacity}${growthText}${pairedText}${perRun}` +
    listenersMarkdown(
      allRuns.flatMap((r) =>
        r.result.listeners ? [{ label: `${r.label} #${r.index}`, phase: r.result.listeners }] : [],
      ),
    ) +
    stallsMarkdown(
      allRuns.flatMap((r) =>
        r.result.stalls
          ? [{ label: `${r.label} #${r.index}`, stalls: r.result.stalls.figures, max: r.result.stalls.max }]
          : [],
      ),
    );
  writeFileSync(path.join(outDir, `bench-${stamp}.json`), JSON.stringify(report, null, 2));
  writeFileSync(path.join(outDir, `bench-${stamp}.md`), md);
  console.log(md);
  console.error(`bench: wrote ${path.join(values.out, `bench-${stamp}.{json,md}`)}`);
}

// `--scenario pipeline`: the cascaded engine's own benchmark (scripts/bench-pipeline.ts: 50 engines at
// real pace against provider fakes; --calls, --turns, --asr/--token/--speech provider delays in ms).
const scenarioAt = process.argv.indexOf('--scenario');
if (scenarioAt >= 0 && process.argv[scenarioAt + 1] === 'pipeline') {
  const args = process.argv.slice(2).filter((_, i) => i !== scenarioAt - 2 && i !== scenarioAt - 1);
  fork(path.join(__dirname, 'bench-pipeline.ts'), args, { execArgv: process.execArgv }).on('exit', (code) =>
    process.exit(code ?? 1),
  );
} else {
  // --pause: what the bench stopped goes on whichever way it ends (the watchdog covers a SIGKILL).
  process.on('exit', () => paused?.resume());
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      paused?.resume();
      process.exit(128 + os.constants.signals[signal]);
    });
  }
  main()
    .catch((err: unknown) => {
      console.error('bench failed:', err);
      process.exitCode = 1;
    })
    .finally(() => {
      paused?.resume();
      if (process.exitCode) process.exit();
    });
}
