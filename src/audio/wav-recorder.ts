/**
 * StereoWavRecorder: the call recording tap. Writes a RIFF/WAVE PCM16 8 kHz stereo file — caller on the left
 * channel, agent on the right — time-aligned as the caller heard it, incrementally, so a call never sits in
 * memory whole, and with a header that is patched every few seconds so the file of a crashed (even SIGKILLed)
 * process still plays up to shortly before the crash (`repairWavFile` makes it exact at start-up).
 *
 * Timeline. Every write carries `atMs`, an offset on the Twilio stream clock (media.timestamp); its first
 * sample lands at sample frame round(atMs * 8). Gaps are silence.
 * - Caller audio defines "now". It is kept as mu-law in a small staging window (`chunkMs + jitterMs`, 1 s by
 *   default) so audio that arrives slightly late or out of order still lands in place; audio for time that has
 *   already been written is dropped and counted (`stats.droppedLateFrames`).
 * - Agent audio is scheduled at the time it will START playing, usually ahead of now (the model sends faster
 *   than real time and Twilio buffers it). It is kept as mu-law (8 KB per second) until the caller clock passes
 *   it, then mixed into the right channel; `cutAgentAfter(ms)` (barge-in) drops what is scheduled after ms.
 *   Where agent writes overlap (the bridge should not let that happen), the one scheduled later wins; for equal
 *   start times the later write wins.
 * - When the caller clock is one window ahead of the written position, the oldest `chunkMs` of the window is
 *   interleaved with the agent audio due in it and handed to the disk writer. A stretch with neither caller
 *   nor agent audio is written as a file extension (no buffer at all), so a long gap costs nothing.
 * Memory is therefore bounded by the agent look-ahead plus the window plus the disk queue, which is capped
 * (`maxPendingWriteBytes`; past it, audio is written as silence and counted in `stats.overflowSamples`).
 *
 * Disk. One FileHandle, writes serialized by a single async pump; nothing on the per-frame path waits for or
 * touches the disk. Committed chunks are interleaved into one block of `flushMs` (default 1000) that is handed
 * to the writer when full (or at a silent stretch, `drain()`, `close()`), so a recorder issues one data write
 * per flushMs instead of one per chunk: fewer syscalls and promise round trips on the recorder's thread. (The
 * live recordings' thread sets flushMs = chunkMs instead, so no call holds a staged block between writes:
 * src/recordings/live/recording-worker.ts.) After a write, if `headerPatchIntervalMs` has passed since the last
 * patch, the header's RIFF and data sizes are rewritten to cover exactly the bytes already written (never
 * more), so the file is valid whenever the process dies. A write error (disk full, ...) is stored in
 * `stats.error`, never thrown at the writer's caller; the recorder then stops writing and `close()` still
 * settles the file as far as it got.
 */
import fs from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { syncWritesAllowed, timedSyncWrite } from './sync-writes';
import path from 'node:path';
import { MULAW_DECODE_TABLE } from './g711';
import { agentPages, recorderBlocks } from './block-pool';
import { WAV_HEADER_BYTES, writeWavHeader } from './wav-header';

export const RECORDING_SAMPLE_RATE_HZ = 8000;
export const RECORDING_CHANNELS = 2;
export const RECORDING_BITS_PER_SAMPLE = 16;
const SAMPLES_PER_MS = RECORDING_SAMPLE_RATE_HZ / 1000;
/** Bytes per stereo sample frame (2 channels x 16 bits). */
const FRAME_BYTES = RECORDING_CHANNELS * (RECORDING_BITS_PER_SAMPLE / 8);
const MAX_DATA_BYTES = 0xffffffff - 36 - 3; // RIFF sizes are 32-bit; keep whole sample frames
/** The longest recording a WAV file can hold: ~37 hours. Writes beyond it are invalid. */
const MAX_FRAMES = Math.floor(MAX_DATA_BYTES / FRAME_BYTES);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** The mu-law byte that decodes to 0: the caller window holds mu-law (half the bytes of PCM16), gaps silent. */
const MULAW_SILENCE = 0xff;

