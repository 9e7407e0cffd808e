/**
 * Where the log lines go when no stream is given: stdout, written asynchronously (sonic-boom, libuv's
 * thread pool) and never by the event loop that carries every call's audio. Node writes stdout
 * synchronously when it is a file or a pipe; a slow reader (a container runtime's log driver in its
 * default blocking mode, a slow disk) then stops every call at its next log line, and a reader that
 * stops reading blocks the process for good once the pipe's 64 KB are full.
 *
 * Lines wait in memory, in order, and go out in batches: the lines of BATCH_MS (or BATCH_CHARS,
 * whichever comes first) are handed to the writer together, so a busy server makes one write, and
 * one hand-off to the thread pool, for many lines instead of one each (a hand-off costs ~40 µs of
 * CPU across the threads: ~0.3 ms of every call's start and end went to it). Past MAX_QUEUED_BYTES
 * (the reader has stopped) new lines are dropped and counted: `droppedLogLines()`, the metric
 * `switchboard_log_lines_dropped_total`, and one warning line once the queue has room again. One
 * destination per process, shared by every logger; `flushLogs()` waits until it is written (2 s at
 * most), and what is still queued when the process exits is written synchronously on the way out,
 * unless the reader has stopped (nothing taken for a second): then the process exits without it.
 */
import SonicBoom from 'sonic-boom';

/** Log output held while the reader is behind: ~30,000 lines of JSON, minutes of a busy server's logs. */
export const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** A reader that has taken nothing for this long has stopped: the exit does not wait for it. */
export const STALLED_MS = 1000;
/** Lines logged within this long go out in one write (a timer, only while lines wait). */
export const BATCH_MS = 25;
/** ...or as soon as this many characters wait. */
export const BATCH_CHARS = 16 * 1024;
/** flushLogs() waits at most this long. */
export const FLUSH_TIMEOUT_MS = 2000;

export interface LogDestination {
  write(line: string): void;
}

let stdout: LogDestination | undefined;
let sonic: SonicBoom | undefined;
/** Hands the waiting batch to the writer at once. */
let handOver = (): void => undefined;
let dropped = 0;
let handOvers = 0;
let unreported = 0;
let reporter: ((count: number) => void) | undefined;

/** The process's stdout destination (created on first use). */
export function stdoutDestination(): LogDestination {
  if (stdout) return stdout;
  const dest = new SonicBoom({ fd: 1, sync: false, minLength: 0, maxLength: MAX_QUEUED_BYTES });
  dest.on('drop', (data: string) => {
    let lines = 0;
    for (let i = data.indexOf('\n'); i !== -1; i = data.indexOf('\n', i + 1)) lines++;
    dropped += lines;
    unreported += lines;
  });
  // A write error (stdout closed: EPIPE) must not take the process and its calls down.
  dest.on('error', () => undefined);
  // Lines handed to the writer and not yet written (set by every hand-off, cleared when its queue
  // has emptied), and when the queue last moved: a reader that has not taken anything for STALLED_MS
  // has stopped.
  let pending = false;
  let movedAt = 0;
  // The queue is empty: nothing pending, and the reader has caught up: say how many lines it missed.
  dest.on('drain', () => {
    pending = false;
    reportDropped();
  });
  dest.on('write', () => (movedAt = performance.now()));
  // The lines of the current batch, and the timer that hands them over.
  let batch = '';
  let timer: NodeJS.Timeout | undefined;
  handOver = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (batch === '') return;
    if (!pending) movedAt = performance.now();
    pending = true;
    const lines = batch;
    batch = '';
    handOvers++;
    dest.write(lines);
  };
  process.once('exit', () => {
    handOver();
    // Never hang on the way out behind a reader that has stopped (a blocking write would wait for it).
    if (!pending || performance.now() - movedAt > STALLED_MS) return;
    try {
      dest.flushSync();
    } catch {
      /* stdout is gone or busy: nothing more can be done on the way out */
    }
  });
  stdout = {
    write(line: string): void {
      batch += line;
      if (batch.length >= BATCH_CHARS) handOver();
      else if (!timer) {
        timer = setTimeout(handOver, BATCH_MS);
        // Never what keeps the process alive: an exit hands the batch over (above).
        timer.unref();
      }
    },
  };
  sonic = dest;
  return stdout;
}

function reportDropped(): void {
  if (unreported === 0 || !reporter) return;
  const count = unreported;
  unreported = 0;
  reporter(count);
}

/** Called with the number of lines dropped since the last call, once there is room to say so. */
export function onDroppedLogLines(report: (count: number) => void): void {
  reporter = report;
}

/** Batches handed to the writer since the process started (each one write, or a share of one). */
export function logBatches(): number {
  return handOvers;
}

/** Log lines dropped since the process started because the reader of stdout fell behind. */
export function droppedLogLines(): number {
  return dropped;
}

/**
 * Resolves once every line queued so far has been written (at once when nothing is queued), or
 * after timeoutMs: a shutdown waits for its last lines, never for a reader that has stopped.
 */
export function flushLogs(timeoutMs = FLUSH_TIMEOUT_MS): Promise<void> {
  const dest = sonic;
  if (!dest) return Promise.resolve();
  handOver();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    // A flush that fails (stdout closed) resolves too: nothing more can be written.
    dest.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
