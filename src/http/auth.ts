/**
 * Bearer-token protection of /api and /metrics. Tokens come from API_TOKENS; when none is
 * configured the API is open (local development). Comparison is constant-time.
 *
 * Tokens travel in the `Authorization: Bearer` header. Two exceptions, both for what a browser
 * cannot send with a header, and both limited to one route:
 * - `?access_token=` on the SSE stream (GET /api/status), since EventSource cannot set headers;
 *   anywhere else a token in the URL is refused (URLs end up in logs, proxies, browser history).
 * - a signed recording URL (GET /api/calls/:id/recording?expires=…&sig=…) for the dashboard's
 *   <audio> element: an HMAC-SHA256 over the call id and an expiry a few minutes ahead, handed out
 *   by the authenticated GET /api/calls/:id/recording-url. It opens that call's recording only,
 *   until it expires, and carries no token.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { ApiError, sendError } from './errors';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export function tokenMatches(candidate: string, tokens: readonly string[]): boolean {
  // Hash both sides so the comparison is constant-time whatever the lengths.
  const c = digest(candidate);
  let ok = false;
  for (const token of tokens) ok = timingSafeEqual(c, digest(token)) || ok;
  return ok;
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  return match ? match[1].trim() : undefined;
}

/** `?access_token=` when it is one string (not an array or object from a crafted query). */
export function queryToken(query: unknown): string | undefined {
  const q = (query as Record<string, unknown> | undefined)?.access_token;
  return typeof q === 'string' ? q : undefined;
}

/**
 * The bearer token, else `?access_token=`. For keying rate limits only: which routes accept a token
 * in the query is decided by requireApiToken.
 */
export function extractToken(authorization: string | undefined, query: unknown): string | undefined {
  return bearerToken(authorization) ?? queryToken(query);
}

/**
 * The SSE stream's path under /api, as Express matches routes: case-insensitive, optional trailing
 * slash. Only there is `?access_token=` accepted.
 */
export const SSE_PATH = /^\/status\/?$/i;
/** A call's recording under /api (same matching rules); the id segment is captured, still encoded. */
export const RECORDING_PATH = /^\/calls\/([^/]+)\/recording\/?$/i;

/** Lifetime of a signed recording URL. */
export const SIGNED_URL_TTL_SEC = 300;
/** Clock skew tolerated on an expiry beyond now + TTL (multi-instance deployments). */
const MAX_FUTURE_SKEW_SEC = 60;
const SIG_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Signs and checks recording URLs: HMAC-SHA256(secret, "recording\n<callId>\n<expires>"), base64url.
 * The call id is part of the MAC, so a URL for one call opens no other; the expiry too, so it cannot
 * be extended.
 */
export class UrlSigner {
  private readonly key: Buffer;

  constructor(
    secret: string,
    readonly ttlSec = SIGNED_URL_TTL_SEC,
    private readonly nowMs: () => number = Date.now,
  ) {
    if (!secret) throw new Error('UrlSigner needs a secret');
    this.key = Buffer.from(secret, 'utf8');
  }

  private mac(callId: string, expires: number): Buffer {
    return createHmac('sha256', this.key).update(`recording\n${callId}\n${expires}`).digest();
  }

  /** A URL for the call's recording, valid `ttlSec` from now. */
  signRecording(callId: string): { url: string; expires: number } {
    const expires = Math.floor(this.nowMs() / 1000) + this.ttlSec;
    const sig = this.mac(callId, expires).toString('base64url');
    return { url: `/api/calls/${encodeURIComponent(callId)}/recording?expires=${expires}&sig=${sig}`, expires };
  }

  /** True when `sig` is this server's MAC of the call id and `expires`, and `expires` has not passed. */
  verifyRecording(callId: string, expires: unknown, sig: unknown): boolean {
    if (typeof expires !== 'string' || typeof sig !== 'string') return false;
    if (!/^\d{1,12}$/.test(expires) || !SIG_PATTERN.test(sig)) return false;
    const exp = Number(expires);
    const now = Math.floor(this.nowMs() / 1000);
    if (exp < now || exp > now + this.ttlSec + MAX_FUTURE_SKEW_SEC) return false;
    const given = Buffer.from(sig, 'base64url');
    const expected = this.mac(callId, exp);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

export interface RequireTokenOptions {
  /** Accept `?access_token=` on the SSE stream (GET /api/status). Only for the /api mount. */
  sseQueryToken?: boolean;
  /** Accept signed recording URLs made with this secret. Only for the /api mount. */
  urlSigningSecret?: string;
}

const isRead = (req: Request): boolean => req.method === 'GET' || req.method === 'HEAD';

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function refuse(res: Parameters<RequestHandler>[1], message: string): void {
  res.setHeader('WWW-Authenticate', 'Bearer realm="switchboard"');
  sendError(res, new ApiError('unauthorized', message));
}

export function requireApiToken(tokens: readonly string[], options: RequireTokenOptions = {}): RequestHandler {
  const signer = options.urlSigningSecret ? new UrlSigner(options.urlSigningSecret) : undefined;
  return (req, res, next) => {
    if (tokens.length === 0) {
      next();
      return;
    }
    const header = bearerToken(req.headers.authorization);
    if (header !== undefined) {
      if (tokenMatches(header, tokens)) next();
      else refuse(res, 'invalid API token');
      return;
    }
    const query = req.query as Record<string, unknown>;
    const inQuery = queryToken(query);
    if (options.sseQueryToken && isRead(req) && SSE_PATH.test(req.path) && inQuery !== undefined) {
      if (tokenMatches(inQuery, tokens)) next();
      else refuse(res, 'invalid API token');
      return;
    }
    const recording = RECORDING_PATH.exec(req.path);
    if (signer && recording && isRead(req) && (query.sig !== undefined || query.expires !== undefined)) {
      // The id as the route will see it (Express decodes params): the MAC binds that id.
      const callId = decodeSegment(recording[1]);
      if (callId !== undefined && signer.verifyRecording(callId, query.expires, query.sig)) next();
      else refuse(res, 'invalid or expired recording link; ask GET /api/calls/{id}/recording-url for a new one');
      return;
    }
    if (inQuery !== undefined) {
      refuse(
        res,
        'a token in the URL (?access_token=) is accepted only on GET /api/status; send Authorization: Bearer <token>',
      );
      return;
    }
    refuse(res, 'missing API token (Authorization: Bearer <token>)');
  };
}
