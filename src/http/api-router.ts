/**
 * The /api router: calls, recordings, notes, analytics, live status (SSE), mounted by app.ts behind
 * the API-token check; and the OpenAPI document with Swagger UI, mounted in front of it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { Router } from 'express';
import type { ApiDeps } from './api-deps';
import { createCallsRouter } from './calls-routes';
import { createRecordingsRouter } from './recordings-routes';
import { createAnalyticsRouter } from './analytics-routes';
import { createStatusHandler, type SseClients, type SseOptions } from './sse';
import { buildOpenApiDocument } from './openapi';
import { addPrivacyPaths } from '../privacy/openapi';
import { addCampaignPaths } from '../campaigns/openapi';
import { PROJECT_ROOT } from '../db/paths';

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Largest JSON body the API accepts (a note is at most 10,000 characters). */
export const MAX_BODY_BYTES = 64 * 1024;

export interface ApiRouterOptions {
  /** Interval of the SSE `: ping` comments (default 15 s). */
  sseHeartbeatMs?: number;
  /** Version shown in the OpenAPI document (default: package.json's). */
  version?: string;
  /** Counter and caps of open SSE streams (app.ts shares it with /metrics). */
  sseClients?: SseClients;
}

/**
 * The API's description: `/openapi.json` and Swagger UI at `/docs`. Mounted before the token check:
 * it describes the API's shape and holds no data (a browser cannot send a bearer token with the
 * Swagger UI's own script and style requests).
 */
export function createApiDocsRouter(options: Pick<ApiRouterOptions, 'version'> = {}): Router {
  const router = Router();
  const openApi = addCampaignPaths(addPrivacyPaths(buildOpenApiDocument(options.version ?? packageVersion())));
  router.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });
  // Swagger UI (~16 MB resident once loaded) loads on the first request for it, not at start.
  let docs: Promise<Router> | undefined;
  router.use('/docs', (req, res, next) => {
    docs ??= import('swagger-ui-express').then(({ default: swaggerUi }) =>
      Router().use(swaggerUi.serve, swaggerUi.setup(openApi, { customSiteTitle: 'Switchboard API' })),
    );
    docs.then((ui) => ui(req, res, next), next);
  });
  return router;
}

export function createApiRouter(deps: ApiDeps, options: ApiRouterOptions = {}): Router {
  const router = Router();
  const sse: SseOptions = { heartbeatMs: options.sseHeartbeatMs, clients: options.sseClients };

  router.use(express.json({ limit: MAX_BODY_BYTES }));
  router.use(createCallsRouter(deps));
  router.use(createRecordingsRouter(deps));
  router.use(createAnalyticsRouter(deps));
  router.get('/status', createStatusHandler(deps, sse));
  return router;
}
