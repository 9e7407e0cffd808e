/**
 * LatencyRecorder: exact-enough latency percentiles for benchmarks, at O(1) per observation and
 * constant memory. Values are counted in 1 µs bins up to `rangeMs` (default 100 ms: 100,000 bins,
 * 400 KB); larger values land in one overflow count and still update `max`. Percentiles are
 * therefore exact to 1 µs below the range, and `max` is exact.
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

export class LatencyRecorder {
  private readonly bins: Uint32Array;
  private readonly maxBin: number;
  private overflow = 0;
  private count = 0;
  private sumMs = 0;
  private maxMs = 0;

  constructor(rangeMs = 100) {
    if (!(rangeMs > 0) || rangeMs > 10_000) throw new RangeError('rangeMs must be in (0, 10000]');
    this.maxBin = Math.ceil(rangeMs * BINS_PER_MS);
    this.bins = new Uint32Array(this.maxBin);
  }

  /** One observation in milliseconds (negative and non-finite values are ignored). */
  observe(ms: number): void {
    if (!(ms >= 0) || ms === Infinity) return;
    const bin = Math.floor(ms * BINS_PER_MS);
    if (bin < this.maxBin) this.bins[bin]++;
    else this.overflow++;
    this.count++;
    this.sumMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** The value at percentile p (0..100), in ms: the upper edge of its 1 µs bin (or max when above range). */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.maxBin; i++) {
      seen += this.bins[i];
      if (seen >= rank) return Math.min(this.maxMs, (i + 1) / BINS_PER_MS);
    }
    return this.maxMs;
  }

  snapshot(): LatencySnapshot {
    return {
      count: this.count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.maxMs,
      mean: this.count ? this.sumMs / this.count : 0,
    };
  }

  reset(): void {
    this.bins.fill(0);
    this.overflow = 0;
    this.count = 0;
    this.sumMs = 0;
    this.maxMs = 0;
  }
}
