/**
 * Where the log lines go when no stream is given: stdout, written so that a slow reader never holds
 * up the event loop that carries every call's audio. Node writes stdout synchronously when it is a
 * file or a pipe; a reader that falls behind (a container runtime's log driver in its default
 * blocking mode) would then stop every call at its next log line, and a reader that stops reading
 * would block the process for good once the pipe's 64 KB are full.
 *
 * Lines wait in memory, in order, and go out in batches: the lines of BATCH_MS (or BATCH_CHARS,
 * whichever comes first) are one write. A pipe or a socket is written without blocking (Node's own
 * stdout stream puts it in non-blocking mode: libuv's uv_pipe_open): each batch is one `write(2)` on
 * the main thread, a few µs, and what the reader cannot take yet stays queued and is tried again
 * every RETRY_MS. A file or a terminal takes its writes at once. Past MAX_QUEUED_BYTES (the reader has
 * stopped) new lines are dropped and counted: `droppedLogLines()`, the metric
 * `switchboard_log_lines_dropped_total`, and one warning line once the queue has emptied.
 *
 * No write is ever in flight anywhere else (the first version handed batches to libuv's thread pool,
 * sonic-boom: on the way out the process wrote its last lines synchronously while an earlier batch
 * still waited in the pool, which wrote it after them), so the order holds to the end:
 * `flushLogs()` waits until the queue is written (2 s at most), and what is still queued when the
 * process exits is written on the way out while the reader keeps taking it, and given up once it has
 * taken nothing for STALLED_MS. One destination per process, shared by every logger.
 */
import { writeSync } from 'node:fs';

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
/** A reader that could not take everything is offered the rest again after this long. */
export const RETRY_MS = 25;

export interface LogDestination {
  write(line: string): void;
}

/**
 * Writes buffers to a file descriptor in order, never waiting for it: what it does not take now
 * stays queued and is offered again every RETRY_MS (an unref'd timer: it keeps no process alive).
 */
class FdQueue {
  /** The unwritten buffers, oldest first; `offset` bytes of the first are written already. */
  private readonly buffers: Buffer[] = [];
  private offset = 0;
  private retry: NodeJS.Timeout | undefined;
  /** Bytes not yet written. */
  queued = 0;
  /** When the queue last moved (or last started to wait): the reader's sign of life. */
  movedAt = 0;
  /** The descriptor is gone (EPIPE, EBADF): nothing more is written. */
  private closed = false;

  constructor(
    private readonly fd: number,
    /** Called whenever the queue has emptied. */
    private readonly onEmpty: () => void,
  ) {}

  push(buffer: Buffer): void {
    if (this.closed) return;
    if (this.queued === 0) this.movedAt = performance.now();
    this.buffers.push(buffer);
    this.queued += buffer.length;
    if (!this.retry) this.writeNow();
  }

  /** Writes what the descriptor takes now, and offers the rest again after RETRY_MS; true once nothing is left. */
  private writeNow(): boolean {
    if (this.writeSome()) return true;
    this.retry ??= setTimeout(() => {
      this.retry = undefined;
      this.writeNow();
    }, RETRY_MS).unref();
    return false;
  }

  /**
   * On the way out: writes the rest, waiting for the reader as long as it keeps taking (a few ms
   * between tries), never longer than STALLED_MS after it last took something.
   */
  writeRestSync(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (!this.writeSome()) {
      if (performance.now() - this.movedAt > STALLED_MS) return;
      Atomics.wait(pause, 0, 0, 2);
    }
  }

  /** Writes what the descriptor takes now (no timer); true once nothing is left. */
  private writeSome(): boolean {
    while (this.buffers.length > 0) {
      const head = this.buffers[0]!;
      let n: number;
      try {
        n = writeSync(this.fd, head, this.offset, head.length - this.offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
        // The reader has gone (EPIPE) or stdout was closed: the process and its calls carry on.
        this.close();
        this.onEmpty();
        return true;
      }
      if (n > 0) this.movedAt = performance.now();
      this.queued -= n;
      this.offset += n;
      if (this.offset < head.length) return false; // the reader's buffer is full
      this.buffers.shift();
      this.offset = 0;
    }
    this.onEmpty();
    return true;
  }

  private close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.retry = undefined;
    this.buffers.length = 0;
    this.offset = 0;
    this.queued = 0;
  }
}

let stdout: LogDestination | undefined;
let queue: FdQueue | undefined;
/** Hands the waiting batch to the queue at once. */
let handOver = (): void => undefined;
let dropped = 0;
let handOvers = 0;
let unreported = 0;
let reporter: ((count: number) => void) | undefined;
/** flushLogs() calls waiting for the queue to empty. */
const flushed: (() => void)[] = [];

/** The process's stdout destination (created on first use). */
export function stdoutDestination(): LogDestination {
  if (stdout) return stdout;
  // Node's stdout stream for a pipe or a socket opens it with libuv, which makes it non-blocking:
  // a reader that falls behind then answers our writes with EAGAIN instead of stopping the loop.
  void process.stdout;
  const q = new FdQueue(1, () => {
    reportDropped();
    for (const resolve of flushed.splice(0)) resolve();
  });
  // The lines of the current batch, and the timer that hands them over.
  let batch = '';
  let timer: NodeJS.Timeout | undefined;
  handOver = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (batch === '') return;
    const lines = batch;
    batch = '';
    handOvers++;
    q.push(Buffer.from(lines, 'utf8'));
  };
  process.once('exit', () => {
    handOver();
    // Never hang on the way out behind a reader that has stopped.
    if (q.queued === 0 || performance.now() - q.movedAt > STALLED_MS) return;
    q.writeRestSync();
  });
  stdout = {
    write(line: string): void {
      if (q.queued + batch.length + line.length > MAX_QUEUED_BYTES) {
        dropped++;
        unreported++;
        return;
      }
      batch += line;
      if (batch.length >= BATCH_CHARS) handOver();
      else if (!timer) {
        timer = setTimeout(handOver, BATCH_MS);
        // Never what keeps the process alive: an exit hands the batch over (above).
        timer.unref();
      }
    },
  };
  queue = q;
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
  const q = queue;
  if (!q) return Promise.resolve();
  handOver();
  if (q.queued === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      const i = flushed.indexOf(done);
      if (i !== -1) flushed.splice(i, 1);
      resolve();
    }, timeoutMs);
    flushed.push(done);
  });
}
