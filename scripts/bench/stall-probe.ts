/**
 * `npm run bench -- --stall-probe`: was it the bridge, or the machine? One tiny process per CPU,
 * pinned to it (taskset) and run under SCHED_FIFO (chrt), wakes every 2 ms and notes each wake-up
 * that came more than 4 ms after it was due. A due real-time thread runs ahead of every normal
 * thread of the guest, the bridge and the load generators included, so its lateness is time in
 * which its CPU would not take it: the guest kernel busy with preemption or interrupts off, or the
 * hypervisor not running the vCPU (or late with its timer interrupt). One process's system call can
 * hold one CPU so; when every CPU's probe was late over the same stretch, the whole machine stood
 * still, and a frame in flight over that stretch was late whatever the bridge did.
 * scripts/bench/late-frames.ts shows, for each cluster of late frames, the probes' stretches that
 * overlap it.
 *
 * The probes cost ~500 wake-ups a second per CPU (each a few µs of a core), so they are off unless
 * asked for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { receiptTimes } from './figures';

/** A probe's wake-up period (ms) and the lateness it notes (ms). */
export const PROBE_PERIOD_MS = 2;
export const PROBE_LATE_MS = 4;

/**
 * The probe (plain Node, no loader): prints a line once it is running, then, until its stdin ends,
 * notes each wake-up more than `over` ms after it was due as [due, late] (CLOCK_MONOTONIC ms, the
 * tags' clock), and prints them as JSON.
 */
const PROBE = `
const [every, over] = process.argv.slice(1).map(Number);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const late = [];
let due = now() + every;
let timer;
const tick = () => {
  const t = now();
  if (t - due > over) late.push([Math.round(due * 1000) / 1000, Math.round((t - due) * 1000) / 1000]);
  due = t + every;
  timer = setTimeout(tick, every);
};
timer = setTimeout(tick, every);
process.stdout.write('running\\n');
process.stdin.resume();
process.stdin.on('end', () => {
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(late));
});
`;

/** A stretch in which a probe (or every probe) could not run: [from, to] on the tags' clock (ms). */
export type Stretch = [from: number, to: number];

export interface StallProbes {
  children: ChildProcess[];
  /** Resolves once every probe is running. */
  running: Promise<void>;
  /** Ends the probes; resolves with each CPU's stretches, in CPU order. */
  stop(): Promise<Stretch[][]>;
}

/**
 * Starts one probe on each of `cpus` (start them before what they are to watch: a Node process's
 * start-up is ~50 ms of CPU, here ahead of every other process). stop() fails when taskset or chrt
 * is missing, or a probe could not get SCHED_FIFO (no permission).
 */
export function startStallProbes(cpus: readonly number[]): StallProbes {
  const children = cpus.map((cpu) =>
    spawn(
      'taskset',
      [
        '--cpu-list',
        String(cpu),
        'chrt',
        '--fifo',
        '50',
        process.execPath,
        '--v8-pool-size=1',
        '-e',
        PROBE,
        String(PROBE_PERIOD_MS),
        String(PROBE_LATE_MS),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    ),
  );
  const running = children.map(
    (child) =>
      new Promise<void>((resolve) => {
        const seen = (c: Buffer): void => {
          if (!c.includes(10)) return;
          child.stdout!.off('data', seen);
          resolve();
        };
        child.stdout!.on('data', seen);
        child.once('exit', () => resolve());
      }),
  );
  const one = (child: ChildProcess, cpu: number): Promise<Stretch[]> => {
    const chunks: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => chunks.push(c));
    return new Promise((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`stall probe on CPU ${cpu}: ${err.message}`)));
      child.once('exit', (code) => {
        if (code !== 0)
          return reject(new Error(`stall probe on CPU ${cpu} exited with ${code} (taskset, chrt --fifo)`));
        const text = Buffer.concat(chunks).toString('utf8');
        const pairs = JSON.parse(text.slice(text.indexOf('\n') + 1)) as [number, number][];
        resolve(pairs.map(([due, late]) => [due, due + late]));
      });
    });
  };
  const stretches = Promise.all(children.map((c, i) => one(c, cpus[i])));
  stretches.catch(() => undefined); // reported by stop()
  return {
    children,
    running: Promise.all(running).then(() => undefined),
    stop: () => {
      for (const c of children) c.stdin!.end();
      return stretches;
    },
  };
}

/**
 * The stretches in which every CPU's probe was late at once (the intersection of the CPUs'
 * stretches), each at least `minMs` long. Each CPU's list is sorted and its stretches do not overlap
 * (a probe's next wake-up is due after its last one came).
 */
export function together(perCpu: readonly (readonly Stretch[])[], minMs = 0): Stretch[] {
  if (perCpu.length === 0) return [];
  let acc: Stretch[] = perCpu[0].map(([a, b]) => [a, b]);
  for (const next of perCpu.slice(1)) {
    const out: Stretch[] = [];
    let i = 0;
    let j = 0;
    while (i < acc.length && j < next.length) {
      const from = Math.max(acc[i][0], next[j][0]);
      const to = Math.min(acc[i][1], next[j][1]);
      if (from < to) out.push([from, to]);
      if (acc[i][1] < next[j][1]) i++;
      else j++;
    }
    acc = out;
  }
  return acc.filter(([a, b]) => b - a >= minMs);
}

