/**
 * The order in which one run of the bench measures its servers (Switchboard and --compare-js or
 * --compare-dir). Measured back to back, the second server of a pair did worse than the first
 * whichever it was: in nine pairs (two trees in both orders, and one tree against itself) the
 * second's up p99 was higher in 7 (median +1.8 ms), its down p99 in 7 (+2.3 ms)
 * (docs/benchmarks/bridge.md, "Which server goes first in a pair"). So by
 * default the order alternates from one run to the next — A B, then B A, then A B — and over an
 * even number of runs each server goes first as often as the other, so the pair-by-pair median
 * does not carry the order. `fixed` keeps A B in every run (the bench before 2026-12-06).
 */
export function runOrder(run: number, servers: number, fixed = false): number[] {
  const order = Array.from({ length: servers }, (_, i) => i);
  return !fixed && run % 2 === 1 ? order.reverse() : order;
}

/** How the report says it: "Switchboard and then the relay" or alternating. */
export function orderNote(labels: readonly string[], fixed: boolean): string {
  if (labels.length < 2) return '';
  return fixed
    ? `each run measures ${labels[0]} and then ${labels[1]}, back to back`
    : `each run measures both back to back, ${labels[0]} first in runs 1, 3, 5…, ${labels[1]} first in runs 2, 4, 6…`;
}
