/**
 * Bearer-token protection of /api. Tokens come from API_TOKENS; when none is configured the API is
 * open (local development). Comparison is constant-time. EventSource cannot set headers, so the
 * token is also accepted as `?access_token=` (used by the dashboard's SSE connection).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ApiError, sendError } from './errors';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export function tokenMatches(candidate: string, tokens: readonly string[]): boolean {
  // Hash both sides so the comparison is constant-time whatever the lengths.
  const c = digest(candidate);
  let ok = false;
  for (const token of tokens) ok = timingSafeEqual(c, digest(token)) || ok;
  return ok;
}

export function extractToken(authorization: string | undefined, query: unknown): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  if (match) return match[1].trim();
  const q = (query as Record<string, unknown> | undefined)?.access_token;
  return typeof q === 'string' ? q : undefined;
}

export function requireApiToken(tokens: readonly string[]): RequestHandler {
  return (req, res, next) => {
    if (tokens.length === 0) {
      next();
      return;
    }
    const token = extractToken(req.headers.authorization, req.query);
    if (!token || !tokenMatches(token, tokens)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="switchboard"');
      sendError(
        res,
        new ApiError('unauthorized', token ? 'invalid API token' : 'missing API token (Authorization: Bearer <token>)'),
      );
      return;
    }
    next();
  };
}
