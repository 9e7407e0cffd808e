import { Router } from 'express';
import type { Db } from '../db/prisma';
import type { CallManager } from '../calls/call-manager';

export interface HealthDeps {
  db: Db;
  callManager: CallManager;
  version: string;
  startedAt: number;
  /** Extra checks (e.g. the AI endpoint, recordings folder) that can report a degraded state. */
  checks?: () => Record<string, { ok: boolean; detail?: string }>;
}

/** GET /health: 200 when the database answers, 503 otherwise. Never needs a token. */
export function createHealthRouter(deps: HealthDeps): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    let database = false;
    try {
      await deps.db.$queryRawUnsafe('SELECT 1');
      database = true;
    } catch {
      database = false;
    }
    const checks = deps.checks?.() ?? {};
    const degraded = Object.values(checks).some((c) => !c.ok);
    const status = !database ? 'down' : degraded ? 'degraded' : 'ok';
    res.status(database ? 200 : 503).json({
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
