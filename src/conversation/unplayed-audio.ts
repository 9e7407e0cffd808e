/**
 * Agent audio already sent to the caller's channel that the call's clock has not reached yet, kept
 * so that a supervisor who starts listening mid-answer hears the rest of it (listen-routes).
 *
 * One byte ring per call, made at the first agent audio, and the chunks' places in typed arrays:
 * nothing per chunk is retained. Keeping the chunks themselves (views into the decoded engine
 * audio) pinned an 8 KB Buffer-pool slab each, ~46 KB per speaking call at 100 calls, and every
 * chunk outlived two scavenges, so it was promoted and had to be collected by a full GC (heap
 * snapshot and GC trace in docs/benchmarks/bridge.md, "Garbage, socket writes and per-call memory
 * on the main thread").
 *
 * Chunks go in the order they play; the ring drops the oldest when a new chunk needs its bytes, so
 * its size bounds what is kept, as the time limit does.
 *
 * The ring is leased from a pool shared by the thread's calls only while the call has unplayed
 * audio (an answer is playing) and goes back when the channel has played it all, at a barge-in and
 * at the end of the call: memory follows the calls that are speaking, and an ended call's ring
 * serves the next call instead of waiting, promoted, for a full GC. A heap snapshot at 100 calls
 * had these rings as 2.8 of the main thread's 4.6 MB of array buffers (docs/benchmarks/bridge.md,
 * "Listener rings leased while an answer plays"). A lease starts empty: a ring's previous holder
 * is never read (only chunks this holder wrote are).
 */
import { SparePool } from '../audio/block-pool';

export const MAX_CHUNKS = 128;
/**
 * Spare rings kept per size for the next answer (beyond it a returned ring is left to the GC): the
 * pool settles at the most calls that spoke at once, up to this (~7 MB of 8 kHz rings). A bound
 * below the calls speaking at once makes rings churn: with 32, a burst of 100 calls made 244 rings
 * instead of 100, and its p99 was worse in 5 runs of 5 (docs/benchmarks/bridge.md).
 */
export const MAX_SPARE_RINGS = 256;

/** A ring and the places of its chunks (all reused together). */
interface Lease {
  ring: Buffer;
  offsets: Int32Array;
  lengths: Int32Array;
  playAt: Float64Array;
  endAt: Float64Array;
}

/** Spare leases by ring size (one size per audio format in practice). */
const spare = new SparePool<Lease>(MAX_SPARE_RINGS);

function lease(capacityBytes: number): Lease {
  return (
    spare.take(capacityBytes) ?? {
      ring: Buffer.allocUnsafeSlow(capacityBytes),
      offsets: new Int32Array(MAX_CHUNKS),
      lengths: new Int32Array(MAX_CHUNKS),
      playAt: new Float64Array(MAX_CHUNKS),
      endAt: new Float64Array(MAX_CHUNKS),
    }
  );
}

/** Spare rings of this size (for tests and diagnostics). */
export function spareRings(capacityBytes: number): number {
  return spare.spares(capacityBytes);
}

export class UnplayedAudio {
  private held: Lease | undefined;
  private writeAt = 0;
  /** Index of the oldest chunk, and how many are kept. */
  private head = 0;
  private count = 0;

  /** capacityBytes: room for the longest stretch kept, plus a chunk or two for the ring's wrap. */
  constructor(private readonly capacityBytes: number) {}

  get chunks(): number {
    return this.count;
  }

  /** True while a ring is leased (the call has unplayed audio). */
  get holdsRing(): boolean {
    return this.held !== undefined;
  }

  /** Forgets the chunks that end at or before call time nowMs; the ring goes back once none is left. */
  dropPlayed(nowMs: number): void {
    const l = this.held;
    if (!l) return;
    while (this.count > 0 && l.endAt[this.head] <= nowMs) this.dropOldest();
    if (this.count === 0) this.release();
  }

  /** Keeps a copy of chunk, which plays from playAtMs to endMs. */
  add(chunk: Uint8Array, playAtMs: number, endMs: number): void {
    const length = chunk.length;
    if (length === 0 || length > this.capacityBytes) return;
    const l = (this.held ??= lease(this.capacityBytes));
    if (this.writeAt + length > this.capacityBytes) this.writeAt = 0;
    // The bytes just after the write position belong to the oldest chunks: free what the new one needs.
    while (this.count > 0 && this.overlapsOldest(l, this.writeAt, length)) this.dropOldest();
    if (this.count === MAX_CHUNKS) this.dropOldest();
    l.ring.set(chunk, this.writeAt);
    const slot = (this.head + this.count) % MAX_CHUNKS;
    l.offsets[slot] = this.writeAt;
    l.lengths[slot] = length;
    l.playAt[slot] = playAtMs;
    l.endAt[slot] = endMs;
    this.count++;
    this.writeAt += length;
  }

  /** Forgets everything (a barge-in cleared the channel, or the call ended); the ring goes back. */
  clear(): void {
    this.head = 0;
    this.count = 0;
    this.writeAt = 0;
    this.release();
  }

  /** Copies of the chunks that still play from call time nowMs on, oldest first. */
  from(nowMs: number): { chunk: Buffer; playAtMs: number }[] {
    const out: { chunk: Buffer; playAtMs: number }[] = [];
    const l = this.held;
    if (!l) return out;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) % MAX_CHUNKS;
      if (l.endAt[slot] <= nowMs) continue;
      const offset = l.offsets[slot];
      out.push({ chunk: Buffer.from(l.ring.subarray(offset, offset + l.lengths[slot])), playAtMs: l.playAt[slot] });
    }
    return out;
  }

  private release(): void {
    if (!this.held) return;
    spare.give(this.held.ring.length, this.held);
    this.held = undefined;
  }

  private overlapsOldest(l: Lease, start: number, length: number): boolean {
    const offset = l.offsets[this.head];
    return offset < start + length && start < offset + l.lengths[this.head];
  }

  private dropOldest(): void {
    this.head = (this.head + 1) % MAX_CHUNKS;
    this.count--;
    if (this.count === 0) {
      this.head = 0;
      this.writeAt = 0;
    }
  }
}
