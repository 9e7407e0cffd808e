/**
 * The supervisor dashboard: a static page (vanilla ES modules, no build step) that speaks only the
 * REST + SSE API. Files are served from src/dashboard/public by absolute path from the project root,
 * so the same code works under tsx and from dist/. Chart.js comes from node_modules (no CDN).
 *
 * Caching: the page and its own modules are `no-cache` with an ETag (a reload revalidates with a cheap
 * 304, so a deploy is picked up at once without hashed file names); the vendored library is immutable
 * per installed version and cached for a day.
 */
import path from 'node:path';
import { Router } from 'express';
import express from 'express';
import { PROJECT_ROOT } from '../db/paths';

export const DASHBOARD_PUBLIC_DIR = path.join(PROJECT_ROOT, 'src', 'dashboard', 'public');
const CHART_JS_DIR = path.join(PROJECT_ROOT, 'node_modules', 'chart.js', 'dist');
/**
 * Vendored files served under /assets/vendor/, by public name. A Map, not an object literal: a name
 * from the URL such as `__proto__`, `constructor` or `toString` must not find Object.prototype's
 * members (that was a 500 with a stack in the log).
 */
const VENDOR_FILES: ReadonlyMap<string, string> = new Map([
  ['chart.umd.min.js', path.join(CHART_JS_DIR, 'chart.umd.min.js')],
  ['chart.umd.min.js.map', path.join(CHART_JS_DIR, 'chart.umd.min.js.map')],
]);
const VENDOR_MAX_AGE_MS = 86_400_000;

export interface DashboardOptions {
  /** True when API_TOKENS is set: the page asks for a token before calling the API. */
  authRequired: boolean;
}

export function createDashboardRouter(options: DashboardOptions): Router {
  const router = Router();
  const indexFile = path.join(DASHBOARD_PUBLIC_DIR, 'index.html');

  router.get('/', (_req, res, next) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(indexFile, { etag: true, lastModified: true }, (err) => err && next(err));
  });

  // Whether the page must ask for a token (no secret in it): the page learns this without
  // provoking a 401 first.
  router.get('/assets/config.json', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ authRequired: options.authRequired });
  });

  router.get('/assets/vendor/:file', (req, res, next) => {
    const file = VENDOR_FILES.get(req.params.file);
    if (!file) return next();
    res.sendFile(file, { maxAge: VENDOR_MAX_AGE_MS, etag: true }, (err) => err && next(err));
  });

  router.use(
    '/assets',
    express.static(DASHBOARD_PUBLIC_DIR, {
      index: false,
      etag: true,
      lastModified: true,
      fallthrough: true,
      dotfiles: 'ignore',
      setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache'),
    }),
  );

  return router;
}
