/**
 * Process figures read from /proc (Linux): CPU seconds (user + system) and resident memory of a
 * child process, without instrumenting it. Elsewhere the functions return null.
 */
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux
const PAGE_BYTES = 4096;

export interface ProcSample {
  cpuSeconds: number;
  rssBytes: number;
}

/** utime + stime (clock ticks) and rss (pages) of a /proc/.../stat line. */
function parseStat(stat: string): { ticks: number; rssPages: number } {
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ticks: Number(fields[11]) + Number(fields[12]), rssPages: Number(fields[21]) };
}

export function sampleProcess(pid: number | undefined): ProcSample | null {
  if (!pid) return null;
  try {
    const { ticks, rssPages } = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return { cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND, rssBytes: rssPages * PAGE_BYTES };
  } catch {
    return null;
  }
}

/** One thread's scheduling so far (see sampleThread). */
export interface ThreadSample {
  /** CPU seconds (user + system). */
  cpuSeconds: number;
  /**
   * Seconds the thread was ready to run but waited for a core (the run queue: other threads and
   * processes on the machine's cores, or the hypervisor). From /proc/.../schedstat; null where the
   * kernel does not keep it.
   */
  runQueueWaitSeconds: number | null;
  /**
   * Times the thread was put on a core (schedstat's third field): once for each wake-up, and once
   * for each return after being preempted. What a thread costs beyond its CPU on a machine where a
   * wake-up is dear (a VM's interrupts). Null where the kernel does not keep it.
   */
  timeslices: number | null;
}

/**
 * CPU seconds (user + system) and run-queue wait of one thread of a process; by default its main
 * thread (whose id is the process id): the event loop every caller frame waits for, without the
 * worker threads.
 */
export function sampleThread(pid: number | undefined, tid = pid): ThreadSample | null {
  if (!pid) return null;
  const dir = `/proc/${pid}/task/${tid}`;
  try {
    const cpuSeconds = parseStat(readFileSync(`${dir}/stat`, 'utf8')).ticks / CLOCK_TICKS_PER_SECOND;
    let runQueueWaitSeconds: number | null = null;
    let timeslices: number | null = null;
    try {
      // "<ns on a core> <ns waiting on a run queue> <timeslices>"
      const fields = readFileSync(`${dir}/schedstat`, 'utf8').split(' ');
      const wait = Number(fields[1]);
      if (Number.isFinite(wait)) runQueueWaitSeconds = wait / 1e9;
      const slices = Number(fields[2]);
      if (Number.isFinite(slices)) timeslices = slices;
    } catch {
      // no schedstat in this kernel
    }
    return { cpuSeconds, runQueueWaitSeconds, timeslices };
  } catch {
    return null;
  }
}

/** The ids of the threads process `pid` has now (from /proc; empty when it is not there). */
export function threadIds(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

/**
 * The same, added up over every thread the process has now (main thread, workers, V8's and libuv's
 * helpers). A thread that ended between two samples takes its counts with it, so a difference of
 * two samples is exact only for threads that lived through both (the server's do).
 */
export function sampleThreads(pid: number | undefined): (ThreadSample & { threads: number }) | null {
  if (!pid) return null;
  const tids = threadIds(pid);
  if (tids.length === 0) return null;
  const sum = { cpuSeconds: 0, runQueueWaitSeconds: 0 as number | null, timeslices: 0 as number | null, threads: 0 };
  for (const tid of tids) {
    const t = sampleThread(pid, tid);
    if (!t) continue; // ended since the directory was read
    sum.threads++;
    sum.cpuSeconds += t.cpuSeconds;
    sum.runQueueWaitSeconds =
      sum.runQueueWaitSeconds === null || t.runQueueWaitSeconds === null
        ? null
        : sum.runQueueWaitSeconds + t.runQueueWaitSeconds;
    sum.timeslices = sum.timeslices === null || t.timeslices === null ? null : sum.timeslices + t.timeslices;
  }
  return sum.threads > 0 ? sum : null;
}

/** Keeps the peak and mean RSS of a process while running. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  peakBytes = 0;
  private sum = 0;
  private count = 0;

  constructor(
    private readonly pid: number | undefined,
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sample();
  }

  get meanBytes(): number {
    return this.count ? this.sum / this.count : 0;
  }

  private sample(): void {
    const s = sampleProcess(this.pid);
    if (!s) return;
    this.peakBytes = Math.max(this.peakBytes, s.rssBytes);
    this.sum += s.rssBytes;
    this.count++;
  }
}

/**
 * Machine-wide CPU time (all cores), in seconds: busy, total, and stolen (time the hypervisor gave
 * this VM's CPUs to another guest while they had work: counted as busy, though nothing here ran).
 */
export function sampleSystem(): { busySeconds: number; totalSeconds: number; stealSeconds: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = v[3] + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return {
      busySeconds: (total - idle) / CLOCK_TICKS_PER_SECOND,
      totalSeconds: total / CLOCK_TICKS_PER_SECOND,
      stealSeconds: (v[7] ?? 0) / CLOCK_TICKS_PER_SECOND,
    };
  } catch {
    return null;
  }
}
