/**
 * LatencyRecorder: exact-enough latency percentiles for benchmarks, at O(1) per observation. Values
 * are counted in 1 µs bins up to `rangeMs` (default 100 ms); larger values have no bin but still
 * count and update `max` (a percentile that falls among them is `max`). Percentiles are therefore
 * exact to 1 µs below the range, and `max` is exact.
 *
 * The bins live in pages of 1,024 (4 KB) made on first use, so memory follows the values seen, not
 * the range: a flat array for a 1 s range was 4 MB of RSS in every benchmark run, and zeroing it at
 * each scrape stalled the event loop for 13 ms in a CPU profile (docs/benchmarks/bridge.md). Reset
 * zeroes only the pages that were used; a percentile walks only pages that exist.
 *
 * Prometheus histograms only give bucketed percentiles; this fills the gap when
 * SWITCHBOARD_BENCH_METRICS=1 (see src/observability/metrics.ts and docs/benchmarks/bridge.md).
 */

export interface LatencySnapshot {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

const BINS_PER_MS = 1000;
const PAGE_BITS = 10;
const PAGE_SIZE = 1 << PAGE_BITS;

export class LatencyRecorder {
  /** Page i holds the counts of bins [i * 1024, (i + 1) * 1024); undefined until a value lands there. */
  private readonly pages: (Uint32Array | undefined)[];
  private readonly maxBin: number;
  private count = 0;
  private sumMs = 0;
  private maxMs = 0;

  constructor(rangeMs = 100) {
    if (!(rangeMs > 0) || rangeMs > 10_000) throw new RangeError('rangeMs must be in (0, 10000]');
    this.maxBin = Math.ceil(rangeMs * BINS_PER_MS);
    this.pages = new Array<Uint32Array | undefined>(Math.ceil(this.maxBin / PAGE_SIZE)).fill(undefined);
  }

  /** One observation in milliseconds (negative and non-finite values are ignored). */
  observe(ms: number): void {
    if (!(ms >= 0) || ms === Infinity) return;
    const bin = Math.floor(ms * BINS_PER_MS);
    if (bin < this.maxBin) {
      const index = bin >>> PAGE_BITS;
      const page = this.pages[index] ?? (this.pages[index] = new Uint32Array(PAGE_SIZE));
      page[bin & (PAGE_SIZE - 1)]++;
    }
    this.count++;
    this.sumMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** Bytes of bins allocated now (4 KB per page in use). */
  get binBytes(): number {
    let pages = 0;
    for (const page of this.pages) if (page) pages++;
    return pages * PAGE_SIZE * 4;
  }

  /** The value at percentile p (0..100), in ms: the upper edge of its 1 µs bin (or max when above range). */
  percentile(p: number): number {
    return this.percentiles([p])[0];
  }

  /** All percentiles in one walk over the pages (a /metrics scrape reads and resets every recorder). */
  snapshot(): LatencySnapshot {
    const [p50, p90, p99, p999] = this.percentiles([50, 90, 99, 99.9]);
    return { count: this.count, p50, p90, p99, p999, max: this.maxMs, mean: this.count ? this.sumMs / this.count : 0 };
  }

  /** Several percentiles (ascending) in one walk; each as percentile() gives it. */
  percentiles(ps: readonly number[]): number[] {
    const out = ps.map(() => (this.count === 0 ? 0 : this.maxMs));
    if (this.count === 0) return out;
    const ranks = ps.map((p) => Math.max(1, Math.ceil((p / 100) * this.count)));
    let next = 0;
    let seen = 0;
    for (let p = 0; p < this.pages.length && next < ranks.length; p++) {
      const page = this.pages[p];
      if (!page) continue;
      for (let i = 0; i < PAGE_SIZE && next < ranks.length; i++) {
        seen += page[i];
        while (next < ranks.length && seen >= ranks[next]) out[next++] = Math.min(this.maxMs, (p * PAGE_SIZE + i + 1) / BINS_PER_MS);
      }
    }
    return out;
  }

  reset(): void {
    for (const page of this.pages) page?.fill(0);
    this.count = 0;
    this.sumMs = 0;
    this.maxMs = 0;
  }
}
