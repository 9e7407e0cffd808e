/**
 * The /api router: calls, recordings, notes, analytics, live status (SSE), OpenAPI document.
 * Mounted by app.ts behind the API-token check.
 */
import { Router } from 'express';
import type { ApiDeps } from './api-deps';

export function createApiRouter(_deps: ApiDeps): Router {
  const router = Router();
  return router;
}
