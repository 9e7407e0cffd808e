/**
 * The memory a thread's recorders share instead of holding it per call: written PCM blocks
 * (BlockPool) and the agent audio waiting for the caller clock (SegmentPages, below); and the
 * free list by size that BlockPool and the listeners' rings (conversation/unplayed-audio.ts) keep
 * their spares in (SparePool).
 */
/** Spare objects of a thread by size, at most maxSparePerSize of each: reused instead of allocated again. */
export class SparePool<T> {
  private readonly free = new Map<number, T[]>();

  constructor(private readonly maxSparePerSize: number) {}

  /** A spare of this size, if one is kept. */
  take(size: number): T | undefined {
    return this.free.get(size)?.pop();
  }

  /** An item no longer in use; kept for a later take() unless enough are kept already. */
  give(size: number, item: T): void {
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    if (list.length < this.maxSparePerSize && !list.includes(item)) list.push(item);
  }

  /** Spares kept now, of one size or of all. */
  spares(size?: number): number {
    if (size !== undefined) return this.free.get(size)?.length ?? 0;
    let n = 0;
    for (const list of this.free.values()) n += list.length;
    return n;
  }
}

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
  private readonly pool: SparePool<Int16Array>;

  constructor(maxSparePerSize: number) {
    this.pool = new SparePool(maxSparePerSize);
  }

  /** A zeroed block of `samples` samples: a spare when there is one. */
  take(samples: number): Int16Array {
    const spare = this.pool.take(samples);
    return spare ? spare.fill(0) : new Int16Array(samples);
  }

  /** A block no longer in use; kept for a later take() unless enough are kept already. */
  give(block: Int16Array): void {
    this.pool.give(block.length, block);
  }

  /** Spare blocks kept now. */
  get spares(): number {
    return this.pool.spares();
  }
}

/** The pool of this thread's recorders. */
export const recorderBlocks = new BlockPool(16);

interface Page {
  bytes: Uint8Array;
  /** Bytes handed out from the start of the page. */
  used: number;
  /** Views handed out and not released yet. */
  live: number;
}

/**
 * Agent audio that a thread's recorders hold until the caller clock reaches it (a whole answer
 * arrives in well under its playing time), copied into shared pages instead of one allocation per
 * chunk. Copied one by one, the chunks lived for the seconds of their answer, were promoted, and
 * waited for a full GC that the recording thread (little JavaScript garbage) seldom runs: ~0.5 MB a
 * second of dead audio at 100 calls, ~13 MB of the thread's memory by the end of a run
 * (docs/benchmarks/bridge.md, "Per-call memory of a recording").
 *
 * A page serves chunks from its start on (any recorder's); it is reused once every view of it has
 * been released, so a recorder releases each view exactly once, when its audio has been written or
 * cut. A chunk larger than a page is copied on its own.
 */
export class SegmentPages {
  private current: Page | undefined;
  private readonly spare: Page[] = [];
  private readonly inUse = new Map<ArrayBufferLike, Page>();

  constructor(
    readonly pageBytes: number,
    private readonly maxSpare: number,
  ) {}

  /** A copy of src[from, to) in a page (valid until release()). */
  copy(src: Uint8Array, from: number, to: number): Uint8Array {
    const length = to - from;
    if (length > this.pageBytes) return Uint8Array.prototype.slice.call(src, from, to);
    let page = this.current;
    if (!page || page.used + length > this.pageBytes) {
      if (page) {
        this.current = undefined;
        this.retireIfFree(page);
      }
      page = this.spare.pop() ?? { bytes: new Uint8Array(this.pageBytes), used: 0, live: 0 };
      page.used = 0;
      page.live = 0;
      this.inUse.set(page.bytes.buffer, page);
      this.current = page;
    }
    const view = page.bytes.subarray(page.used, page.used + length);
    view.set(src.subarray(from, to));
    page.used += length;
    page.live++;
    return view;
  }

  /** The view's audio is no longer needed (a subarray of a view counts as the view). */
  release(view: Uint8Array): void {
    const page = this.inUse.get(view.buffer);
    if (!page || page.live === 0) return;
    page.live--;
    if (page === this.current) {
      if (page.live === 0) page.used = 0;
    } else {
      this.retireIfFree(page);
    }
  }

  /** Pages holding audio now, and spare ones. */
  get stats(): { inUse: number; spare: number } {
    return { inUse: this.inUse.size, spare: this.spare.length };
  }

  private retireIfFree(page: Page): void {
    if (page.live > 0) return;
    this.inUse.delete(page.bytes.buffer);
    if (this.spare.length < this.maxSpare) this.spare.push(page);
  }
}

/** This thread's agent look-ahead pages: 16 KB (2 s of audio) each, up to 64 spare (1 MB). */
export const agentPages = new SegmentPages(16 * 1024, 64);