/** The stretches of `list` that overlap [from, to]. */
export function overlapping(list: readonly Stretch[], from: number, to: number): Stretch[] {
  return list.filter(([a, b]) => a < to && b > from);
}

export interface StallFigures {
  cpus: number;
  /** Each CPU's probe: how many wake-ups were over PROBE_LATE_MS late, and the latest (ms). */
  perCpu: { cpu: number; late: number; maxMs: number }[];
  /** Stretches of at least PROBE_LATE_MS in which every CPU's probe was late at once. */
  together: { count: number; maxMs: number; totalMs: number };
}

/** The window's figures: only stretches that overlap [windowStart, windowEnd]. */
export function stallFigures(
  cpus: readonly number[],
  perCpu: readonly (readonly Stretch[])[],
  windowStart: number,
  windowEnd: number,
): StallFigures {
  const inWindow = perCpu.map((list) => overlapping(list, windowStart, windowEnd));
  const both = together(inWindow, PROBE_LATE_MS);
  const len = ([a, b]: Stretch): number => b - a;
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  return {
    cpus: cpus.length,
    perCpu: inWindow.map((list, i) => ({
      cpu: cpus[i],
      late: list.length,
      maxMs: r1(Math.max(0, ...list.map(len))),
    })),
    together: {
      count: both.length,
      maxMs: r1(Math.max(0, ...both.map(len))),
      totalMs: r1(both.reduce((s, x) => s + len(x), 0)),
    },
  };
}

/** The largest latency each way, of all frames and of those not in flight during any of `stalls`. */
export interface MaxBeside {
  upMaxMs: number;
  upMaxBesideMs: number;
  downMaxMs: number;
  downMaxBesideMs: number;
  /** Frames in flight (sent to received) during a stall, each way. */
  upInStall: number;
  downInStall: number;
}

/**
 * The caller-side maxima with and without the frames that were in flight while the machine stood
 * still. upSent/downSent: send time by tag id; upReceived: [id, t, ...]; downReceived: [id, t,
 * streamAt, ...] (scripts/bench/tags.ts); only frames sent inside [from, to] count.
 */
export function maxBeside(
  tags: { upSent: (number | null)[]; upReceived: number[]; downSent: (number | null)[]; downReceived: number[] },
  from: number,
  to: number,
  stalls: readonly Stretch[],
): MaxBeside {
  const side = (sent: (number | null)[], received: number[], stride: number) => {
    const at = receiptTimes(received, stride, sent.length);
    let all = 0;
    let beside = 0;
    let inStall = 0;
    sent.forEach((s, id) => {
      if (s === null || s < from || s > to || Number.isNaN(at[id]) || at[id] < s) return;
      const ms = at[id] - s;
      all = Math.max(all, ms);
      if (overlapping(stalls, s, at[id]).length > 0) inStall++;
      else beside = Math.max(beside, ms);
    });
    const r1 = (x: number): number => Math.round(x * 10) / 10;
    return { all: r1(all), beside: r1(beside), inStall };
  };
  const up = side(tags.upSent, tags.upReceived, 2);
  const down = side(tags.downSent, tags.downReceived, 3);
  return {
    upMaxMs: up.all,
    upMaxBesideMs: up.beside,
    downMaxMs: down.all,
    downMaxBesideMs: down.beside,
    upInStall: up.inStall,
    downInStall: down.inStall,
  };
}

/** The report's section: one row per run. */
export function stallsMarkdown(runs: { label: string; stalls: StallFigures; max: MaxBeside | null }[]): string {
  if (runs.length === 0) return '';
  const lines = runs.map(({ label, stalls: s, max: m }) => {
    const cpus = s.perCpu.map((c) => `CPU ${c.cpu}: ${c.late} / ${c.maxMs}`).join('; ');
    const t = s.together;
    const maxes = m
      ? `${m.upMaxMs} / ${m.upMaxBesideMs} (${m.upInStall} in one) | ${m.downMaxMs} / ${m.downMaxBesideMs} (${m.downInStall} in one)`
      : 'n/a | n/a';
    return `| ${label} | ${cpus} | ${t.count} / ${t.maxMs} / ${t.totalMs} | ${maxes} |`;
  });
  return (
    `\n\nStall probes (--stall-probe: a SCHED_FIFO process per CPU waking every ${PROBE_PERIOD_MS} ms; late = woken more than ${PROBE_LATE_MS} ms after it was due, kept off its CPU by the kernel or the hypervisor; scripts/bench/stall-probe.ts):\n\n` +
    '| Run | Probe wake-ups late, count / longest (ms) | Every CPU at once: stretches / longest / total (ms) | Uplink max, all / beside those stretches (frames in flight during one) | Downlink max, all / beside |\n' +
    '|---|---|---|---|---|\n' +
    `${lines.join('\n')}\n`
  );
}
