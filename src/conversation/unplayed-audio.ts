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
 */
const MAX_CHUNKS = 128;

export class UnplayedAudio {
  private ring: Buffer | undefined;
  private writeAt = 0;
  private offsets: Int32Array | undefined;
  private lengths: Int32Array | undefined;
  private playAt: Float64Array | undefined;
  private endAt: Float64Array | undefined;
  /** Index of the oldest chunk, and how many are kept. */
  private head = 0;
  private count = 0;

  /** capacityBytes: room for the longest stretch kept, plus a chunk or two for the ring's wrap. */
  constructor(private readonly capacityBytes: number) {}

  get chunks(): number {
    return this.count;
  }

  /** Forgets the chunks that end at or before call time nowMs. */
  dropPlayed(nowMs: number): void {
    while (this.count > 0 && this.endAt![this.head] <= nowMs) this.dropOldest();
  }

  /** Keeps a copy of chunk, which plays from playAtMs to endMs. */
  add(chunk: Uint8Array, playAtMs: number, endMs: number): void {
    const length = chunk.length;
    if (length === 0 || length > this.capacityBytes) return;
    if (!this.ring) {
      this.ring = Buffer.allocUnsafeSlow(this.capacityBytes);
      this.offsets = new Int32Array(MAX_CHUNKS);
      this.lengths = new Int32Array(MAX_CHUNKS);
      this.playAt = new Float64Array(MAX_CHUNKS);
      this.endAt = new Float64Array(MAX_CHUNKS);
    }
    if (this.writeAt + length > this.capacityBytes) this.writeAt = 0;
    // The bytes just after the write position belong to the oldest chunks: free what the new one needs.
    while (this.count > 0 && this.overlapsOldest(this.writeAt, length)) this.dropOldest();
    if (this.count === MAX_CHUNKS) this.dropOldest();
    this.ring.set(chunk, this.writeAt);
    const slot = (this.head + this.count) % MAX_CHUNKS;
    this.offsets![slot] = this.writeAt;
    this.lengths![slot] = length;
    this.playAt![slot] = playAtMs;
    this.endAt![slot] = endMs;
    this.count++;
    this.writeAt += length;
  }

  /** Forgets everything (a barge-in cleared the channel). The ring is kept for the next answer. */
  clear(): void {
    this.head = 0;
    this.count = 0;
    this.writeAt = 0;
  }

  /** Copies of the chunks that still play from call time nowMs on, oldest first. */
  from(nowMs: number): { chunk: Buffer; playAtMs: number }[] {
    const out: { chunk: Buffer; playAtMs: number }[] = [];
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) % MAX_CHUNKS;
      if (this.endAt![slot] <= nowMs) continue;
      const offset = this.offsets![slot];
      out.push({ chunk: Buffer.from(this.ring!.subarray(offset, offset + this.lengths![slot])), playAtMs: this.playAt![slot] });
    }
    return out;
  }

  private overlapsOldest(start: number, length: number): boolean {
    const offset = this.offsets![this.head];
    return offset < start + length && start < offset + this.lengths![this.head];
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