export interface StereoWavRecorderOptions {
  /** Only 8000 is supported (Twilio's rate). */
  sampleRateHz?: 8000;
  /** How often the header sizes are patched while recording (default 2000; 0 = after every write). */
  headerPatchIntervalMs?: number;
  /** Step in which audio leaves the staging window, in ms (default 500). */
  chunkMs?: number;
  /**
   * Size of one disk write, in ms of audio (default 1000; at least chunkMs). Audio committed but not yet
   * flushed is in memory: a crash loses at most jitterMs + flushMs.
   */
  flushMs?: number;
  /**
   * How far behind the caller clock audio may still be placed (default 500): caller frames arriving late or
   * out of order, agent audio scheduled slightly in the past. Audio within it is not on disk yet, so a crash
   * loses at most this plus flushMs (plus headerPatchIntervalMs until the file is repaired).
   */
  jitterMs?: number;
  /** Cap on audio waiting for the disk (default 4 MiB, ~2 min); past it audio is written as silence. */
  maxPendingWriteBytes?: number;
  /** Cap on agent audio held ahead of the caller clock (default 600000 ms); past it, agent audio is dropped. */
  maxAgentLookaheadMs?: number;
  /**
   * Write the blocks and header patches with synchronous system calls on this thread instead of
   * through libuv's thread pool (default false). Only for a thread of its own that does nothing but
   * record (the live recordings' thread): there a write's few microseconds of page-cache copy cost
   * less than the pool's two thread hand-offs and a promise; on a thread that relays audio it would
   * put the disk on the hot path. Opening and closing the file stay asynchronous, and a write slower
   * than 50 ms sends the thread's writes back to the pool for a minute (src/audio/sync-writes.ts).
   */
  syncWrites?: boolean;
}

export interface StereoWavRecorderStats {
  /** Sample data bytes (after the 44-byte header) written to the file. */
  bytesWritten: number;
  /** Bytes handed to the disk writer and not yet written. */
  pendingWriteBytes: number;
  peakPendingWriteBytes: number;
  /** Agent mu-law bytes held for playback times the caller clock has not reached. */
  pendingAgentBytes: number;
  peakPendingAgentBytes: number;
  /** Size of the caller staging window (constant). */
  windowBytes: number;
  /** Audio time handed to the writer so far. */
  committedMs: number;
  /** Writes (caller or agent) that arrived, wholly or partly, for time already written; their late part is dropped. */
  droppedLateFrames: number;
  droppedLateSamples: number;
  /** Agent samples removed by cutAgentAfter. */
  cutAgentSamples: number;
  /** Agent samples dropped because they were scheduled beyond maxAgentLookaheadMs. */
  droppedAgentSamples: number;
  /** Samples written as silence because the disk fell more than maxPendingWriteBytes behind. */
  overflowSamples: number;
  /** Writes ignored because of a bad argument (atMs not a finite number >= 0, data not a Uint8Array). */
  invalidWrites: number;
  headerPatches: number;
  /** The first disk error, if any; the recorder stops writing after it. */
  error: Error | null;
}

export interface StereoWavRecorderResult {
  /** Length of the recording (sample frames / 8); fractional only when endMs was. */
  durationMs: number;
  /** File size in bytes, header included. */
  sizeBytes: number;
  path: string;
  sampleRateHz: number;
  channels: number;
  /** False when the file could never be created (no file of this recorder exists; see `error`). */
  created: boolean;
  /** Set when a disk error cut the recording short (the file holds what was written before it). */
  error?: Error;
}

interface AgentSegment {
  /** Absolute sample frame of data[0]. */
  start: number;
  end: number;
  data: Uint8Array;
}

/** A pending disk operation: sample bytes to append, or a number of silent bytes to append. */
type WriteOp = Buffer | number;

