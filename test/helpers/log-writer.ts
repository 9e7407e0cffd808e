/**
 * A child process for test/integration/log-destination.test.ts: logs LINES JSON lines of ~200
 * bytes through the stdout logger (in batches of 100 per event-loop turn) while a 10 ms timer
 * measures how late the event loop runs, then reports on stderr (one JSON line: lines sent, the
 * timer's worst lateness, lines dropped and the dropped-lines metric) and ends as END says:
 * `flush` (await flushLogs(), then exit), `exit` (process.exit at once, lines still queued) or
 * `wait` (stay until stdin closes). With SPACED_MS, one line every SPACED_MS instead (a quiet server's
 * pace), and the report also gives the batches handed to the writer. With BUSY_POOL, libuv's thread
 * pool is kept busy (key derivations) while the lines are logged: whatever the log hands the pool
 * waits behind them, as it would behind a server's DNS lookups, file reads or compression.
 */
import { pbkdf2 } from 'node:crypto';
import { createLogger } from '../../src/logging/logger';
import { droppedLogLines, flushLogs, logBatches } from '../../src/logging/destination';
import { Metrics } from '../../src/observability/metrics';

const LINES = Number(process.env.LINES ?? 1000);
const END = process.env.END ?? 'flush';
const SPACED_MS = process.env.SPACED_MS ? Number(process.env.SPACED_MS) : undefined;
const logger = createLogger({ level: 'info', json: true });
const padding = 'x'.repeat(120);

let lastTick = performance.now();
let maxLateMs = 0;
const timer = setInterval(() => {
  const now = performance.now();
  maxLateMs = Math.max(maxLateMs, now - lastTick - 10);
  lastTick = now;
}, 10);

// Four times the pool's threads (4 unless UV_THREADPOOL_SIZE says otherwise) of ~50 ms jobs, each
// followed by another until the report: anything handed to the pool waits behind ~12 of them.
let finished = false;
const busy = (): void => {
  if (!finished) pbkdf2('key', 'salt', 300_000, 32, 'sha256', busy);
};
if (process.env.BUSY_POOL) for (let i = 0; i < 16; i++) busy();

let sent = 0;
function batch(): void {
  for (let i = 0; i < (SPACED_MS === undefined ? 100 : 1) && sent < LINES; i++)
    logger.info('line', { n: sent++, padding });
  if (sent < LINES) {
    if (SPACED_MS === undefined) setImmediate(batch);
    else setTimeout(batch, SPACED_MS);
    return;
  }
  // At once for `exit` (lines still queued), else after half a second more of timer ticks.
  if (END === 'exit') void finish();
  else setTimeout(() => void finish(), 500);
}

async function finish(): Promise<void> {
  clearInterval(timer);
  finished = true;
  const exposition = await new Metrics().registry.metrics();
  const metric = Number(/^switchboard_log_lines_dropped_total (\d+)$/m.exec(exposition)?.[1] ?? NaN);
  process.stderr.write(
    `${JSON.stringify({ sent, maxLateMs, dropped: droppedLogLines(), metric, batches: logBatches() })}\n`,
  );
  if (END === 'exit') process.exit(0);
  if (END === 'wait') {
    process.stdin.resume();
    process.stdin.on('end', () => void flushLogs().then(() => process.exit(0)));
    return;
  }
  await flushLogs();
  process.exit(0);
}

batch();
