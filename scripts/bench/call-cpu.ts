/**
 * npx tsx scripts/bench/call-cpu.ts [--calls 200] [--concurrency 4] [--call-ms 100] [--runs 3]
 *                                   [--server-node-args="--cpu-prof --cpu-prof-dir=DIR"] [--dir TREE] [--log FILE]
 *
 * The server's CPU per call, start and end: the built server as `npm start` runs it (production
 * logs, npm start's node options; `npm run build` first, or `--dir` another built tree) in its own
 * process, the local AI in a second (scripts/bench/ai.ts), and this process placing signed Twilio
 * calls (voice webhook, stream, status callbacks) that hang up after `--call-ms` of silence,
 * `--concurrency` at a time. Reported per call: the server's CPU (every thread) and its main
 * thread's, from /proc, less what the idle server used over the same time. A call's frames are
 * included (`--call-ms` 100: five each way, ~0.1 ms), so the figure is what a call's start and end
 * cost — the part of the bench's churn that grows with the calls started, not with the frames
 * (docs/benchmarks/bridge.md, "A call's start and end").
 */
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { placeCall } from '../../src/simulators/twilio-caller';
import { freePort } from '../lib/server-process';
import { SERVER_ENV, SERVER_NODE_ARGS } from '../lib/server-runtime';
import { sampleProcess, sampleThread } from './proc';
import type { AiMessage } from './ai';
import { BENCH_AUTH_TOKEN, BENCH_PUBLIC_URL, benchServerEnv } from './server-env';

const ROOT = path.resolve(__dirname, '..', '..');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForHealth(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer in ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** CPU seconds of the server: all threads, and its main thread. */
function cpu(pid: number): { all: number; main: number } {
  const all = sampleProcess(pid)?.cpuSeconds;
  const main = sampleThread(pid)?.cpuSeconds;
  if (all === undefined || main === undefined) throw new Error('no /proc figures for the server (Linux only)');
  return { all, main };
}

/** CPU seconds of each of the server's threads, by thread id (/proc/<pid>/task/<tid>/stat). */
function threads(pid: number): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // the thread ended
    }
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '4' },
      'call-ms': { type: 'string', default: '100' },
      runs: { type: 'string', default: '3' },
      'server-node-args': { type: 'string', default: '' },
      dir: { type: 'string', default: ROOT },
      log: { type: 'string' },
    },
  });
  const calls = Number(values.calls);
  const concurrency = Number(values.concurrency);
  const callMs = Number(values['call-ms']);
  const tmp = mkdtempSync(path.join(tmpdir(), 'switchboard-call-cpu-'));

  const ai = fork(path.join(__dirname, 'ai.ts'), ['--tag-every', '0'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const aiUrl = await new Promise<string>((resolve, reject) => {
    ai.on('message', (m: AiMessage) => m.type === 'listening' && resolve(m.url));
    ai.once('exit', (code) => reject(new Error(`the AI exited (${code})`)));
  });

  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const extraArgs = values['server-node-args'].split(' ').filter(Boolean);
  const server = spawn(process.execPath, [...SERVER_NODE_ARGS, ...extraArgs, 'dist/src/main.js'], {
    cwd: path.resolve(values.dir),
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...SERVER_ENV,
      ...benchServerEnv({ port, tmp, aiUrl, maxConcurrentCalls: 500, greeting: false }),
    },
    // The production log (JSON lines) is written and thrown away (or kept with --log FILE).
    stdio: ['ignore', values.log ? openSync(values.log, 'w') : 'ignore', 'inherit'],
  });
  const pid = server.pid as number;
  const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
  try {
    await Promise.race([
      waitForHealth(`${baseUrl}/health`, 60_000),
      exited.then((code) => Promise.reject(new Error(`the server exited (${code}) before it listened`))),
    ]);
    let placed = 0;
    const one = async (): Promise<void> => {
      const sid = `CA${String(placed++).padStart(32, '0')}`;
      const summary = await placeCall({
        baseUrl,
        publicUrl: BENCH_PUBLIC_URL,
        authToken: BENCH_AUTH_TOKEN,
        callSid: sid,
        hangupAfterMs: callMs,
        hangupAfterScript: false,
        keepAudio: false,
      }).done;
      if (!summary.ok) throw new Error(`call ${sid} failed: ${summary.errors.join('; ')}`);
    };
    const batch = async (n: number): Promise<void> => {
      let left = n;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (left-- > 0) await one();
        }),
      );
    };
    await batch(Math.min(50, calls)); // warm-up: the code paths compiled, the pools filled
    await sleep(2000);
    for (let run = 1; run <= Number(values.runs); run++) {
      // The idle server's own use (timers, GC) over 2 s, taken off the run's figure.
      const idleStart = cpu(pid);
      await sleep(2000);
      const idleEnd = cpu(pid);
      const idleRate = { all: (idleEnd.all - idleStart.all) / 2, main: (idleEnd.main - idleStart.main) / 2 };
      const started = performance.now();
      const before = cpu(pid);
      const threadsBefore = threads(pid);
      await batch(calls);
      await sleep(1000); // the ends' last writes (rows, recordings) land
      const after = cpu(pid);
      const threadsAfter = threads(pid);
      const seconds = (performance.now() - started) / 1000;
      const per = (key: 'all' | 'main') => ((after[key] - before[key] - idleRate[key] * seconds) * 1000) / calls;
      console.log(
        `run ${run}: ${calls} calls of ${callMs} ms, ${concurrency} at a time, in ${seconds.toFixed(1)} s: ` +
          `server CPU ${per('all').toFixed(2)} ms per call (main thread ${per('main').toFixed(2)}); ` +
          `idle ${(idleRate.all * 1000).toFixed(1)} ms/s`,
      );
      // Where the rest is: each thread's CPU per call (the main thread's id is the process id).
      const busy = [...threadsAfter]
        .map(([tid, t]) => ({
          tid,
          name: t.name,
          ms: ((t.seconds - (threadsBefore.get(tid)?.seconds ?? 0)) * 1000) / calls,
        }))
        .filter((t) => t.ms > 0)
        .sort((a, b) => b.ms - a.ms);
      console.log(
        `  per thread (ms per call): ${busy.map((t) => `${t.tid === pid ? 'main' : `${t.name}#${t.tid}`} ${t.ms.toFixed(2)}`).join(', ')}`,
      );
      await sleep(1000);
    }
  } finally {
    server.kill('SIGTERM');
    await exited;
    ai.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
