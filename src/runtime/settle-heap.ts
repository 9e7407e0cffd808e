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

/** Runs a full, blocking garbage collection of this thread's heap now. Call it before taking traffic. */
export function settleHeap(): HeapSettled {
  const gc = fullGc();
  const usedBefore = v8.getHeapStatistics().used_heap_size;
  const started = process.hrtime.bigint();
  gc();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { ms, usedBefore, usedAfter: v8.getHeapStatistics().used_heap_size };
}
