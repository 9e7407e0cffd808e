/**
 * GET /health: what a load balancer or an operator needs to know, without a token.
 *
 * - `ok` (200): everything works.
 * - `degraded` (200): calls are still taken but something is failing; `checks` says what:
 *   the AI endpoint (calls lost their AI connection for good recently), database writes (the last
 *   write failed after its retries; rows are kept queued), the recordings folder (a probe file
 *   cannot be written, or the disk is almost full), the event loop (delay p99 above the limit).
 * - `draining` (503): the server got SIGTERM and takes no new calls.
 * - `down` (503): the database does not answer.
 *
 * The checks that do I/O (a database query, a probe file in the recordings folder) are cached for
 * `cacheMs` (HEALTH_CACHE_MS, 1 s) and shared by concurrent requests, so a flood of /health costs
 * at most one probe per second; the in-memory checks (draining, AI, writes) are always fresh.
 */
import { randomBytes } from 'node:crypto';
import { statfs, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Router } from 'express';
import type { Db } from '../db/prisma';
import type { CallManager } from '../calls/call-manager';

export interface HealthCheck {
  ok: boolean;
  detail?: string;
}

export interface HealthThresholds {
  /** Calls that lost the AI for good within this window make the AI check fail. */
  aiFailureWindowMs: number;
  /** Event-loop delay p99 above this is degraded. */
  maxEventLoopDelayMs: number;
  /** Free space on the recordings disk below this is degraded. */
  minFreeDiskBytes: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = {
  aiFailureWindowMs: 60_000,
  maxEventLoopDelayMs: 200,
  minFreeDiskBytes: 100 * 1024 * 1024,
};

export interface HealthDeps {
  db: Db;
  callManager: CallManager;
  version: string;
  startedAt: number;
  /** Folder recordings are written to (probed for writability). */
  recordingsDir?: string;
  /** True once the server is shutting down. */
  isDraining?: () => boolean;
  /** Event-loop delay watcher (one per app; stopped by app.close()). */
  eventLoop?: EventLoopWatch;
  thresholds?: Partial<HealthThresholds>;
  /** Extra checks that can report a degraded state. */
  checks?: () => Record<string, HealthCheck>;
  /** How long the I/O checks (database, recordings folder) are reused (default 1 s; 0: never). */
  cacheMs?: number;
}

export const DEFAULT_HEALTH_CACHE_MS = 1000;

interface ProbeResult {
  database: boolean;
  recordings?: HealthCheck;
}

const LOOP_RESOLUTION_MS = 20;

/**
 * Event-loop delay p99 over fixed windows: the last complete window, and the current one once half
 * of it has passed (a p99 over a few ticks is just their maximum: one slow start-up tick would flag
 * a healthy server).
 */
export class EventLoopWatch {
  private readonly histogram: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private windowStartedAt = Date.now();
  private previousP99Ms = 0;

  constructor(readonly windowMs = 10_000) {
    this.histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.histogram.enable();
    this.timer = setInterval(() => {
      this.previousP99Ms = this.currentP99Ms();
      this.histogram.reset();
      this.windowStartedAt = Date.now();
    }, windowMs);
    this.timer.unref();
  }

  private currentP99Ms(): number {
    // Samples are nanoseconds and include the sampling period itself.
    return this.histogram.count >= 5 ? Math.max(0, this.histogram.percentile(99) / 1e6 - LOOP_RESOLUTION_MS) : 0;
  }

