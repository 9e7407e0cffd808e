/**
 * The event loop first: every other thread of the process (the database writer, the recording
 * thread, the read pool, V8's compiler and GC helpers, libuv's pool) runs under Linux's SCHED_BATCH
 * policy, the main thread under the default one.
 *
 * Every call's audio waits on the main thread's event loop. A helper it wakes (a write posted to the
 * writer, a recording opened) lands on the main thread's core whenever the other core is busy and,
 * as a normal thread, preempts the main thread there at once. Measured with `call-cpu` (400 calls,
 * 2 vCPUs, the main thread's CPU profile): `postMessage` held the main thread ~0.65 ms a call, 70 %
 * of it off its core while the woken thread ran; with the helpers on the other core, or under
 * SCHED_BATCH, 0.18 ms (docs/benchmarks/bridge.md, "A woken helper thread preempted the event
 * loop"). The kernel's fair scheduler never runs a SCHED_BATCH thread ahead of a running one when
 * it wakes (its turn comes when the running thread sleeps, or at the tick), and unlike a nice'd
 * thread it keeps its full share of the CPU.
 *
 * Node has no call for a thread's policy, so util-linux's `chrt` sets it, once per thread, through
 * the launcher (src/runtime/launcher.ts): started from here, each `chrt` would be a fork of the
 * whole process on the event loop's thread (12-17 ms at ~210 MB resident on a PVM guest), at the
 * first call and at every thread started later; through the launcher's shell, started with the
 * rest at start-up, it costs the event loop a few small writes and reads. Our own threads
 * started later (the recording thread at the first call, a replaced writer) are announced with
 * noteHelperThread() and set as soon as they are online; a scan every 30 s picks up the rest
 * (libuv's pool growing). Off Linux, or without `chrt`, nothing changes and that is logged once.
 */
import { access, readdir } from 'node:fs/promises';
import type { Worker } from 'node:worker_threads';
import { launcher, type Launcher } from './launcher';

const DEFAULT_INTERVAL_MS = 30_000;

/** The scans of the running HelperThreads, told when a helper thread comes online. */
const onlineListeners = new Set<() => void>();

/** A worker thread we start: once it is online, the running HelperThreads (if any) sets it. */
export function noteHelperThread(worker: Worker): void {
  if (onlineListeners.size === 0) return;
  worker.once('online', () => {
    for (const listener of onlineListeners) listener();
  });
}

export interface HelperThreadsOptions {
  logger: { info(message: string, meta?: object): unknown; warn(message: string, meta?: object): unknown };
  /** How often to look for threads started since (ms). */
  intervalMs?: number;
  /** The `chrt` program (tests point it elsewhere). */
  chrt?: string;
  /** Where `chrt` runs (default: the process's launcher). */
  launcher?: Launcher;
}

export class HelperThreads {
  /** Thread ids set to SCHED_BATCH and still alive at the last scan. */
  readonly batched = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private unavailable = false;
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private readonly chrt: string;
  private readonly onOnline = (): void => void this.scan();

  constructor(private readonly options: HelperThreadsOptions) {
    this.chrt = options.chrt ?? 'chrt';
  }

  /** The first scan (resolves when it is done), then one every `intervalMs`. */
  async start(): Promise<void> {
    if (process.platform !== 'linux') {
      this.options.logger.info('helper threads keep the default scheduling policy (not Linux)');
      return;
    }
    await this.scan();
    if (this.unavailable) return;
    onlineListeners.add(this.onOnline);
    this.timer = setInterval(() => void this.scan(), this.options.intervalMs ?? DEFAULT_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    onlineListeners.delete(this.onOnline);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Sets every thread not yet seen, except the main thread, to SCHED_BATCH. One scan at a time; a
   * scan asked for during one runs again after it (its listing may predate a thread just started).
   */
  scan(): Promise<void> {
    if (this.scanning) {
      this.rescan = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescan = false;
        await this.scanOnce();
      } while (this.rescan);
    })().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    if (this.unavailable) return;
    let tids: number[];
    try {
      tids = (await readdir('/proc/self/task')).map(Number);
    } catch {
      return;
    }
    const alive = new Set(tids);
    for (const tid of this.batched) if (!alive.has(tid)) this.batched.delete(tid);
    for (const tid of tids) {
      // The main thread's id is the process id.
      if (tid === process.pid || this.batched.has(tid)) continue;
      const result = await this.setBatch(tid);
      if (result === 'set') this.batched.add(tid);
      else if (result === 'unavailable') {
        this.unavailable = true;
        this.stop();
        return;
      }
      // 'gone': the thread ended between the listing and now.
    }
  }

  private async setBatch(tid: number): Promise<'set' | 'gone' | 'unavailable'> {
    let error: string;
    const shells = this.options.launcher ?? launcher();
    try {
      const result = await shells.run([this.chrt, '--batch', '--pid', '0', String(tid)], { timeoutMs: 5000 });
      if (result.status === 0) return 'set';
      error = result.stderr.trim() || `exit status ${result.status}`;
    } catch (err) {
      error = (err as Error).message;
    }
    // A thread that has ended since the listing fails too, and is no reason to stop.
    const alive = await access(`/proc/self/task/${tid}`).then(
      () => true,
      () => false,
    );
    if (!alive) return 'gone';
    this.options.logger.warn(
      'helper threads keep the default scheduling policy: a woken helper thread can preempt the event loop',
      { chrt: this.chrt, error: error.slice(0, 200) },
    );
    return 'unavailable';
  }
}
