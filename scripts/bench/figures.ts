/** The arithmetic of `npm run bench`: exact percentiles, tag matching, call-seconds, medians over runs. */
import type { CallRecord } from './caller';

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Caller-side latency from the tagged frames sent inside the window. */
export interface CallerSide {
  uplinkMs: Dist;
  downlinkMs: Dist;
  tags: {
    upSent: number;
    upLost: number;
    downSent: number;
    /** Sent by the AI but never heard: dropped by the bridge at a barge-in (on purpose) or lost. */
    downNotReceived: number;
    /** Audio the AI sent before the call's stream started (a greeting buffered by the bridge): left out. */
    downBeforeStream: number;
  };
}

/** Exact distribution of a series (ms). */
export interface Dist {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Exact percentiles (nearest rank) of a list of ms values. */
export function distribution(values: number[]): Dist {
  const n = values.length;
  if (n === 0) return { n: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number): number => round(sorted[Math.min(n - 1, Math.max(0, Math.ceil((q / 100) * n) - 1))], 3);
  return { n, p50: at(50), p95: at(95), p99: at(99), max: round(sorted[n - 1], 3) };
}

/**
 * Uplink latency by a frame's place in its caller tick. The simulated callers send their frames
 * from one shared 5 ms timer (each call one frame per 20 ms), so a tick is a burst of frames; tag
 * ids follow the send order, and a tag sent within `tickGapMs` of the previous one is in the same
 * tick. Rank 0 is a tick's first
 * tagged frame. A bridge that keeps up with the burst has the same latency at every rank; one that
 * falls behind has it growing with the rank (queueing through the burst), and one that reads the
 * burst in batches has every rank late by about a batch's time. Tags sent outside [from, to] or
 * never received are left out. `received` is the AI's flat [id, t, ...] log.
 */
export function latencyByTickRank(
  sent: (number | null)[],
  received: number[],
  from: number,
  to: number,
  tickGapMs: number,
): Dist[] {
  const at = receiptTimes(received, 2, sent.length);
  const byRank: number[][] = [];
  let previous = -Infinity;
  let rank = 0;
  sent.forEach((t, id) => {
    if (t === null) return;
    rank = t - previous > tickGapMs ? 0 : rank + 1;
    previous = t;
    const r = at[id];
    if (Number.isNaN(r) || t < from || t > to) return;
    (byRank[rank] ??= []).push(r - t);
  });
  return Array.from(byRank, (values) => distribution(values ?? []));
}

/** Time ranges [from, to] (bench clock, ms), both ends included. */
export type Ranges = readonly (readonly [number, number])[];

/**
 * The `column`th value (1: the receipt time) of each tag id in a flat receipt log of `stride`
 * values per tag ([id, t, ...]), by id; NaN where the tag was not received.
 */
export function receiptTimes(received: number[], stride: number, count: number, column = 1): Float64Array {
  const out = new Float64Array(count).fill(NaN);
  for (let i = 0; i + stride - 1 < received.length; i += stride) {
    if (received[i] < count) out[received[i]] = received[i + column];
  }
  return out;
}

/**
 * Matches the tags of both directions and returns the latencies of those sent inside [from, to]
 * (or, with `from` a list of ranges, inside any of them).
 * upSent/downSent: send time by id; upReceived: [id, t, ...]; downReceived: [id, t, streamAt, ...].
 */
export function matchTags(
  upSent: (number | null)[],
  upReceived: number[],
  downSent: (number | null)[],
  downReceived: number[],
  from: number | Ranges,
  to = Infinity,
): CallerSide {
  const ranges: Ranges = typeof from === 'number' ? [[from, to]] : from;
  const outside = (t: number): boolean => !ranges.some(([a, b]) => t >= a && t <= b);
  const upRecv = receiptTimes(upReceived, 2, upSent.length);
  const up: number[] = [];
  let upCount = 0;
  let upLost = 0;
  for (let id = 0; id < upSent.length; id++) {
    const sent = upSent[id];
    if (sent === null || outside(sent)) continue;
    upCount++;
    if (Number.isNaN(upRecv[id])) upLost++;
    else up.push(upRecv[id] - sent);
  }
  const downRecv = receiptTimes(downReceived, 3, downSent.length);
  const streamAtOf = receiptTimes(downReceived, 3, downSent.length, 2);
  const down: number[] = [];
  let downCount = 0;
  let downNotReceived = 0;
  let downBeforeStream = 0;
  for (let id = 0; id < downSent.length; id++) {
    const sent = downSent[id];
    if (sent === null || outside(sent)) continue;
    if (Number.isNaN(downRecv[id])) {
      downCount++;
      downNotReceived++;
    } else if (!(sent >= streamAtOf[id])) {
      downBeforeStream++;
    } else {
      downCount++;
      down.push(downRecv[id] - sent);
    }
  }
  return {
    uplinkMs: distribution(up),
    downlinkMs: distribution(down),
    tags: { upSent: upCount, upLost, downSent: downCount, downNotReceived, downBeforeStream },
  };
}

/** Seconds of streaming calls inside [from, to] (a call streams from streamAt to endAt). */
export function callSecondsIn(records: CallRecord[], from: number, to: number): number {
  let ms = 0;
  for (const r of records) {
    if (r.streamAt === null) continue;
    const end = Number.isFinite(r.endAt) ? r.endAt : to;
    ms += Math.max(0, Math.min(end, to) - Math.max(r.streamAt, from));
  }
  return ms / 1000;
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Figure by figure, the median over runs (each figure on its own; non-numbers from the first run). */
export function medianOf<T>(runs: T[]): T {
  const first = runs[0] as unknown;
  if (typeof first === 'number') return round(median(runs as number[]), 3) as T;
  if (first === null || typeof first !== 'object' || Array.isArray(first)) return runs[0];
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(first)) {
    const values = runs.map((r) => (r as Record<string, unknown>)[key]);
    out[key] = values.some((v) => v === null || v === undefined) ? values[0] : medianOf(values);
  }
  return out as T;
}

/**
 * Memory growth per call as the issue counts it: from the peak RSS with one call to the peak with N
 * (a sweep with 1 among its counts), so what the first call starts once (the recording thread, code
 * compiled on first use) is not spread over the others. One line per label (server and scenario).
 */
export function growthFromOneCall(
  rows: { label: string; result: { calls: number; server: { rssPeakMb: number } } }[],
): string[] {
  const lines: string[] = [];
  for (const label of [...new Set(rows.map((r) => r.label))]) {
    const mine = rows.filter((r) => r.label === label).sort((a, b) => a.result.calls - b.result.calls);
    const one = mine.find((r) => r.result.calls === 1);
    if (!one) continue;
    const steps = mine
      .filter((r) => r.result.calls > 1)
      .map(
        (r) =>
          `${round(((r.result.server.rssPeakMb - one.result.server.rssPeakMb) * 1024) / (r.result.calls - 1), 0)} KB to ${r.result.calls} calls`,
      );
    if (steps.length > 0)
      lines.push(`${label}: ${one.result.server.rssPeakMb} MB with one call; per added call ${steps.join(', ')}`);
  }
  return lines;
}

/** What pairedDifferences() needs of a run. */
export interface PairedRun {
  callerSide: Pick<CallerSide, 'uplinkMs' | 'downlinkMs'> | null;
  server: { cpuMsPerCallSecond: number; callSeconds?: number };
  /** The load generators' CPU over the window (s), when known: the machine's speed in the run. */
  ai?: { cpuSeconds: number } | null;
  caller?: { cpuSeconds: number };
  /** CPU the hypervisor gave another guest during the window (% of one core), when known. */
  machine?: { stealPercent?: number };
}

/**
 * The local AI's and the callers' CPU per call-second in a run (ms), undefined when not known.
 * They do the same work whichever bridge is measured (the same calls, frames and turns), so this
 * is how fast the machine was during that run. On a VM it drifts by a third from run to run with
 * no steal (2026-12-08, a PVM guest: 3.0-4.3 ms a call-second, the server's CPU moving with it in
 * the same runs, the relay's and Switchboard's alike: whatever slows the vCPUs without taking them,
 * a busy sibling hyperthread on the host or its memory bandwidth, slows every process alike).
 */
export function loadCpuMsPerCallSecond(r: PairedRun): number | undefined {
  const callSeconds = r.server.callSeconds;
  if (!r.ai || !r.caller || !callSeconds || !(callSeconds > 0)) return undefined;
  return ((r.ai.cpuSeconds + r.caller.cpuSeconds) * 1000) / callSeconds;
}

/**
 * The steal above which a run is left out of the medians, and a pair of the pair-by-pair figures (%
 * of one core, either run): on a shared VM a neighbour that takes a third of a core makes that run's
 * p99 several times the others' (2026-12-06, Intel Xeon: 5-96 % in 6 runs of 16, p99 up to 109 ms),
 * whichever bridge happens to run then; the run then measures the neighbour, not the bridge.
 */
export const DEFAULT_MAX_STEAL_PERCENT = 2;

/** A run measured with more than maxStealPercent of a core stolen by the hypervisor (unknown: not). */
export function hasSteal(run: { machine?: { stealPercent?: number } }, maxStealPercent: number): boolean {
  return (run.machine?.stealPercent ?? 0) > maxStealPercent;
}

/** A pair left out of the pair-by-pair figures, numbered from 1, with the larger steal of its two runs. */
export interface StolenPair {
  pair: number;
  stealPercent: number;
}

/**
 * The runs without steal (hasSteal()), of which the median is taken; every run when none was so
 * quiet, so that a report always has figures.
 */
export function runsWithoutSteal<T extends { machine?: { stealPercent?: number } }>(
  runs: T[],
  maxStealPercent: number,
): T[] {
  const kept = runs.filter((r) => !hasSteal(r, maxStealPercent));
  return kept.length > 0 ? kept : runs;
}

/**
 * Whether the bench makes run `done + 1` of a scenario and count: until `runs` runs (pairs) were
 * free of steal, with at most `extra` beyond `runs` (--extra-runs), so that a noisy VM still gives
 * the medians and pairs asked for when it can.
 */
export function anotherRun(done: number, quiet: number, runs: number, extra: number): boolean {
  return quiet < runs && done < runs + extra;
}

/** The pairs in which either run had more than maxStealPercent of a core stolen. */
export function stolenPairs(mine: PairedRun[], theirs: PairedRun[], maxStealPercent: number): StolenPair[] {
  const out: StolenPair[] = [];
  for (let i = 0; i < Math.min(mine.length, theirs.length); i++) {
    if (!hasSteal(mine[i], maxStealPercent) && !hasSteal(theirs[i], maxStealPercent)) continue;
    out.push({
      pair: i + 1,
      stealPercent: Math.max(mine[i].machine?.stealPercent ?? 0, theirs[i].machine?.stealPercent ?? 0),
    });
  }
  return out;
}

/** One figure of two bridges run by run: this bridge's value against the other's in the same pair. */
export interface PairedFigure {
  figure: string;
  /** This bridge minus the other (ms), or this bridge over the other (a ratio), one per pair. */
  perRun: number[];
  median: number;
  /** Pairs in which this bridge was at or below the other. */
  atOrBelow: number;
  ratio: boolean;
}

const PAIRED: { figure: string; ratio?: true; of: (r: PairedRun) => number | undefined }[] = [
  { figure: 'up p50', of: (r) => r.callerSide?.uplinkMs.p50 },
  { figure: 'up p99', of: (r) => r.callerSide?.uplinkMs.p99 },
  { figure: 'up max', of: (r) => r.callerSide?.uplinkMs.max },
  { figure: 'down p50', of: (r) => r.callerSide?.downlinkMs.p50 },
  { figure: 'down p99', of: (r) => r.callerSide?.downlinkMs.p99 },
  { figure: 'down max', of: (r) => r.callerSide?.downlinkMs.max },
  { figure: 'CPU per call-second', ratio: true, of: (r) => r.server.cpuMsPerCallSecond },
  {
    // The same, each run's CPU over its load generators' (loadCpuMsPerCallSecond): the machine's
    // speed in each run taken out of the pair.
    figure: "CPU over the load generators' CPU",
    ratio: true,
    of: (r) => {
      const load = loadCpuMsPerCallSecond(r);
      return load && load > 0 ? r.server.cpuMsPerCallSecond / load : undefined;
    },
  },
];

/**
 * Two bridges measured back to back in each run (--compare-js): on a machine whose speed drifts
 * between runs, the difference within a pair is steadier than either median. For each figure: the
 * difference (latency, ms) or the ratio (CPU) in every pair, their median, and in how many pairs
 * this bridge was at or below the other. Pairs where either run has no figure are left out, and the
 * pairs in `leftOut` (stolenPairs()).
 */
export function pairedDifferences(
  mine: PairedRun[],
  theirs: PairedRun[],
  leftOut: readonly StolenPair[] = [],
): PairedFigure[] {
  const skip = new Set(leftOut.map((p) => p.pair - 1));
  return PAIRED.map(({ figure, ratio, of }) => {
    const perRun: number[] = [];
    let atOrBelow = 0;
    for (let i = 0; i < Math.min(mine.length, theirs.length); i++) {
      if (skip.has(i)) continue;
      const a = of(mine[i]);
      const b = of(theirs[i]);
      if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) continue;
      if (ratio && b <= 0) continue;
      perRun.push(round(ratio ? a / b : a - b, ratio ? 2 : 1));
      if (a <= b) atOrBelow++;
    }
    return { figure, perRun, median: round(median(perRun), ratio ? 2 : 1), atOrBelow, ratio: ratio ?? false };
  });
}

