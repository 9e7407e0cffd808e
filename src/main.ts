/**
 * Entry point: load the configuration, apply pending migrations, start the server, and drain on
 * SIGTERM/SIGINT. The only file that exits the process.
 *
 * Shutdown: the first SIGTERM/SIGINT stops taking calls (the webhook answers the busy TwiML, /health
 * says `draining` with 503), lets live calls go on for SHUTDOWN_GRACE_MS, then ends the rest cleanly
 * (recordings finalized, transcripts flushed or dead-lettered, database closed) and exits 0 (1 when rows
 * could be kept neither in the database nor in the dead letter). A second signal skips
 * what is left of the grace period.
 */
import 'dotenv/config';
import { ConfigError, loadConfig, securityWarnings, type Config } from './config';
import { applyPendingMigrationsInChild } from './db/migrate-child';
import { createApp } from './app';
import { createLogger } from './logging/logger';
import { flushLogs } from './logging/destination';
import { limitWasmCompilerMemory } from './observability/wasm-memory';
import { HelperThreads } from './runtime/helper-threads';
import { FIRST_GROWTH_PERCENT, settleHeap } from './runtime/settle-heap';

async function main(): Promise<void> {
  // WebAssembly (Prisma's query compiler in the writer and read threads) stays on V8's baseline
  // compiler: 50-65 MB less per thread that loads it (docs/benchmarks/bridge.md, "Memory"). First,
  // before any module is compiled.
  limitWasmCompilerMemory();
  const config: Config = loadConfig();
  const logger = createLogger({ level: config.logLevel, json: config.env === 'production', pii: config.logPii });
  // Every start says what is insecure about this configuration (switched-off checks, ws:// or
  // http:// upstreams; in development, which protections are off).
  for (const warning of securityWarnings(config)) logger.warn(warning);
  // In a child process: the schema engine's memory leaves with it (see src/db/migrate-child.ts).
  const applied = await applyPendingMigrationsInChild(config.databaseUrl);
  const sb = await createApp(config, { logger });
  if (applied.length) sb.logger.info('database migrations applied', { migrations: applied });
  // The helper threads (writer, recording, read pool, V8's, libuv's) never preempt the event loop
  // when they wake (src/runtime/helper-threads.ts): those started by now at once, ours started
  // later as soon as they are online, any other within 30 s.
  const helpers = config.helperThreadsBatch ? new HelperThreads({ logger: sb.logger }) : undefined;
  await helpers?.start();
  if (helpers) sb.logger.info('helper threads under SCHED_BATCH', { threads: helpers.batched.size });

  // A stray rejection or exception is logged; it must not drop every live call with the process.
  process.on('unhandledRejection', (reason: unknown) => {
    sb.logger.error('unhandled promise rejection', { error: (reason as Error)?.message ?? String(reason) });
  });
  process.on('uncaughtException', (err: Error) => {
    sb.logger.error('uncaught exception', { error: err.message, stack: err.stack });
  });

  // The log lines of the shutdown are written before the process goes (stdout is asynchronous).
  const exit = (code: number): void => {
    void flushLogs().finally(() => process.exit(code));
  };
  let stopping = false;
  let skipGrace: (() => void) | undefined;
  const stop = (signal: string): void => {
    if (stopping) {
      sb.logger.warn('second signal: closing the remaining calls now', { signal });
      skipGrace?.();
      return;
    }
    stopping = true;
    helpers?.stop();
    sb.logger.info('shutting down', { signal, graceMs: config.shutdownGraceMs, activeCalls: sb.bridge.size });
    const graceOver = new Promise<void>((resolve) => (skipGrace = resolve));
    // Drain: new calls are refused while live ones run for up to the grace period.
    const drained = Promise.race([sb.bridge.drain(config.shutdownGraceMs), graceOver]);
    drained
      .then(() => sb.close())
      .then(
        () => {
          // Rows that could be written neither to the database nor to the dead letter: not a clean exit.
          const { droppedTotal, deadLetteredTotal } = sb.callManager.writeQueueState();
          if (droppedTotal > 0) sb.logger.error('shutdown lost rows', { droppedTotal, deadLetteredTotal });
          exit(droppedTotal > 0 ? 1 : 0);
        },
        (err: unknown) => {
          sb.logger.error('shutdown failed', { error: (err as Error).message });
          exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  // One full GC before the first call: V8 then sizes the old generation from the live heap, not from
  // its start-up limit (peak RSS at 100 calls -16 MB), and not at a factor guessed from an idle program
  // (src/runtime/settle-heap.ts).
  const settled = settleHeap({ firstGrowthPercent: FIRST_GROWTH_PERCENT });
  sb.logger.info('heap settled', {
    ms: Math.round(settled.ms),
    usedMb: Math.round(settled.usedAfter / 2 ** 20),
    freedMb: Math.round((settled.usedBefore - settled.usedAfter) / 2 ** 20),
  });
  // Listening comes last: from the first request on, SIGTERM drains (the handlers are in place even
  // while listen() still awaits the campaign dialler's start-up recovery).
  const port = await sb.listen();
  sb.logger.info('switchboard listening', { port, publicUrl: config.publicUrl, env: config.env });
}

main().catch((err: unknown) => {
  // Bad configuration (environment, agent profiles file): one clear message per problem, no stack.
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  console.error('switchboard failed to start:', err);
  process.exit(1);
});
