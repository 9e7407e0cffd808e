/**
 * One call's recording as the main thread sees it (RecordingThread.open). Writes go into the call's
 * frame ring and never throw or wait. When the ring is full (a burst: a whole sentence of
 * synthesized speech in one tick, or the recording thread busy for a moment) the rest is copied into
 * a backlog, in order, that moves into the ring as the thread reads it; only past MAX_BACKLOG_BYTES
 * (minutes of audio: the thread has stopped reading) is audio dropped, and counted.
 */
import { type FrameRingWriter, READ_INTERVAL_MS, RecordKind } from './frame-ring';
import type { FinishedRecording } from './messages';

/** Audio held on the main thread at most, per call, while the ring is full: ~2 minutes of both sides. */
export const MAX_BACKLOG_BYTES = 2 * 1024 * 1024;
/** How soon a backlog is offered to the ring again: twice between two reads of the thread. */
const RETRY_MS = READ_INTERVAL_MS / 2;

interface Held {
  kind: RecordKind;
  data: Uint8Array;
  atMs: number;
}

export class LiveRecording {
  private closing: Promise<FinishedRecording> | undefined;
  private backlog: Held[] = [];
  private backlogBytes = 0;
  private retry: NodeJS.Timeout | undefined;
  /** Bytes of audio (and cuts) lost because the backlog was full. */
  private dropped = 0;

  constructor(
    private readonly ring: FrameRingWriter,
    /** Resolves once the file exists; rejects when it cannot be created. */
    readonly ready: Promise<void>,
    private readonly finish: (endMs: number | undefined) => Promise<FinishedRecording>,
    /** True once the recording thread is gone (then a backlog will never move). */
    private readonly threadGone: () => boolean,
  ) {}

  /** Caller mu-law captured at call time atMs. */
  writeCaller(mulaw: Uint8Array, atMs: number): void {
    this.audio(RecordKind.Caller, mulaw, atMs);
  }

  /** Caller mu-law given as base64 of `length` bytes: decoded into the ring, nowhere else. */
  writeCallerBase64(base64: string, length: number, atMs: number): void {
    if (this.closing) return;
    if (this.backlog.length === 0 && this.ring.base64(RecordKind.Caller, base64, length, atMs)) return;
    this.hold(RecordKind.Caller, Buffer.from(base64, 'base64'), atMs);
  }

  /** Agent mu-law scheduled to play at call time atMs. */
  writeAgent(mulaw: Uint8Array, atMs: number): void {
    this.audio(RecordKind.Agent, mulaw, atMs);
  }

  /** Barge-in: agent audio scheduled at or after atMs was never heard. */
  cutAgentAfter(atMs: number): void {
    if (this.closing) return;
    if (this.backlog.length === 0 && this.ring.cut(atMs)) return;
    this.hold(RecordKind.Cut, new Uint8Array(0), atMs);
  }

  /** Bytes of audio lost because the recording thread stopped reading (the backlog was full). */
  get droppedBytes(): number {
    return this.dropped;
  }

  /**
   * Finishes the file at endMs (default: where the audio ends), once the backlog is in the ring.
   * Idempotent; never rejects.
   */
  close(endMs?: number): Promise<FinishedRecording> {
    return (this.closing ??= this.flushThenFinish(endMs));
  }

  private audio(kind: RecordKind.Caller | RecordKind.Agent, data: Uint8Array, atMs: number): void {
    if (this.closing) return;
    let written = 0;
    if (this.backlog.length === 0) {
      written = this.ring.audio(kind, data, atMs);
      if (written === data.length) return;
    }
    this.hold(kind, data.slice(written), atMs + written / 8);
  }

  private hold(kind: RecordKind, data: Uint8Array, atMs: number): void {
    if (this.backlogBytes + data.length > MAX_BACKLOG_BYTES) {
      this.dropped += data.length;
      return;
    }
    this.backlog.push({ kind, data, atMs });
    this.backlogBytes += data.length;
    this.retry ??= setTimeout(() => this.moveBacklog(), RETRY_MS);
  }

  /** Moves what fits of the backlog into the ring, in order; true when nothing is left. */
  private moveBacklog(): boolean {
    this.retry = undefined;
    if (this.threadGone()) {
      this.dropped += this.backlogBytes;
      this.backlog = [];
      this.backlogBytes = 0;
      return true;
    }
    let moved = 0;
    for (; moved < this.backlog.length; moved++) {
      const held = this.backlog[moved];
      if (held.kind === RecordKind.Cut) {
        if (!this.ring.cut(held.atMs)) break;
        continue;
      }
      const written = this.ring.audio(held.kind as RecordKind.Caller, held.data, held.atMs);
      this.backlogBytes -= written;
      if (written < held.data.length) {
        this.backlog[moved] = { kind: held.kind, data: held.data.subarray(written), atMs: held.atMs + written / 8 };
        break;
      }
    }
    if (moved > 0) this.backlog.splice(0, moved);
    if (this.backlog.length === 0) return true;
    this.retry ??= setTimeout(() => this.moveBacklog(), RETRY_MS);
    return false;
  }

  private async flushThenFinish(endMs: number | undefined): Promise<FinishedRecording> {
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    // The thread reads every READ_INTERVAL_MS; if it has died, finish() settles at once with its error.
    while (!this.threadGone() && !this.moveBacklog()) {
      if (this.retry) clearTimeout(this.retry);
      this.retry = undefined;
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
    if (this.retry) clearTimeout(this.retry);
    return this.finish(endMs);
  }
}
