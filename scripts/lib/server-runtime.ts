/**
 * How the server process is run in production (`npm start`, package.json) and in the benchmark:
 * - `--max-semi-space-size=2`: V8's young generation at 2 MB a semi-space instead of Node 20's 16 MB
 *   (the main thread's new space grew to 3 x 16 MB under 100 calls, and each worker thread has its
 *   own). Burst of 100 calls: peak RSS 228 -> 175 MB with no measurable CPU or latency cost
 *   (docs/benchmarks/bridge.md, "Memory"). V8 sizes a heap when it starts, so this can only be a
 *   command-line option, not code. An instance sized for more calls sets SWITCHBOARD_SEMI_SPACE_MB
 *   (e.g. 8): at 400 calls the 2 MB young generation is scavenged every 10-25 ms, 1.7 s of the
 *   main thread's time in a 44 s run against 0.7 s at 8 MB, and p99 stays under 20 ms each way only
 *   with 8; at 100 calls 8 MB costs +20 to +25 MB of RSS (docs/benchmarks/bridge.md, "The young
 *   generation for 400 calls").
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
 * - `--v8-pool-size=1`: one V8 helper thread for the process instead of Node's four. A full GC's
 *   concurrent marking (35-55 ms of helper time in ~20 ms of wall time every ~10 s at 100 calls) ran
 *   on all four and took both cores of a 2-vCPU machine: the main thread, and on a shared machine
 *   the callers, waited for a core, and the late agent frames clustered there. Burst of 100 calls,
 *   three alternating pairs: downlink p99 8.8 / 8.5 / 6.0 -> 5.2 / 4.8 / 4.9 ms, max 17 -> 7-10 ms,
 *   CPU unchanged (docs/benchmarks/bridge.md, "Where the late frames were, and one GC helper thread").
 * - `--no-incremental-marking-task`: a full GC's marking is left to that helper thread (and to small
 *   steps as the main thread allocates) instead of V8 also posting marking steps to the main thread
 *   back to back as tasks. With the tasks, each full GC at 100 calls put 13-22 ms of marking on the
 *   main thread within ~30 ms (one step per turn of the event loop, "19 MB ahead of schedule"), a
 *   stretch in which every frame waited; without, 1-7 ms per GC, the marking taking 45-60 ms of wall
 *   time on the helper. Warm burst and churn of 100 calls, six alternating pairs: main-thread
 *   marking 127-187 -> 15-24 ms a run, uplink p99 median 7.0 -> 4.7 ms (burst) and 5.4 -> 4.7
 *   (churn), peak RSS +0-10 MB (docs/benchmarks/bridge.md, "Full GCs' marking off the main thread").
 * - `MALLOC_ARENA_MAX=2`, `MALLOC_TRIM_THRESHOLD_=131072` (glibc; ignored elsewhere): fewer malloc
 *   arenas for the process's threads and freed memory given back sooner: -15 to -20 MB.
 * test/unit/server-runtime.test.ts keeps package.json's start script in step with these.
 */
/** The environment variable that sets the young generation's semi-space (MB) for `npm start` and the bench. */
export const SEMI_SPACE_ENV = 'SWITCHBOARD_SEMI_SPACE_MB';
export const DEFAULT_SEMI_SPACE_MB = 2;

const OTHER_NODE_ARGS = [
  '--no-memory-reducer',
  '--no-parallel-scavenge',
  '--v8-pool-size=1',
  '--no-incremental-marking-task',
] as const;

/**
 * The server's node options with the semi-space from `env` (SWITCHBOARD_SEMI_SPACE_MB; unset or empty:
 * 2, as the start script's `${VAR:-2}`). A value that is not a whole number of MB from 1 to 256 throws
 * here; `npm start` passes it to node, which refuses to start with "bad option" on one it cannot read.
 */
export function serverNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env[SEMI_SPACE_ENV];
  let mb = DEFAULT_SEMI_SPACE_MB;
  if (raw !== undefined && raw !== '') {
    if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 256) {
      throw new RangeError(`${SEMI_SPACE_ENV} must be a whole number of MB from 1 to 256, not ${JSON.stringify(raw)}`);
    }
    mb = Number(raw);
  }
  return [`--max-semi-space-size=${mb}`, ...OTHER_NODE_ARGS];
}

/** npm start's defaults (SWITCHBOARD_SEMI_SPACE_MB unset). */
export const SERVER_NODE_ARGS: readonly string[] = serverNodeArgs({});
export const SERVER_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/**
 * The start script these settings make: `tsc -b ... && MALLOC_...=.. node <args> dist/src/main.js`, the
 * semi-space read from SWITCHBOARD_SEMI_SPACE_MB by the shell npm runs it with (2 when unset).
 */
export function startScript(): string {
  const env = Object.entries(SERVER_ENV).map(([k, v]) => `${k}=${v}`);
  const semiSpace = `--max-semi-space-size=\${${SEMI_SPACE_ENV}:-${DEFAULT_SEMI_SPACE_MB}}`;
  return ['tsc -b tsconfig.build.json &&', ...env, 'node', semiSpace, ...OTHER_NODE_ARGS, 'dist/src/main.js'].join(' ');
}
