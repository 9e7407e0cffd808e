/**
 * tsx scripts/bench/sched-waits.ts <timehist.txt> <tid> [--over 0.05] [--top 4]
 *
 * Where a thread's waits for a CPU went, from a scheduler trace of the machine taken during a
 * bench run's window:
 *
 *   perf sched record -o sched.data -a -- sleep 8     # while the run's calls are up
 *   perf sched timehist -i sched.data > timehist.txt
 *   npx tsx scripts/bench/sched-waits.ts timehist.txt <the server's pid: its main thread's tid>
 *
 * For the thread: how often it was switched in, its scheduling delay (woken → running) p50 / p99 /
 * max, and for every delay over --over ms what ran meanwhile on the CPU it then ran on and on the
 * other CPUs (`<idle>` on another CPU while it waited: the scheduler queued it behind a busy one).
 * Used for docs/benchmarks/bridge.md, "Pair by pair, and where the uplink's median goes".
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { distribution } from './figures';

/** One line of `perf sched timehist`: a task that ran on a CPU until `end` (ms), after `delayMs` of waiting. */
export interface TimehistRun {
  start: number;
  end: number;
  cpu: string;
  task: string;
  delayMs: number;
}

/** Parses `perf sched timehist` output (time, [cpu], task, wait, sch delay, run time; times in s, the rest in ms). */
export function parseTimehist(text: string): TimehistRun[] {
  const runs: TimehistRun[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || !/^\d+\.\d+$/.test(f[0]) || !/^\[\d+\]$/.test(f[1])) continue;
    const [delayMs, runMs] = [Number(f[f.length - 2]), Number(f[f.length - 1])];
    if (!Number.isFinite(delayMs) || !Number.isFinite(runMs)) continue;
    const end = Number(f[0]) * 1000;
    runs.push({ start: end - runMs, end, cpu: f[1], task: f.slice(2, f.length - 3).join(' '), delayMs });
  }
  return runs;
}

export interface SchedWaits {
  switchesIn: number;
  delayMs: { p50: number; p99: number; max: number };
  long: { count: number; totalMs: number };
  /** ms of each task during the long waits (the threads of one process together, as name[*,pid]). */
  sameCpu: Map<string, number>;
  otherCpus: Map<string, number>;
}

/** A task's name and ids as timehist prints them: `name[tid]` or `name[tid/pid]` (the process's id last). */
const TASK = /^(.*)\[(\d+)(?:\/(\d+))?\]$/;

/** The task's process id (its own id when timehist printed no pid), or undefined for `<idle>`. */
function taskPid(task: string): { comm: string; pid: number; isThread: boolean } | undefined {
  const m = TASK.exec(task);
  if (!m) return undefined;
  return { comm: m[1], pid: Number(m[3] ?? m[2]), isThread: m[3] !== undefined };
}

/** ms of run `r` inside [from, to]. */
const overlapMs = (r: TimehistRun, from: number, to: number): number => Math.min(r.end, to) - Math.max(r.start, from);

const byProcess = (task: string): string => task.replace(/\[\d+\/(\d+)\]$/, '[*,$1]');

/** The waits of thread `tid` and what ran meanwhile, for delays over `overMs`. */
export function schedWaits(runs: TimehistRun[], tid: number, overMs = 0.05): SchedWaits {
  const mine = runs.filter((r) => r.task.endsWith(`[${tid}]`));
  const delays = distribution(mine.map((r) => r.delayMs));
  const byCpu = new Map<string, TimehistRun[]>();
  for (const r of runs) {
    const list = byCpu.get(r.cpu) ?? [];
    list.push(r);
    byCpu.set(r.cpu, list);
  }
  for (const list of byCpu.values()) list.sort((a, b) => a.start - b.start);
  const sameCpu = new Map<string, number>();
  const otherCpus = new Map<string, number>();
  let count = 0;
  let totalMs = 0;
  for (const r of mine) {
    if (r.delayMs <= overMs) continue;
    count++;
    totalMs += r.delayMs;
    const from = r.start - r.delayMs;
    const to = r.start;
    for (const [cpu, list] of byCpu) {
      const into = cpu === r.cpu ? sameCpu : otherCpus;
      // first run that may overlap: binary search on start, then step back one
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (list[mid].start < from) lo = mid + 1;
        else hi = mid;
      }
      for (let k = Math.max(0, lo - 1); k < list.length && list[k].start < to; k++) {
        const overlap = overlapMs(list[k], from, to);
        if (overlap <= 0) continue;
        const task = byProcess(list[k].task);
        into.set(task, (into.get(task) ?? 0) + overlap);
      }
    }
  }
  return {
    switchesIn: mine.length,
    delayMs: { p50: delays.p50, p99: delays.p99, max: delays.max },
    long: { count, totalMs },
    sameCpu,
    otherCpus,
  };
}

/**
 * CPU time each process had on any CPU in [from, to] (ms), largest first: a process's threads
 * together, named `names[pid]` when given (the bench's server, AI and callers), else by its main
 * thread's name (or the first thread seen) and pid; the CPUs' idle time as `idle`.
 */
export function cpuByProcess(
  runs: TimehistRun[],
  from: number,
  to: number,
  names: Record<number, string> = {},
): [string, number][] {
  const ms = new Map<string, number>();
  const commOf = new Map<number, string>();
  for (const r of runs) {
    const overlap = overlapMs(r, from, to);
    if (overlap <= 0) continue;
    const t = taskPid(r.task);
    let key = r.task === '<idle>' ? 'idle' : r.task;
    if (t) {
      if (!t.isThread || !commOf.has(t.pid)) commOf.set(t.pid, t.comm);
      key = String(t.pid);
    }
    ms.set(key, (ms.get(key) ?? 0) + overlap);
  }
  return [...ms]
    .map(([key, v]): [string, number] => {
      const pid = Number(key);
      if (!Number.isInteger(pid)) return [key, v];
      return [names[pid] ?? `${commOf.get(pid)}[${pid}]`, v];
    })
    .sort((a, b) => b[1] - a[1]);
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { over: { type: 'string', default: '0.05' }, top: { type: 'string', default: '4' } },
  });
  if (positionals.length !== 2) {
    console.error('usage: tsx scripts/bench/sched-waits.ts <timehist.txt> <tid> [--over 0.05] [--top 4]');
    process.exit(2);
  }
  const w = schedWaits(
    parseTimehist(readFileSync(positionals[0], 'utf8')),
    Number(positionals[1]),
    Number(values.over),
  );
  const top = (m: Map<string, number>): string =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, Number(values.top))
      .map(([task, ms]) => `${task} ${ms.toFixed(1)} ms`)
      .join(', ');
  console.log(
    `switched in ${w.switchesIn} times; delay p50 ${w.delayMs.p50} ms, p99 ${w.delayMs.p99} ms, max ${w.delayMs.max} ms`,
  );
  console.log(`delays over ${values.over} ms: ${w.long.count}, ${w.long.totalMs.toFixed(1)} ms in all; meanwhile`);
  console.log(`  on the CPU it then ran on: ${top(w.sameCpu)}`);
  console.log(`  on the other CPUs: ${top(w.otherCpus)}`);
}

if (require.main === module) main();