/** Creates a new recording file (never overwriting one) with an empty header; owner-only permissions. */
async function createWavFile(filePath: string): Promise<FileHandle> {
  await mkdir(path.dirname(filePath), { recursive: true, mode: 0o700 });
  const handle = await open(filePath, 'wx', 0o600);
  try {
    const header = writeWavHeader(Buffer.alloc(WAV_HEADER_BYTES), {
      sampleRateHz: RECORDING_SAMPLE_RATE_HZ,
      channels: RECORDING_CHANNELS,
      bitsPerSample: RECORDING_BITS_PER_SAMPLE,
      dataBytes: 0,
    });
    await handle.write(header, 0, WAV_HEADER_BYTES, 0);
    return handle;
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

function isValidAtMs(atMs: number): boolean {
  return typeof atMs === 'number' && Number.isFinite(atMs) && atMs >= 0;
}

function positiveOption(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(`StereoWavRecorder: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  }
  return value;
}

type RecorderSettings = Required<Omit<StereoWavRecorderOptions, 'sampleRateHz'>>;

function resolveOptions(opts: StereoWavRecorderOptions): RecorderSettings {
  if (opts.sampleRateHz !== undefined && opts.sampleRateHz !== RECORDING_SAMPLE_RATE_HZ) {
    throw new RangeError(`StereoWavRecorder: only ${RECORDING_SAMPLE_RATE_HZ} Hz is supported`);
  }
  return {
    headerPatchIntervalMs: positiveOption('headerPatchIntervalMs', opts.headerPatchIntervalMs, 2000, true),
    chunkMs: positiveOption('chunkMs', opts.chunkMs, 500),
    flushMs: positiveOption('flushMs', opts.flushMs, 1000),
    jitterMs: positiveOption('jitterMs', opts.jitterMs, 500, true),
    maxPendingWriteBytes: positiveOption('maxPendingWriteBytes', opts.maxPendingWriteBytes, 4 * 1024 * 1024),
    maxAgentLookaheadMs: positiveOption('maxAgentLookaheadMs', opts.maxAgentLookaheadMs, 600_000),
    syncWrites: opts.syncWrites === true,
  };
}

export class StereoWavRecorder {
  readonly path: string;
  /** Resolves once the file exists with its header; rejects when it cannot be created (then `stats.error`). */
  private readonly opened: Promise<FileHandle>;
  private handle: FileHandle | null = null;
  private readonly headerPatchIntervalMs: number;
  private readonly syncWrites: boolean;
  private readonly chunkFrames: number;
  /** Frames of one disk block (flushMs, at least one chunk). */
  private readonly blockCapacityFrames: number;
  /** Interleaved stereo samples committed and not yet handed to the writer; allocated on first use. */
  private block: Int16Array | null = null;
  private blockFrames = 0;
  private readonly capacityFrames: number;
  private readonly maxPendingWriteBytes: number;
  private readonly maxAgentLookaheadFrames: number;
  private readonly headerScratch = Buffer.alloc(WAV_HEADER_BYTES);

  /** Caller mu-law for frames [base, base + capacityFrames) (decoded as it is committed). */
  private window: Uint8Array;
  /** Absolute sample frame of window[0] = frames handed to the writer. */
  private base = 0;
  /** End (exclusive) of the caller audio received so far: "now". */
  private callerEnd = 0;
  /** Agent audio not yet written, sorted by start (stable). */
  private agentSegments: AgentSegment[] = [];
  private pendingAgentBytes = 0;

  private readonly queue: WriteOp[] = [];
  private pendingWriteBytes = 0;
  private pumping: Promise<void> | null = null;
  private dataBytesWritten = 0;
  private patchedDataBytes = 0;
  private lastPatchAtMs = Date.now();
  private failed = false;
  private closing = false;
  private closePromise: Promise<StereoWavRecorderResult> | null = null;

  private readonly counters = {
    peakPendingWriteBytes: 0,
    peakPendingAgentBytes: 0,
    droppedLateFrames: 0,
    droppedLateSamples: 0,
    cutAgentSamples: 0,
    droppedAgentSamples: 0,
    overflowSamples: 0,
    invalidWrites: 0,
    headerPatches: 0,
    error: null as Error | null,
  };

  private constructor(filePath: string, settings: RecorderSettings) {
    this.path = filePath;
    this.opened = createWavFile(filePath);
    // A failed open is stored (stats.error) and ends writing; close() still settles.
    this.opened.then(
      (handle) => {
        this.handle = handle;
      },
      (err: unknown) => this.fail(err),
    );
    this.headerPatchIntervalMs = settings.headerPatchIntervalMs;
    this.syncWrites = settings.syncWrites;
    this.chunkFrames = Math.max(1, Math.round(settings.chunkMs * SAMPLES_PER_MS));
    this.blockCapacityFrames = Math.max(this.chunkFrames, Math.round(settings.flushMs * SAMPLES_PER_MS));
    this.capacityFrames = this.chunkFrames + Math.round(settings.jitterMs * SAMPLES_PER_MS);
    this.maxPendingWriteBytes = settings.maxPendingWriteBytes;
    this.maxAgentLookaheadFrames = Math.round(settings.maxAgentLookaheadMs * SAMPLES_PER_MS);
    this.window = new Uint8Array(this.capacityFrames).fill(MULAW_SILENCE);
  }

  /**
   * Starts a recording at once: writes are accepted from the first call, while the file (and its directory,
   * mode 0700) is created with an empty header in the background (mode 0600: recordings hold personal data).
   * Nothing is lost while the file opens, and the caller never waits on the disk. Fails (`stats.error`, and
   * `close()` reports it) if the file already exists: recordings are never overwritten. Bad options throw
   * here, before any I/O.
   */
  static create(filePath: string, opts: StereoWavRecorderOptions = {}): StereoWavRecorder {
    return new StereoWavRecorder(filePath, resolveOptions(opts));
  }

  /** `create`, then waits for the file to exist; rejects when it cannot be created. */
  static async open(filePath: string, opts: StereoWavRecorderOptions = {}): Promise<StereoWavRecorder> {
    const recorder = StereoWavRecorder.create(filePath, opts);
    await recorder.opened;
    return recorder;
  }

  /** Resolves once the file exists (rejects when it could not be created). */
  ready(): Promise<void> {
    return this.opened.then(() => undefined);
  }

  get stats(): Readonly<StereoWavRecorderStats> {
    return {
      bytesWritten: this.dataBytesWritten,
      pendingWriteBytes: this.pendingWriteBytes,
      peakPendingWriteBytes: this.counters.peakPendingWriteBytes,
      pendingAgentBytes: this.pendingAgentBytes,
      peakPendingAgentBytes: this.counters.peakPendingAgentBytes,
      windowBytes: this.window.byteLength,
      committedMs: this.base / SAMPLES_PER_MS,
      droppedLateFrames: this.counters.droppedLateFrames,
      droppedLateSamples: this.counters.droppedLateSamples,
      cutAgentSamples: this.counters.cutAgentSamples,
      droppedAgentSamples: this.counters.droppedAgentSamples,
      overflowSamples: this.counters.overflowSamples,
      invalidWrites: this.counters.invalidWrites,
      headerPatches: this.counters.headerPatches,
      error: this.counters.error,
    };
  }

  /** Caller audio (mu-law 8 kHz) whose first sample was captured at stream offset atMs. Never throws. */
  writeCaller(mulaw: Uint8Array, atMs: number): void {
    if (this.closing) return;
    if (!(mulaw instanceof Uint8Array) || !isValidAtMs(atMs)) {
      this.counters.invalidWrites++;
      return;
    }
    let start = Math.round(atMs * SAMPLES_PER_MS);
    let data = mulaw;
    if (start < this.base) {
      const late = Math.min(this.base - start, data.length);
      this.counters.droppedLateFrames++;
      this.counters.droppedLateSamples += late;
      data = data.subarray(late);
      start = this.base;
    }
    if (start + data.length > MAX_FRAMES) {
      this.counters.invalidWrites++;
      return;
    }
    if (data.length <= this.chunkFrames) {
      this.placeCaller(data, start); // the usual 20 ms frame: no view allocated
    } else {
      // Pieces no larger than one chunk always fit the window once older audio is committed.
      for (let offset = 0; offset < data.length; offset += this.chunkFrames) {
        const piece = data.subarray(offset, Math.min(data.length, offset + this.chunkFrames));
        this.placeCaller(piece, start + offset);
      }
    }
    while (this.callerEnd - this.base >= this.capacityFrames) this.commitTo(this.base + this.chunkFrames);
  }

  /** Agent audio (mu-law 8 kHz) scheduled to start playing at stream offset atMs. Never throws. */
  writeAgent(mulaw: Uint8Array, atMs: number): void {
    if (this.closing) return;
    if (!(mulaw instanceof Uint8Array) || !isValidAtMs(atMs)) {
      this.counters.invalidWrites++;
      return;
    }
    let start = Math.round(atMs * SAMPLES_PER_MS);
    let skip = 0;
    if (start < this.base) {
      skip = Math.min(this.base - start, mulaw.length);
      this.counters.droppedLateFrames++;
      this.counters.droppedLateSamples += skip;
      start = this.base;
    }
    let length = mulaw.length - skip;
    if (start + length > MAX_FRAMES) {
      this.counters.invalidWrites++;
      return;
    }
    const horizon = Math.max(this.base, this.callerEnd) + this.maxAgentLookaheadFrames;
    if (start + length > horizon) {
      const allowed = Math.max(0, horizon - start);
      this.counters.droppedAgentSamples += length - allowed;
      length = allowed;
    }
    if (length <= 0) return;
    // A copy (the caller may reuse its memory: a frame ring), in the thread's shared pages; released
    // once written or cut.
    const data = agentPages.copy(mulaw, skip, skip + length);
    const segment: AgentSegment = { start, end: start + length, data };
    const segments = this.agentSegments;
    let index = segments.length;
    while (index > 0 && segments[index - 1].start > start) index--;
    if (index === segments.length) segments.push(segment);
    else segments.splice(index, 0, segment);
    this.pendingAgentBytes += length;
    if (this.pendingAgentBytes > this.counters.peakPendingAgentBytes) {
      this.counters.peakPendingAgentBytes = this.pendingAgentBytes;
    }
  }

  /** Barge-in: drops agent audio scheduled to play at or after atMs. Audio already written stays. */
  cutAgentAfter(atMs: number): void {
    if (this.closing) return;
    if (!isValidAtMs(atMs)) {
      this.counters.invalidWrites++;
      return;
    }
    this.cutAgentAt(Math.max(this.base, Math.round(atMs * SAMPLES_PER_MS)), true);
  }

  /** Resolves once everything handed to the writer is on disk (header patched per the interval). */
  async drain(): Promise<void> {
    this.flushBlock();
    while (this.pumping !== null) await this.pumping;
  }

  /**
   * Ends the recording: commits the audio up to endMs (default: the caller clock, extended to the end of agent
   * audio that had started by then), pads with silence to endMs, drops anything scheduled after it, writes
   * the final header and closes the file. Idempotent; later writes are ignored. Resolves even after a disk
   * error (see `error`).
   */
  close(endMs?: number): Promise<StereoWavRecorderResult> {
    if (this.closePromise === null) this.closePromise = this.finish(endMs);
    return this.closePromise;
  }

  private async finish(endMs: number | undefined): Promise<StereoWavRecorderResult> {
    this.closing = true;
    let endFrame: number;
    if (endMs !== undefined && isValidAtMs(endMs)) {
      endFrame = Math.max(this.base, Math.round(endMs * SAMPLES_PER_MS));
    } else {
      if (endMs !== undefined) this.counters.invalidWrites++;
      const now = Math.max(this.base, this.callerEnd);
      endFrame = now;
      for (const segment of this.agentSegments) {
        if (segment.start < now && segment.end > endFrame) endFrame = segment.end;
      }
    }
    endFrame = Math.min(endFrame, MAX_FRAMES);
    this.cutAgentAt(endFrame, false);
    if (this.callerEnd > endFrame) this.callerEnd = endFrame;
    this.commitTo(endFrame);
    await this.drain();
    for (const segment of this.agentSegments) agentPages.release(segment.data);
    this.agentSegments = [];
    this.window = new Uint8Array(0);
    await this.opened.catch(() => undefined);
    if (!this.failed) {
      try {
        await this.writeHeader();
      } catch (err) {
        this.fail(err);
      }
    }
    const handle = await this.opened.catch(() => null);
    if (handle !== null) {
      try {
        await handle.close();
      } catch (err) {
        this.fail(err);
      }
    }
    const result: StereoWavRecorderResult = {
      durationMs: this.dataBytesWritten / FRAME_BYTES / SAMPLES_PER_MS,
      sizeBytes: WAV_HEADER_BYTES + this.dataBytesWritten,
      path: this.path,
      sampleRateHz: RECORDING_SAMPLE_RATE_HZ,
      channels: RECORDING_CHANNELS,
      created: handle !== null,
    };
    if (this.counters.error !== null) result.error = this.counters.error;
    return result;
  }

  private placeCaller(piece: Uint8Array, start: number): void {
    const end = start + piece.length;
    if (end > this.base + this.capacityFrames) this.commitTo(end - this.capacityFrames);
    this.window.set(piece, start - this.base);
    if (end > this.callerEnd) this.callerEnd = end;
  }

  private cutAgentAt(cutFrame: number, countAsCut: boolean): void {
    const kept: AgentSegment[] = [];
    let removed = 0;
    for (const segment of this.agentSegments) {
      if (segment.start >= cutFrame) {
        removed += segment.end - Math.max(segment.start, this.base);
        agentPages.release(segment.data);
      } else {
        if (segment.end > cutFrame) {
          removed += segment.end - cutFrame;
          segment.data = segment.data.subarray(0, cutFrame - segment.start);
          segment.end = cutFrame;
        }
        kept.push(segment);
      }
    }
    this.agentSegments = kept;
    this.pendingAgentBytes -= removed;
    if (countAsCut) this.counters.cutAgentSamples += removed;
  }

  /** Hands frames [base, target) to the writer: caller window left, agent segments right. */
  private commitTo(target: number): void {
    while (this.base < target) {
      const segments = this.agentSegments;
      if (this.callerEnd <= this.base) {
        // No caller audio ahead: the window is all silence. Skip to the next agent audio in one silent step.
        const nextAgent = segments.length > 0 ? segments[0].start : Number.POSITIVE_INFINITY;
        const silentEnd = Math.min(target, nextAgent);
        if (silentEnd > this.base) {
          this.flushBlock();
          this.enqueue((silentEnd - this.base) * FRAME_BYTES);
          this.base = silentEnd;
          continue;
        }
      }
      const frames = Math.min(this.chunkFrames, target - this.base, this.blockCapacityFrames - this.blockFrames);
      const chunkEnd = this.base + frames;
      if (this.block === null) this.block = this.takeBlock();
      const pcm = this.block;
      const at = 2 * this.blockFrames; // pcm index of frame `base`
      const window = this.window;
      const callerFrames = Math.min(frames, Math.max(0, this.callerEnd - this.base));
      const table = MULAW_DECODE_TABLE;
      for (let i = 0; i < callerFrames; i++) pcm[at + 2 * i] = table[window[i]];
      let consumedBytes = 0;
      let finished = 0;
      for (const segment of segments) {
        if (segment.start >= chunkEnd) break;
        const from = Math.max(segment.start, this.base);
        const to = Math.min(segment.end, chunkEnd);
        const data = segment.data;
        for (let t = from; t < to; t++) pcm[at + 2 * (t - this.base) + 1] = table[data[t - segment.start]];
        if (to > from) consumedBytes += to - from;
        if (segment.end <= chunkEnd) finished++;
      }
      if (finished > 0) {
        this.agentSegments = segments.filter((segment) => {
          if (segment.end > chunkEnd) return true;
          agentPages.release(segment.data);
          return false;
        });
      }
      this.pendingAgentBytes -= consumedBytes;
      // Slide the window: keep the caller audio after this chunk, silence the vacated tail.
      const filled = Math.min(this.capacityFrames, Math.max(0, this.callerEnd - this.base));
      if (filled > frames) window.copyWithin(0, frames, filled);
      window.fill(MULAW_SILENCE, Math.max(0, filled - frames), filled);
      this.base = chunkEnd;
      this.blockFrames += frames;
      if (this.blockFrames >= this.blockCapacityFrames) this.flushBlock();
    }
  }

  /**
   * A zeroed block (commitTo writes only the samples it has: the rest is silence). Written blocks are
   * reused through the thread's pool, not allocated once per flushMs (32 KB a second: at 100 calls
   * 3.2 MB/s of ArrayBuffers, which V8 counts towards its next full GC; docs/benchmarks/bridge.md,
   * "What starts the main thread's full GCs"), and not kept per recorder either (src/audio/block-pool).
   */
  private takeBlock(): Int16Array {
    return recorderBlocks.take(this.blockCapacityFrames * 2);
  }

  /** A block's bytes are on disk (or were dropped): its memory goes back to the pool. */
  private releaseBlock(bytes: Buffer): void {
    if (bytes.byteOffset !== 0 || bytes.buffer.byteLength !== this.blockCapacityFrames * FRAME_BYTES) return;
    recorderBlocks.give(new Int16Array(bytes.buffer, 0, this.blockCapacityFrames * 2));
  }

  /** Hands the staged block (its filled part) to the disk writer. */
  private flushBlock(): void {
    const block = this.block;
    if (block === null || this.blockFrames === 0) return;
    const bytes = Buffer.from(block.buffer, block.byteOffset, this.blockFrames * FRAME_BYTES);
    this.block = null;
    this.blockFrames = 0;
    this.enqueue(LITTLE_ENDIAN ? bytes : bytes.swap16()); // WAV samples are little-endian
  }

  private enqueue(op: WriteOp): void {
    const bytes = typeof op === 'number' ? op : op.length;
    if (this.failed) return;
    let queued: WriteOp = op;
    if (typeof op !== 'number' && this.pendingWriteBytes + bytes > this.maxPendingWriteBytes) {
      this.counters.overflowSamples += bytes / FRAME_BYTES;
      queued = bytes;
      this.releaseBlock(op);
    }
    const last = this.queue.length > 0 ? this.queue[this.queue.length - 1] : undefined;
    if (typeof queued === 'number' && typeof last === 'number') {
      this.queue[this.queue.length - 1] = last + queued;
    } else {
      this.queue.push(queued);
    }
    if (typeof queued !== 'number') {
      this.pendingWriteBytes += bytes;
      if (this.pendingWriteBytes > this.counters.peakPendingWriteBytes) {
        this.counters.peakPendingWriteBytes = this.pendingWriteBytes;
      }
    }
    this.startPump();
  }

  /**
   * Starts the writer unless it runs. With syncWrites a pump can finish within the call that started
   * it, and ops queued before its promise settles would wait for the next one: they start it again.
   */
  private startPump(): void {
    if (this.pumping !== null) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      if (this.queue.length > 0 && !this.failed) this.startPump();
    });
  }

  /** The single disk writer: appends queued ops in order and patches the header. Never rejects. */
  private async pump(): Promise<void> {
    try {
      const handle = this.handle ?? (await this.opened);
      while (this.queue.length > 0 && !this.failed) {
        const op = this.queue[0];
        let bytes = typeof op === 'number' ? op : op.length;
        if (this.dataBytesWritten + bytes > MAX_DATA_BYTES) bytes = MAX_DATA_BYTES - this.dataBytesWritten;
        const position = WAV_HEADER_BYTES + this.dataBytesWritten;
        const sync = this.syncWrites && syncWritesAllowed();
        if (typeof op === 'number') {
          // Silence: extending the file fills it with zeros (sparse on most file systems).
          if (sync) timedSyncWrite(() => fs.ftruncateSync(handle.fd, position + bytes));
          else await handle.truncate(position + bytes);
        } else {
          let done = 0;
          while (done < bytes) {
            const bytesWritten = sync
              ? timedSyncWrite(() => fs.writeSync(handle.fd, op, done, bytes - done, position + done))
              : (await handle.write(op, done, bytes - done, position + done)).bytesWritten;
            if (bytesWritten <= 0) throw new Error('recording write made no progress');
            done += bytesWritten;
          }
          this.pendingWriteBytes -= op.length;
          this.releaseBlock(op);
        }
        this.queue.shift();
        this.dataBytesWritten += bytes;
        const nowMs = Date.now();
        if (
          this.dataBytesWritten !== this.patchedDataBytes &&
          nowMs - this.lastPatchAtMs >= this.headerPatchIntervalMs
        ) {
          await this.writeHeader();
          this.lastPatchAtMs = nowMs;
          this.counters.headerPatches++;
        }
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private async writeHeader(): Promise<void> {
    const dataBytes = this.dataBytesWritten;
    writeWavHeader(this.headerScratch, {
      sampleRateHz: RECORDING_SAMPLE_RATE_HZ,
      channels: RECORDING_CHANNELS,
      bitsPerSample: RECORDING_BITS_PER_SAMPLE,
      dataBytes,
    });
    const handle = this.handle ?? (await this.opened);
    if (this.syncWrites && syncWritesAllowed())
      timedSyncWrite(() => fs.writeSync(handle.fd, this.headerScratch, 0, WAV_HEADER_BYTES, 0));
    else await handle.write(this.headerScratch, 0, WAV_HEADER_BYTES, 0);
    this.patchedDataBytes = dataBytes;
  }

  private fail(err: unknown): void {
    if (this.counters.error === null) this.counters.error = err instanceof Error ? err : new Error(String(err));
    this.failed = true;
    this.block = null;
    this.blockFrames = 0;
    this.queue.length = 0;
    this.pendingWriteBytes = 0;
  }
}
