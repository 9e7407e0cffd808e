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
 * Node has no call for a thread's policy, so util-linux's `chrt` sets it, once per thread. Not
 * spawned from here: libuv starts a child with fork(), which copies the page tables of the whole
 * process on the event loop's thread (7-15 ms at ~130 MB resident on a PVM guest, where page tables
 * are dear; it scales with the resident size), so each thread set that way held every call's audio
 * as long. One small shell, started with the rest at start-up, reads thread ids on its stdin and
 * runs `chrt` for each; a thread set later costs the event loop a write to a pipe. Our own threads
 * started later (the recording thread at the first call, a replaced writer) are announced with
 * noteHelperThread() and set as soon as they are online; a scan every 30 s picks up the rest
 * (libuv's pool growing). Off Linux, or without `chrt`, nothing changes and that is logged once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, readdir } from 'node:fs/promises';
import type { Worker } from 'node:worker_threads';

const DEFAULT_INTERVAL_MS = 30_000;

/** A child's pipe (a net.Socket), whose handle can stop keeping the event loop alive. */
type Refable = { ref(): void; unref(): void };

interface Setter {
  child: ChildProcess;
  /** Who waits for the shell's next answers, in the order asked. */
  answers: ((line: string) => void)[];
}

/**
 * The shell's loop ($0: the chrt program): one line in, a thread id; one line out, `ok TID` or
 * `err TID STATUS MESSAGE`, in the order asked.
 */
const SETTER = `while read -r tid; do
  if out=$("$0" --batch --pid 0 "$tid" 2>&1); then echo "ok $tid"
  else echo "err $tid $? $(printf %s "$out" | tr '\\n' ' ')"; fi
done`;

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
  /** The shell that runs chrt (SETTER), started at the first thread to set, and its answers' waiters in order. */
  private setter: Setter | undefined;

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
    // The shell ends at the end of its input; a thread being set meanwhile is answered first.
    this.setter?.child.stdin!.end();
    this.setter = undefined;
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
    const answer = await this.ask(tid);
    if (answer.startsWith('ok ')) return 'set';
    // A thread that has ended since the listing fails too, and is no reason to stop.
    const alive = await access(`/proc/self/task/${tid}`).then(
      () => true,
      () => false,
    );
    if (!alive) return 'gone';
    this.options.logger.warn(
      'helper threads keep the default scheduling policy: a woken helper thread can preempt the event loop',
      // `err TID STATUS MESSAGE` (or `err - WHY`): what chrt or the shell said.
      { chrt: this.chrt, error: answer.split(' ').slice(2).join(' ').trim().slice(0, 200) },
    );
    return 'unavailable';
  }

  /** The setter's answer for `tid` (SETTER's line, or `err - WHY` when the shell cannot run). */
  private ask(tid: number): Promise<string> {
    const { child, answers } = this.setter ?? this.startSetter();
    return new Promise((resolve) => {
      // Its output keeps the process alive while an answer is awaited (and only then).
      if (answers.length === 0) (child.stdout as unknown as Refable).ref();
      answers.push(resolve);
      child.stdin!.write(`${tid}\n`);
    });
  }

  private startSetter(): Setter {
    const child = spawn('sh', ['-c', SETTER, this.chrt], { stdio: ['pipe', 'pipe', 'ignore'] });
    const setter: Setter = { child, answers: [] };
    const { answers } = setter;
    this.setter = setter;
    let buffered = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        answers.shift()?.(line);
      }
      if (answers.length === 0) (child.stdout as unknown as Refable).unref();
    });
    const failAll = (why: string): void => {
      if (this.setter === setter) this.setter = undefined;
      for (const answer of answers.splice(0)) answer(`err - ${why}`);
    };
    child.once('error', (err: NodeJS.ErrnoException) => failAll(`sh: ${err.code ?? err.message}`));
    // 'close': after the last answer it wrote has been read.
    child.once('close', (code, signal) => failAll(`sh: exited (${signal ?? code})`));
    child.stdin!.on('error', () => undefined); // a shell gone: its close answers
    // Neither the shell nor its pipes keep the process alive, but while an answer is awaited (ask).
    child.unref();
    for (const stream of [child.stdin, child.stdout] as unknown as Refable[]) stream.unref();
    return setter;
  }
}