  /** Delay p99 in ms: the last complete window, or the current one once half of it has passed. */
  p99Ms(): number {
    const current = Date.now() - this.windowStartedAt >= this.windowMs / 2 ? this.currentP99Ms() : 0;
    return Math.max(this.previousP99Ms, current);
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}

async function checkRecordingsDir(dir: string, minFreeBytes: number): Promise<HealthCheck> {
  const probe = path.join(dir, `.health-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, 'ok');
    await unlink(probe);
  } catch (err) {
    return {
      ok: false,
      detail: `recordings folder is not writable (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    };
  }
  try {
    const fs = await statfs(dir);
    const freeBytes = fs.bavail * fs.bsize;
    if (freeBytes < minFreeBytes) {
      return { ok: false, detail: `only ${Math.round(freeBytes / 1024 / 1024)} MiB free for recordings` };
    }
  } catch {
    // statfs is informative only.
  }
  return { ok: true };
}

function checkDatabaseWrites(cm: CallManager): HealthCheck {
  if (cm.lastWriteFailedAt > cm.lastWriteOkAt) {
    return {
      ok: false,
      detail: `database writes are failing (retrying; ${cm.queuedRows} rows queued, ${cm.stats.writeFailures} batches failed so far)`,
    };
  }
  return { ok: true };
}

function checkAi(cm: CallManager, windowMs: number): HealthCheck {
  const failed = cm.recentEventCount('ai.failed', windowMs);
  const reconnecting = cm.recentEventCount('ai.reconnecting', windowMs);
  const seconds = Math.round(windowMs / 1000);
  if (failed > 0) {
    return {
      ok: false,
      detail: `${failed} call(s) lost the AI endpoint for good in the last ${seconds} s (${reconnecting} reconnect attempts)`,
    };
  }
  return reconnecting > 0
    ? { ok: true, detail: `${reconnecting} reconnect attempts in the last ${seconds} s` }
    : { ok: true };
}

export function createHealthRouter(deps: HealthDeps): Router {
  const router = Router();
  const limits = { ...DEFAULT_HEALTH_THRESHOLDS, ...deps.thresholds };
  const cacheMs = deps.cacheMs ?? DEFAULT_HEALTH_CACHE_MS;
  const probeNow = async (): Promise<ProbeResult> => {
    let database = false;
    try {
      // Through the connection that writes (the writer thread): the main thread keeps no connection of its own.
      await deps.callManager.pingDatabase();
      database = true;
    } catch {
      database = false;
    }
    const recordings = deps.recordingsDir
      ? await checkRecordingsDir(deps.recordingsDir, limits.minFreeDiskBytes)
      : undefined;
    return { database, recordings };
  };
  // The last probe (or the one running), reused until it is cacheMs old.
  let cached: { at: number; result: Promise<ProbeResult> } | undefined;
  const probe = (): Promise<ProbeResult> => {
    const now = Date.now();
    if (!cached || now - cached.at >= cacheMs) {
      const result = probeNow();
      cached = { at: now, result };
      // The age counts from when the probe finished: a slow probe is not repeated at once.
      void result.then(() => {
        if (cached?.result === result) cached.at = Date.now();
      });
    }
    return cached.result;
  };
  router.get('/health', async (_req, res) => {
    const { database, recordings } = await probe();
    const checks: Record<string, HealthCheck> = {
      ai: checkAi(deps.callManager, limits.aiFailureWindowMs),
      databaseWrites: checkDatabaseWrites(deps.callManager),
      // Queue above 80% of its bound, or rows dead-lettered / lost since start (see CallManager).
      writeQueue: deps.callManager.writeQueueCheck(),
    };
    if (recordings) checks.recordings = recordings;
    if (deps.eventLoop) {
      const p99 = Math.round(deps.eventLoop.p99Ms());
      checks.eventLoop =
        p99 > limits.maxEventLoopDelayMs
          ? { ok: false, detail: `event-loop delay p99 ${p99} ms (limit ${limits.maxEventLoopDelayMs} ms)` }
          : { ok: true, detail: `event-loop delay p99 ${p99} ms` };
    }
    Object.assign(checks, deps.checks?.() ?? {});
    const draining = deps.isDraining?.() ?? false;
    const degraded = Object.values(checks).some((c) => !c.ok);
    const status = !database ? 'down' : draining ? 'draining' : degraded ? 'degraded' : 'ok';
    res.status(database && !draining ? 200 : 503).json({
      status,
      version: deps.version,
      uptimeSec: Math.round((Date.now() - deps.startedAt) / 1000),
      database: { reachable: database },
      activeCalls: deps.callManager.activeCount,
      checks,
    });
  });
  return router;
}
