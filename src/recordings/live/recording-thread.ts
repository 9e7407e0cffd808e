/**
 * Live call recordings are written on a thread of their own. The main thread relays the caller's
 * audio; mixing both sides into the stereo WAV, interleaving, the file writes and the header patches
 * (StereoWavRecorder, src/audio/wav-recorder.ts) are the recording thread's work
 * (recording-worker.ts). Each call's audio reaches it through a SharedArrayBuffer ring
 * (frame-ring.ts): a frame costs the main thread a copy into shared memory (a base64 frame is decoded
 * straight into it), no allocation, no message, no wait; a cut travels in the same ring, so it lands
 * exactly between the audio written before and after it. Open and close are messages.
 *
 * One thread serves the process, started with the first recording. It is referenced while a
 * recording is being finished (the process must not exit under a file half written) and not
 * otherwise: an open recording is held by its call's sockets, and one left open by a leak must not
 * keep the process from exiting. If it dies, the recordings it held are finished with an error
 * (their files keep what had been written, the header as last patched) and the next recording starts
 * a new thread.
 * See docs/benchmarks/bridge.md for what this took off the main thread.
 */
import { Worker } from 'node:worker_threads';
import { moduleEntry } from '../../runtime/module-entry';
import { noteHelperThread } from '../../runtime/helper-threads';
import type { StereoWavRecorderOptions } from '../../audio/wav-recorder';
import { FrameRingWriter } from './frame-ring';
import { LiveRecording } from './live-recording';
import type { FinishedRecording, FromRecordingThread, ToRecordingThread } from './messages';

export type { FinishedRecording } from './messages';
export type { LiveRecording } from './live-recording';

/** Rings kept for reuse by later calls (32 KB each). */
const MAX_POOLED_RINGS = 64;
const SHUTDOWN_TIMEOUT_MS = 10_000;
const YOUNG_GENERATION_MB = 3;

interface Pending {
  ring: SharedArrayBuffer;
  opened: { resolve: () => void; reject: (err: Error) => void; settled: boolean };
  closed: (result: FinishedRecording) => void;
  /** close() was asked for: the thread holds the process until the file is finished. */
  closing: boolean;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  alive: boolean;
  /** Recordings being finished: while any is, the worker is referenced. */
  closing: number;
}

export class RecordingThread {
  private thread: Thread | undefined;
  private nextId = 1;
  private readonly pool: SharedArrayBuffer[] = [];
  readonly stats = { opened: 0, threadsStarted: 0, threadFailures: 0 };

  /** Starts recording to `file` (created, never overwritten; see StereoWavRecorder.create). */
  open(file: string, options?: StereoWavRecorderOptions): LiveRecording {
    const thread = this.running();
    const id = this.nextId++;
    const ring = this.pool.pop() ?? FrameRingWriter.allocate();
    FrameRingWriter.reset(ring);
    let opened!: Pending['opened'];
    const ready = new Promise<void>((resolve, reject) => {
      opened = { resolve, reject, settled: false };
    });
    ready.catch(() => undefined);
    let closed!: (result: FinishedRecording) => void;
    const result = new Promise<FinishedRecording>((resolve) => (closed = resolve));
    const pending: Pending = { ring, opened, closed, closing: false };
    thread.pending.set(id, pending);
    this.stats.opened++;
    this.post(thread, { op: 'open', id, path: file, ring, ...(options ? { options } : {}) });
    const finish = (endMs: number | undefined): Promise<FinishedRecording> => {
      if (thread.pending.get(id) === pending && !pending.closing) {
        pending.closing = true;
        if (thread.closing++ === 0) thread.worker.ref();
      }
      this.post(thread, { op: 'close', id, ...(endMs !== undefined ? { endMs } : {}) });
      return result;
    };
    return new LiveRecording(new FrameRingWriter(ring), ready, finish, () => !thread.alive);
  }

  /** Finishes every open recording and ends the thread (a new open() starts another). */
  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = undefined;
    if (!thread?.alive) return;
    thread.worker.ref();
    const exited = new Promise<void>((resolve) => thread.worker.once('exit', () => resolve()));
    this.post(thread, { op: 'shutdown' });
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), SHUTDOWN_TIMEOUT_MS).unref());
    if ((await Promise.race([exited, timeout])) === 'timeout') await thread.worker.terminate();
  }

  private running(): Thread {
    if (this.thread?.alive) return this.thread;
    const { file, execArgv } = moduleEntry(__filename, 'recording-worker');
    // A small young generation: the thread allocates little per second, and the default (16 MB
    // semi-spaces) would sit in RSS for nothing.
    const worker = new Worker(file, { execArgv, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    noteHelperThread(worker);
    const thread: Thread = { worker, pending: new Map(), alive: true, closing: 0 };
    this.thread = thread;
    this.stats.threadsStarted++;
    worker.on('message', (msg: FromRecordingThread) => this.onMessage(thread, msg));
    worker.on('error', () => undefined); // reported through 'exit'
    worker.on('exit', () => this.onExit(thread));
    // After the listeners: adding a 'message' listener references the worker's port again.
    worker.unref();
    return thread;
  }

  private onMessage(thread: Thread, msg: FromRecordingThread): void {
    const pending = thread.pending.get(msg.id);
    if (!pending) return;
    if (msg.op === 'opened') {
      pending.opened.settled = true;
      if (msg.error === undefined) pending.opened.resolve();
      else pending.opened.reject(new Error(msg.error));
      return;
    }
    thread.pending.delete(msg.id);
    if (this.pool.length < MAX_POOLED_RINGS) this.pool.push(pending.ring);
    if (pending.closing && --thread.closing === 0) thread.worker.unref();
    pending.closed(msg.result);
  }

  /** The thread ended: what it held is finished with an error; its rings are not reused. */
  private onExit(thread: Thread): void {
    const unexpected = thread.pending.size > 0 || this.thread === thread;
    thread.alive = false;
    if (this.thread === thread) this.thread = undefined;
    if (unexpected) this.stats.threadFailures++;
    const error = 'the recording thread stopped before the recording was finished';
    for (const pending of thread.pending.values()) {
      if (!pending.opened.settled) pending.opened.reject(new Error(error));
      pending.closed({ durationMs: 0, sizeBytes: 0, created: false, error, droppedLateFrames: 0, overflowSamples: 0 });
    }
    thread.pending.clear();
    thread.closing = 0;
  }

  private post(thread: Thread, msg: ToRecordingThread): void {
    try {
      thread.worker.postMessage(msg);
    } catch {
      /* the thread is gone: onExit settles what it held */
    }
  }
}

let shared: RecordingThread | undefined;

/** The process's recording thread (started lazily with the first recording). */
export function recordingThread(): RecordingThread {
  return (shared ??= new RecordingThread());
}
