/**
 * tsx scripts/bench/late-frames.ts <tags-run.json> [--over 5] [--gap 50] [--top 10] [--profile server.cpuprofile]
 *                                   [--ranks 12] [--tick-gap 2]
 *
 * When were a run's late frames? Reads the raw tag times `npm run bench -- --tag-log` writes
 * (tags-<run>.json) and groups the frames that took longer than --over ms each way into clusters (a
 * late frame sent within --gap ms of the previous one joins its cluster). A p99 made by a few
 * clusters is a stall (a full GC, a burst of call set-ups); one spread evenly over the window is
 * per-message cost or queueing. With --profile (the server's CPU profile of the same run,
 * `--profile`), each cluster also shows what the server's main thread did from 25 ms before its
 * first late frame to 5 ms after its last: busy and idle time and the functions that filled it
 * (outermost > innermost frame of ours, or GC). Both files are on CLOCK_MONOTONIC (the tags'
 * `now()` and V8's profile timestamps), so they line up without adjustment. A run with
 * --stall-probe also shows, for each cluster, the longest stretch in which each CPU kept its probe
 * off, and every CPU at once, while its frames were in flight (scripts/bench/stall-probe.ts): a
 * cluster inside one was the machine's, not the bridge's. With --ranks N, also
 * the uplink latency by a frame's place in its caller tick, ranks 0..N-1 (figures.ts,
 * latencyByTickRank): flat and low, the bridge keeps up with the callers' bursts; growing, it
 * queues through them; flat and high, it reads them in batches. --tick-gap (ms, default 2) must be
 * under the callers' 5 ms tick and over the time one burst takes to send. With --sched (a scheduler
 * trace of the machine on the same clock, taken during the window:
 * `perf sched record -k CLOCK_MONOTONIC -a -- sleep S`, then `perf sched timehist > timehist.txt`),
 * each cluster also shows which processes had the CPUs while its frames were in flight, the bench's
 * own by name (server, AI, callers, bench) and any other by its name and pid: a cluster made by
 * something else on the machine shows here.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isOwnFrame, readProfile, stackOf, type IndexedProfile, type ProfileNode } from './cpu-profile';
import { latencyByTickRank, receiptTimes } from './figures';
import { cpuByProcess, parseTimehist } from './sched-waits';
import { overlapping, together, type Stretch } from './stall-probe';

interface TagLog {
  windowStart: number;
  windowEnd: number;
  upSent: (number | null)[];
  upReceived: number[];
  downSent: (number | null)[];
  downReceived: number[];
  /** The bench's processes (older logs have none). */
  pids?: { server?: number; ai?: number; callers?: number; bench?: number };
  /** --stall-probe: each CPU's stretches without user code (scripts/bench/stall-probe.ts). */
  probeCpus?: number[];
  probes?: Stretch[][];
}
interface Cluster {
  start: number;
  end: number;
  late: number;
  maxMs: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    over: { type: 'string', default: '5' },
    gap: { type: 'string', default: '50' },
    top: { type: 'string', default: '10' },
    profile: { type: 'string' },
    sched: { type: 'string' },
    ranks: { type: 'string', default: '0' },
    'tick-gap': { type: 'string', default: '2' },
  },
});
if (positionals.length !== 1) {
  console.error(
    'usage: tsx scripts/bench/late-frames.ts <tags-run.json> [--over 5] [--gap 50] [--top 10] [--profile f] [--sched timehist.txt] [--ranks 12] [--tick-gap 2]',
  );
  process.exit(2);
}
const overMs = Number(values.over);
const gapMs = Number(values.gap);
const top = Number(values.top);
const ranks = Number(values.ranks);
const tickGapMs = Number(values['tick-gap']);
if (!Number.isInteger(ranks) || ranks < 0 || !(tickGapMs > 0)) {
  console.error('late-frames: --ranks must be a whole number of ranks (0: none) and --tick-gap a positive ms');
  process.exit(2);
}
const log = JSON.parse(readFileSync(positionals[0], 'utf8')) as TagLog;

/** [send time, latency] of each tag sent in the window and received, by send time. */
function latencies(sent: (number | null)[], received: number[], stride: number): [number, number][] {
  const at = receiptTimes(received, stride, sent.length);
  const out: [number, number][] = [];
  sent.forEach((t, id) => {
    const r = at[id];
    if (t === null || Number.isNaN(r) || t < log.windowStart || t > log.windowEnd) return;
    out.push([t, r - t]);
  });
  return out.sort((a, b) => a[0] - b[0]);
}

function clusters(frames: [number, number][]): Cluster[] {
  const out: Cluster[] = [];
  for (const [t, ms] of frames) {
    if (ms <= overMs) continue;
    const last = out[out.length - 1];
    if (last && t - last.end < gapMs) {
      last.end = t;
      last.late++;
      last.maxMs = Math.max(last.maxMs, ms);
    } else out.push({ start: t, end: t, late: 1, maxMs: ms });
  }
  return out.sort((a, b) => b.late - a.late);
}

