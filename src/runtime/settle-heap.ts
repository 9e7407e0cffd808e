/**
 * One full garbage collection when a thread has finished starting, before it takes any call.
 *
 * Until an isolate's first mark-compact, V8 holds its old generation to a start-up limit that it
 * only lowers from the survival rate of scavenges; a server starts well under it (module loading does
 * not reach it), so the first mark-compact came only under load, ~40 s into a 100-call run, with the
 * main thread's old space at 38 MB (23 MB live after it) and 11 MB of dead array buffers (promoted
 * frames' memory) waiting with it. After a first mark-compact V8 sets the limit from the live size
 * and the collector's measured speed, and the following ones came every ~10 s at 24-27 MB. Settling
 * the heap at start (a 10-25 ms pause with no call up) gives that steady state from the first call on:
 * 100 calls peaked at 122 MB instead of 138-142 MB, 270 KB per added call instead of 430-459 KB, p99
 * and CPU within the runs' spread (docs/benchmarks/bridge.md, "The heap settled at start").
 *
 * How far the old generation may grow before the next mark-compact is V8's growing factor, which it
 * works out at each mark-compact from how fast the collector is against the program (the mutator).
 * At start the program has done nothing for a while, and V8 picked 2.2-3.1x the live heap: the first
 * mark-compact under load then came at 36-51 MB of old space instead of the 33-35 MB of every later
 * one, and the pages it grew into stay (no memory reducer), which was the 151-161 MB peak of one
 * 100-call run in four to eight (docs/benchmarks/bridge.md, "Change 2: the old generation's first
 * limit after the settle"). With
 * `firstGrowthPercent` the limit this collection sets is that much over the live heap (V8's
 * `--heap-growing-percent` for this one collection, then back to V8's own factor): the first
 * mark-compact under load comes early, with the program's real speed, and V8 sizes from there. Left
 * alone when the process was started with its own growing setting.
 *
 * V8 gives a script its `gc()` only in a context made while `--expose-gc` is set; the flag is set for
 * the one context made here and unset at once, so no later context (a worker's, a `vm` sandbox) gets
 * a `gc` global (the way jest's leak detector reaches it).
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export interface HeapSettled {
  /** How long the collection held the thread. */
  ms: number;
  /** Heap in use before and after (bytes). */
  usedBefore: number;
  usedAfter: number;
}

let gcFunction: (() => void) | undefined;

function fullGc(): () => void {
  if (!gcFunction) {
    v8.setFlagsFromString('--expose-gc');
    try {
      gcFunction = vm.runInNewContext('gc') as () => void;
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  }
  return gcFunction;
}

/** V8 options that set the growing factor themselves: then the process's own setting stands. */
const OWN_GROWTH = /--(heap[-_]growing[-_]percent|optimize[-_]for[-_]size)\b/;

/** True when the process was started with its own heap growing setting (node options or NODE_OPTIONS). */
function hasOwnGrowthSetting(): boolean {
  return [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => OWN_GROWTH.test(a));
}

/** The server's first limit after the settle: 1.5x the live heap (V8's later factors under load: ~1.3x). */
export const FIRST_GROWTH_PERCENT = 50;

export interface SettleOptions {
  /** The old generation's next limit: this many percent over the live heap (see above). */
  firstGrowthPercent?: number;
}

/** Runs a full, blocking garbage collection of this thread's heap now. Call it before taking traffic. */
export function settleHeap(options: SettleOptions = {}): HeapSettled {
  const gc = fullGc();
  const usedBefore = v8.getHeapStatistics().used_heap_size;
  const growth = options.firstGrowthPercent;
  const capped = growth !== undefined && growth > 0 && !hasOwnGrowthSetting();
  const started = process.hrtime.bigint();
  if (capped) v8.setFlagsFromString(`--heap-growing-percent=${Math.round(growth)}`);
  try {
    gc();
  } finally {
    // 0: V8 works the factor out again at every later mark-compact.
    if (capped) v8.setFlagsFromString('--heap-growing-percent=0');
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { ms, usedBefore, usedAfter: v8.getHeapStatistics().used_heap_size };
}
