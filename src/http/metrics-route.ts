import { Router } from 'express';
import type { Metrics } from '../observability/metrics';
import { requireApiToken } from './auth';

/** GET /metrics in Prometheus text format (behind the API token when one is configured). */
export function createMetricsRouter(deps: { metrics: Metrics; apiTokens: readonly string[] }): Router {
  const router = Router();
  router.get('/metrics', requireApiToken(deps.apiTokens), async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return router;
}
