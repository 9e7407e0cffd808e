/**
 * Spare PCM blocks shared by every recorder of a thread. A recorder stages one block (`flushMs` of
 * interleaved stereo, 32 KB a second at 8 kHz) while the previous one is on its way to the disk;
 * once written, that block's memory is reused for a later block instead of being collected.
 *
 * Each recorder used to keep its own spare: two blocks per call for the whole call, 64 KB, most of
 * it idle (a write takes milliseconds of each second). Shared, a thread holds one block per call
 * plus the few spares that the writes in flight at one moment need, capped here; a recording at
 * 100 calls is ~3 MB smaller (docs/benchmarks/bridge.md, "Garbage, socket writes and per-call
 * memory on the main thread").
 */
export class BlockPool {
  private readonly free = new Map<number, Int16Array[]>();

  constructor(private readonly maxSparePerSize: number) {}

  /** A zeroed block of `samples` samples: a spare when there is one. */
  take(samples: number): Int16Array {
    const spare = this.free.get(samples)?.pop();
    return spare ? spare.fill(0) : new Int16Array(samples);
  }

  /** A block no longer in use; kept for a later take() unless enough are kept already. */
  give(block: Int16Array): void {
    let list = this.free.get(block.length);
    if (!list) this.free.set(block.length, (list = []));
    if (list.length < this.maxSparePerSize && !list.includes(block)) list.push(block);
  }

  /** Spare blocks kept now. */
  get spares(): number {
    let n = 0;
    for (const list of this.free.values()) n += list.length;
    return n;
  }
}

/** The pool of this thread's recorders. */
export const recorderBlocks = new BlockPool(16);
