import { Router, type RequestHandler } from 'express';
import { Gauge } from 'prom-client';
import type { Metrics } from '../observability/metrics';
import { requireApiToken } from './auth';

export interface MetricsRouteDeps {
  metrics: Metrics;
  apiTokens: readonly string[];
  /** Rate limit in front of the token check (its own budget: scraping does not eat the API's). */
  rateLimit?: RequestHandler;
  /** Open SSE streams now (GET /api/status), exported as `switchboard_sse_clients`. */
  sseClients?: () => number;
}

/**
 * GET /metrics in Prometheus text format, behind the API token when one is configured: in the
 * Authorization header only (a token in the URL is refused). Collected one metric per turn of the
 * event loop (`metricsText`): a scrape does not hold the calls' frames for the whole exposition.
 */
export function createMetricsRouter(deps: MetricsRouteDeps): Router {
  const router = Router();
  const { sseClients } = deps;
  if (sseClients) {
    new Gauge({
      name: 'switchboard_sse_clients',
      help: 'Open Server-Sent Events streams (GET /api/status)',
      registers: [deps.metrics.registry],
      collect() {
        this.set(sseClients());
      },
    });
  }
  const handlers: RequestHandler[] = deps.rateLimit ? [deps.rateLimit] : [];
  router.get('/metrics', ...handlers, requireApiToken(deps.apiTokens), async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.text());
  });
  return router;
}
