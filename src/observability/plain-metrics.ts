/**
 * Per-frame metrics as plain numbers, folded into prom-client at scrape time. prom-client's own `inc` and
 * `observe` allocate on every call (label objects, a closure, the label hash string): at 50 frames a
 * second per direction per call that is garbage the GC must collect while calls run. These count in
 * numbers only; the prom-client metric reads them in its `collect()`, so the exposition is unchanged.
 */
import type { Counter, Histogram } from 'prom-client';

/** A monotonic count: `inc` adds, nothing else happens until a scrape reads `value`. */
export class PlainCounter {
  value = 0;
  inc(amount = 1): void {
    this.value += amount;
  }
}

/** Histogram counts for fixed upper bounds (prom-client's `le`: a value equal to a bound falls in it). */
export class PlainHistogram {
  /** Non-cumulative count per bound; values above the last bound are only in `count`. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        this.counts[i]++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

/** For a Counter's `collect()`: sets it to the plain count. */
export function foldCounter(target: Counter, source: PlainCounter): void {
  target.reset();
  target.inc(source.value);
}

interface HistogramEntry {
  labels: Record<string, string | number>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * For a Histogram's `collect()`: replaces its values with the plain ones, one labelled series each. Uses
 * the public `zero()` to create each series, then fills the entry prom-client exports from.
 */
export function foldHistogram<L extends string>(
  target: Histogram<L>,
  label: L,
  sources: ReadonlyArray<readonly [string, PlainHistogram]>,
): void {
  target.reset();
  for (const [value] of sources) target.zero({ [label]: value } as Partial<Record<L, string>>);
  const entries = Object.values((target as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap);
  for (const [value, source] of sources) {
    const entry = entries.find((e) => e.labels[label] === value);
    if (entry === undefined) continue;
    source.bounds.forEach((bound, i) => {
      entry.bucketValues[bound] = source.counts[i];
    });
    entry.sum = source.sum;
    entry.count = source.count;
  }
}
