/**
 * HTTP hardening shared by every route: helmet's security headers with a strict Content Security
 * Policy (same-origin only, no inline scripts: the dashboard must load its scripts and styles from
 * files it serves), and a rate limit on /api keyed by API token (or by client IP when the request
 * carries no valid token, so guessing tokens is limited too).
 */
import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import { rateLimit, ipKeyGenerator } from 'express-rate-limit';
import { extractToken, tokenMatches } from './auth';
import { ApiError, sendError } from './errors';

/** The CSP every response carries: everything from our own origin only, nothing inline, no framing. */
export const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  mediaSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  // Not forced: local development runs on plain http; behind a TLS proxy HSTS does the job.
  upgradeInsecureRequests: null,
};

/** Helmet with the strict CSP above. */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
  });
}

/**
 * The same headers for /api/docs, whose Swagger UI page carries inline <style> blocks: styles may be
 * inline there, scripts still may not.
 */
export function apiDocsHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { ...CSP_DIRECTIVES, styleSrc: ["'self'", "'unsafe-inline'"] },
    },
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
  });
}

export interface ApiRateLimitOptions {
  /** Requests allowed per window and key. */
  limit: number;
  windowMs: number;
  apiTokens: readonly string[];
}

const tokenKey = (token: string): string => `token:${createHash('sha256').update(token).digest('hex').slice(0, 32)}`;

/**
 * Rate limit of /api: `limit` requests per `windowMs`, per valid API token, else per client IP
 * (IPv6 per /56). Beyond it: 429 with `{ error: { code: 'rate_limited' } }`, `Retry-After` and the
 * standard RateLimit headers. Long-lived SSE connections count once, when they open.
 */
export function apiRateLimit(options: ApiRateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs: options.windowMs,
    limit: options.limit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => {
      const token = extractToken(req.headers.authorization, req.query);
      if (token && options.apiTokens.length > 0 && tokenMatches(token, options.apiTokens)) return tokenKey(token);
      return `ip:${ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown')}`;
    },
    handler: (_req, res) => {
      sendError(
        res,
        new ApiError('rate_limited', 'too many requests; slow down and retry after the Retry-After delay'),
      );
    },
  });
}