/**
 * pairedDifferences() as a markdown table, one row per figure (rows without pairs left out), and a
 * line naming the pairs left out for steal, if any.
 */
export function pairedTable(
  title: string,
  other: string,
  figures: PairedFigure[],
  leftOut: readonly StolenPair[] = [],
  maxStealPercent = DEFAULT_MAX_STEAL_PERCENT,
): string {
  const signed = (x: number, ratio: boolean): string =>
    ratio ? `${x.toFixed(2)}x` : `${x > 0 ? '+' : ''}${x.toFixed(1)}`;
  const rows = figures
    .filter((f) => f.perRun.length > 0)
    .map(
      (f) =>
        `| ${title} | ${f.figure} | ${f.perRun.map((x) => signed(x, f.ratio)).join(', ')} | **${signed(f.median, f.ratio)}** | ${f.atOrBelow} of ${f.perRun.length} |`,
    );
  const note =
    leftOut.length === 0
      ? []
      : [
          '',
          `${title}: left out, more than ${maxStealPercent} % of a core stolen by the hypervisor in either run: ` +
            leftOut.map((p) => `pair ${p.pair} (${p.stealPercent} %)`).join(', ') +
            '.',
        ];
  if (rows.length === 0) return note.join('\n').trim();
  return [
    `| Scenario | Figure | Switchboard against ${other}, pair by pair (ms, or x for CPU) | Median | Switchboard at or below in |`,
    '|---|---|---|---:|---:|',
    ...rows,
    ...note,
  ].join('\n');
}
