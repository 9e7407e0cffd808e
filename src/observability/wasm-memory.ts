/**
 * Keeps V8's WebAssembly compilers from holding tens of megabytes for the life of the process.
 *
 * Switchboard runs WebAssembly in every thread that talks to the database: Prisma 7's query compiler
 * (a ~3.3 MB module) in the writer thread, in the lazy read pool and in the main thread's lazy client;
 * libsamplerate only in pcm16 calls. By default V8 compiles a module with its baseline compiler
 * (Liftoff) and then recompiles hot functions with TurboFan in background threads; for Prisma's module
 * that tier-up left ~50–65 MB resident per thread that loads it (TurboFan code plus the compile zones'
 * memory, which glibc's per-thread malloc arenas keep after it is freed). With `--liftoff-only`, one
 * writer thread settles at ~50 MB instead of ~100–117 MB, the idle server at ~163 instead of ~225 MB
 * and a 100-call burst peaks at ~205 instead of ~285 MB, with the same CPU per call-second (figures and
 * commands in docs/benchmarks/bridge.md, "Memory"). What the flag costs is TurboFan's faster code for
 * WebAssembly: Prisma's query compiler runs off the main thread and caches its plans, and the writer
 * measured no slower here; libsamplerate (pcm16 calls only) stays far under real time.
 *
 * V8 reads the flag when it compiles a module, and flags are process-wide (a worker's execArgv cannot
 * carry V8 options), so this must run in the main thread before the first database connection or
 * worker starts: first thing in src/main.ts. Setting it later only affects modules compiled after.
 */
import v8 from 'node:v8';

/** The V8 option set by {@link limitWasmCompilerMemory}. */
export const WASM_MEMORY_FLAGS = ['--liftoff-only'] as const;

let applied = false;

/**
 * Sets {@link WASM_MEMORY_FLAGS} for this process (idempotent). Returns true the first time. The same
 * can be given on the command line (`node --liftoff-only dist/src/main.js`); both are harmless together.
 */
export function limitWasmCompilerMemory(): boolean {
  if (applied) return false;
  for (const flag of WASM_MEMORY_FLAGS) v8.setFlagsFromString(flag);
  applied = true;
  return true;
}
