/**
 * How the server process is run in production (`npm start`, package.json) and in the benchmark:
 * - `--max-semi-space-size=2`: V8's young generation at 2 MB a semi-space instead of Node 20's 16 MB
 *   (the main thread's new space grew to 3 x 16 MB under 100 calls, and each worker thread has its
 *   own). Burst of 100 calls: peak RSS 228 -> 175 MB with no measurable CPU or latency cost
 *   (docs/benchmarks/bridge.md, "Memory"). V8 sizes a heap when it starts, so this can only be a
 *   command-line option, not code.
 * - `--no-memory-reducer`: V8's memory reducer runs up to three compacting full GCs whenever allocation
 *   slows down (8 s after start, and whenever calls thin out). With one call up they paused the main
 *   thread 10-26 ms each, stalls the remaining callers hear; the server is sized for its peak, which
 *   the reducer does not lower (it only runs when the heap is quiet). docs/benchmarks/bridge.md,
 *   "The memory reducer".
 * - `--no-parallel-scavenge`: young-generation GCs on the main thread alone instead of with V8's
 *   helper threads. A 2 MB young generation takes ~0.6 ms to scavenge; handing it to helpers costs
 *   more in wake-ups and synchronisation than it saves, and when the other cores are busy the main
 *   thread waits for helpers that are not running. Burst of 100 calls, alternating runs: scavenge
 *   time -20 %, CPU per call-second -8 to -13 %, lower caller-side p99 (docs/benchmarks/bridge.md,
 *   "Scavenges without helper threads").
 * - `MALLOC_ARENA_MAX=2`, `MALLOC_TRIM_THRESHOLD_=131072` (glibc; ignored elsewhere): fewer malloc
 *   arenas for the process's threads and freed memory given back sooner: -15 to -20 MB.
 * test/unit/server-runtime.test.ts keeps package.json's start script in step with these.
 */
export const SERVER_NODE_ARGS: readonly string[] = [
  '--max-semi-space-size=2',
  '--no-memory-reducer',
  '--no-parallel-scavenge',
];
export const SERVER_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/** The start script these settings make: `tsc -b ... && MALLOC_...=.. node <args> dist/src/main.js`. */
export function startScript(): string {
  const env = Object.entries(SERVER_ENV).map(([k, v]) => `${k}=${v}`);
  return ['tsc -b tsconfig.build.json &&', ...env, 'node', ...SERVER_NODE_ARGS, 'dist/src/main.js'].join(' ');
}