/** What the main thread did in [from, to] (ms, CLOCK_MONOTONIC), by outermost > innermost frame of ours. */
function activity(
  profile: IndexedProfile,
  from: number,
  to: number,
): { busy: number; idle: number; top: [string, number][] } {
  const label = (n: ProfileNode): string => {
    const file = n.callFrame.url.replace(/^.*\/(dist\/)?src\//, '').replace(/^.*node_modules\//, '~/');
    return `${n.callFrame.functionName || '(anonymous)'} ${file}:${n.callFrame.lineNumber + 1}`;
  };
  const keyOf = (id: number): string | null => {
    const leaf = profile.byId.get(id)!;
    const fn = leaf.callFrame.functionName;
    if (fn === '(idle)') return null;
    if (fn === '(garbage collector)' || fn === '(program)') return fn;
    const ours = [...stackOf(profile, id)].filter((n) => isOwnFrame(n, /\/src\//));
    return ours.length ? `${label(ours[ours.length - 1])} > ${label(ours[0])}` : label(leaf);
  };
  const by = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let t = profile.startTime / 1000;
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    t += dt;
    if (t < from || t > to) return;
    const key = keyOf(id);
    if (key === null) idle += dt;
    else {
      busy += dt;
      by.set(key, (by.get(key) ?? 0) + dt);
    }
  });
  return { busy, idle, top: [...by].sort((a, b) => b[1] - a[1]).slice(0, 6) };
}

/** What the stall probes saw from `from` to `to`: each CPU's longest stretch kept off it, and every CPU's at once. */
function probesAround(probes: Stretch[][], cpus: number[], from: number, to: number): string {
  const longest = (list: Stretch[]): string => {
    const near = overlapping(list, from, to);
    return near.length ? `${Math.max(...near.map(([a, b]) => b - a)).toFixed(1)} ms` : 'none';
  };
  const each = probes.map((list, i) => `CPU ${cpus[i] ?? i} ${longest(list)}`).join(', ');
  return `stall probes, longest stretch kept off the CPU: ${each}; every CPU at once ${longest(together(probes))}`;
}

const profile = values.profile ? readProfile(values.profile) : undefined;
const sched = values.sched ? parseTimehist(readFileSync(values.sched, 'utf8')) : undefined;
const names: Record<number, string> = {};
for (const [name, pid] of Object.entries(log.pids ?? {})) if (pid) names[pid] = name === 'ai' ? 'AI' : name;
const directions: [string, [number, number][]][] = [
  ['uplink', latencies(log.upSent, log.upReceived, 2)],
  ['downlink', latencies(log.downSent, log.downReceived, 3)],
];
for (const [name, frames] of directions) {
  const found = clusters(frames);
  const late = found.reduce((n, c) => n + c.late, 0);
  const inTop = found.slice(0, top).reduce((n, c) => n + c.late, 0);
  console.log(
    `\n${name}: ${frames.length} tagged frames, ${late} over ${overMs} ms in ${found.length} clusters` +
      (found.length ? `; the largest ${Math.min(top, found.length)} hold ${inTop}` : ''),
  );
  for (const c of found.slice(0, top)) {
    const at = ((c.start - log.windowStart) / 1000).toFixed(2);
    console.log(`  at ${at} s, ${(c.end - c.start).toFixed(0)} ms: ${c.late} late, max ${c.maxMs.toFixed(1)} ms`);
    if (log.probes) console.log(`    ${probesAround(log.probes, log.probeCpus ?? [], c.start, c.end + c.maxMs)}`);
    if (sched) {
      const takers = cpuByProcess(sched, c.start, c.end + c.maxMs, names).slice(0, 8);
      console.log(`    on the CPUs meanwhile: ${takers.map(([who, ms]) => `${who} ${ms.toFixed(1)} ms`).join(', ')}`);
    }
    if (!profile) continue;
    const a = activity(profile, c.start - 25, c.end + 5);
    console.log(`    server main thread: busy ${a.busy.toFixed(1)} ms, idle ${a.idle.toFixed(1)} ms`);
    for (const [key, ms] of a.top) console.log(`    ${ms.toFixed(1).padStart(6)} ms  ${key}`);
  }
}

if (ranks > 0) {
  const byRank = latencyByTickRank(log.upSent, log.upReceived, log.windowStart, log.windowEnd, tickGapMs);
  console.log(`\nuplink by place in the caller tick (rank 0: a tick's first tagged frame)`);
  byRank.slice(0, ranks).forEach((d, rank) => {
    if (d.n > 0)
      console.log(`  rank ${String(rank).padStart(2)}: ${d.n} frames, p50 ${d.p50} / p99 ${d.p99} / max ${d.max} ms`);
  });
}
