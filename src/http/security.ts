/**
 * HTTP hardening shared by every route:
 * - helmet's security headers with a strict Content Security Policy (same-origin only, no inline
 *   scripts: the dashboard must load its scripts and styles from files it serves); HSTS only when
 *   the server is reached over HTTPS (PUBLIC_URL is https://, or the request itself is secure);
 * - rate limits on every surface: /api per API token (or per client IP when the request carries no
 *   valid token, so guessing tokens is limited too), /metrics the same with its own budget, Twilio
 *   webhooks and /streams upgrades per IP (high: Twilio sends many requests from few addresses),
 *   and everything else (/health, the dashboard, the API docs, unknown paths) per IP;
 * - each limiter counts in this process by default, or in a store shared by the instances (`store`:
 *   src/cluster/redis/rate-limit-store.ts with REDIS_URL, one store per limiter);
 * - the HTTP server's timeouts, so slow clients (slowloris) cannot hold sockets;
 * - the client IP behind a reverse proxy, only as far as TRUST_PROXY says.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Express, RequestHandler } from 'express';
import helmet from 'helmet';
import { rateLimit, ipKeyGenerator, type Store } from 'express-rate-limit';
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

/** Strict-Transport-Security sent over HTTPS: one year, subdomains included (helmet's default). */
export const HSTS_VALUE = 'max-age=31536000; includeSubDomains';

export interface SecurityHeadersOptions {
  /**
   * The externally reachable base URL (PUBLIC_URL). HSTS is sent when it is https://, or when the
   * request itself arrived over TLS (req.secure, which honours X-Forwarded-Proto only with
   * TRUST_PROXY): never over plain-HTTP localhost, where it would pin the browser to https.
   */
  publicUrl?: string;
}

function withHsts(headers: RequestHandler, options: SecurityHeadersOptions): RequestHandler {
  const httpsPublic = httpsPublicUrl(options.publicUrl);
  return (req, res, next) => {
    if (httpsPublic || req.secure) res.setHeader('Strict-Transport-Security', HSTS_VALUE);
    headers(req, res, next);
  };
}

const strictHelmet = (): RequestHandler =>
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: false,
  });

/** Helmet with the strict CSP above. */
export function securityHeaders(options: SecurityHeadersOptions = {}): RequestHandler {
  return withHsts(strictHelmet(), options);
}

/**
 * The headers `securityHeaders()` sets on every response, worked out once as [name, value] pairs
 * (HSTS apart: it depends on the request, see `isHttpsRequest`), for the webhook lane, which
 * answers without express.
 */
export function securityHeaderPairs(): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const recorder = {
    setHeader: (name: string, value: unknown) => pairs.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  strictHelmet()({} as never, recorder as never, () => undefined);
  return pairs;
}

/** Whether HSTS goes on every response: PUBLIC_URL is https:// (else per request, `isHttpsRequest`). */
export const httpsPublicUrl = (publicUrl: string | undefined): boolean => /^https:\/\//i.test(publicUrl ?? '');

/**
 * Whether a raw request came over HTTPS exactly as express's `req.secure` decides it: a TLS socket,
 * or X-Forwarded-Proto (its first value) from a hop the app's `trust proxy` trusts.
 */
export function isHttpsRequest(req: IncomingMessage, app: Express): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  const trust = app.get('trust proxy fn') as ((addr: string, i: number) => boolean) | undefined;
  if (!trust?.(req.socket.remoteAddress ?? '', 0)) return false;
  const header = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0];
  return first?.trim() === 'https';
}

/**
 * The same headers for /api/docs, whose Swagger UI page carries inline <style> blocks: styles may be
 * inline there, scripts still may not.
 */
export function apiDocsHeaders(options: SecurityHeadersOptions = {}): RequestHandler {
  return withHsts(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { ...CSP_DIRECTIVES, styleSrc: ["'self'", "'unsafe-inline'"] },
      },
      crossOriginEmbedderPolicy: false,
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: false,
    }),
    options,
  );
}

export interface ApiRateLimitOptions {
  /** Requests allowed per window and key. */
  limit: number;
  windowMs: number;
  apiTokens: readonly string[];
  /** Where the counts live (default: this process). One store per limiter, never shared. */
  store?: Store;
}

const tokenKey = (token: string): string => `token:${createHash('sha256').update(token).digest('hex').slice(0, 32)}`;

/** The rate-limit key of a client address: the address, IPv6 per /56 (one subscriber's prefix). */
export const ipKey = (ip: string | undefined): string => `ip:${ipKeyGenerator(ip ?? 'unknown')}`;

/**
 * TRUST_PROXY is a deliberate setting here: express-rate-limit's start-up warnings about it (and
 * about X-Forwarded-For reaching a server that does not trust it) would only be noise.
 */
const VALIDATE = { trustProxy: false, xForwardedForHeader: false } as const;

const tooMany = (what: string): RequestHandler => {
  return (_req, res) => {
    sendError(
      res,
      new ApiError('rate_limited', `too many requests${what}; slow down and retry after the Retry-After delay`),
    );
  };
};

/**
 * Rate limit of /api: `limit` requests per `windowMs`, per valid API token, else per client IP
 * (IPv6 per /56). Beyond it: 429 with `{ error: { code: 'rate_limited' } }`, `Retry-After` and the
 * standard RateLimit headers. Long-lived SSE connections count once, when they open. Each call makes
 * its own budget (/metrics gets one apart from /api).
 */
export function apiRateLimit(options: ApiRateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs: options.windowMs,
    limit: options.limit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    validate: VALIDATE,
    ...(options.store ? { store: options.store } : {}),
    keyGenerator: (req) => {
      const token = extractToken(req.headers.authorization, req.query);
      if (token && options.apiTokens.length > 0 && tokenMatches(token, options.apiTokens)) return tokenKey(token);
      return `ip:${ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown')}`;
    },
    handler: tooMany(''),
  });
}

export interface IpRateLimitOptions {
  /** Requests allowed per window and client IP. */
  limit: number;
  windowMs?: number;
  /** Requests this limiter leaves alone (they have a limiter of their own). */
  skip?: (req: Parameters<RequestHandler>[0]) => boolean;
  /** Where the counts live (default: this process). One store per limiter, never shared. */
  store?: Store;
}

/** `limit` requests per window and client IP (as TRUST_PROXY resolves it); 429 JSON beyond. */
export function ipRateLimit(options: IpRateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs: options.windowMs ?? 60_000,
    limit: options.limit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    validate: VALIDATE,
    skip: options.skip,
    ...(options.store ? { store: options.store } : {}),
    keyGenerator: (req) => `ip:${ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown')}`,
    handler: tooMany(' from this address'),
  });
}

/**
 * Paths that have a limiter of their own: /api (but not its public description, /api/docs and
 * /api/openapi.json), /twilio/*, /metrics. Case-sensitive on purpose: the app's mounts are; a path
 * in other case (/API/calls) reaches no limited mount, so the public limit must count it. (Were the
 * mounts case-insensitive, such a path would only be counted twice: safe.)
 */
export const OWN_LIMITER_PATHS = /^\/(?:twilio(?:\/|$)|metrics\/?$|api(?:\/(?!docs(?:\/|$)|openapi\.json\/?$)|$))/;

/**
 * The per-IP limit of everything without a limiter of its own: /health, the dashboard and its
 * assets, the API's description, unknown paths. Register it first, for the whole app
 * (PUBLIC_RATE_LIMIT_PER_MIN).
 */
export function publicRateLimit(limit: number, windowMs = 60_000, store?: Store): RequestHandler {
  return ipRateLimit({ limit, windowMs, store, skip: (req) => OWN_LIMITER_PATHS.test(req.path) });
}

/**
 * The per-IP limit of Twilio's webhooks (WEBHOOK_RATE_LIMIT_PER_MIN): high, because Twilio sends
 * every call's webhooks from a few addresses. Mounted on /twilio in front of the signature check.
 */
export function webhookRateLimit(limit: number, windowMs = 60_000, store?: Store): RequestHandler {
  return ipRateLimit({ limit, windowMs, store });
}

/**
 * A fixed-window limiter of WebSocket upgrades per client IP, for the server's `upgrade` handler
 * (express middleware never sees upgrades). Returns `allow(ip)`: true when the upgrade may go on,
 * false when this IP has used its `limit` for the current window (the upgrade gate answers 429).
 * IPv6 addresses count per /56. Memory is one counter per address seen in the current window.
 * (Shared by the instances: clusterUpgradeRateLimiter in src/cluster/redis/upgrade-limiter.ts.)
 */
export function upgradeRateLimiter(options: {
  limit: number;
  windowMs?: number;
  now?: () => number;
}): (ip: string | undefined) => boolean {
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  let windowStart = now();
  let counts = new Map<string, number>();
  return (ip) => {
    const t = now();
    if (t - windowStart >= windowMs) {
      windowStart = t;
      counts = new Map();
    }
    const key = ipKey(ip);
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    return n <= options.limit;
  };
}

/**
 * The client IP of a raw request (an upgrade) exactly as Express computes req.ip: the socket's
 * address, then X-Forwarded-For from right to left while the app's `trust proxy` trusts the hop.
 */
export function clientIpOf(req: IncomingMessage, app: Express): string | undefined {
  const trust = app.get('trust proxy fn') as ((addr: string, i: number) => boolean) | undefined;
  const addrs: string[] = [req.socket.remoteAddress ?? ''];
  const header = req.headers['x-forwarded-for'];
  if (trust && header) {
    const list = (Array.isArray(header) ? header.join(',') : header).split(',').map((a) => a.trim());
    addrs.push(...list.reverse().filter(Boolean));
  }
  for (let i = 0; i < addrs.length - 1; i++) if (!trust?.(addrs[i], i)) return addrs[i] || undefined;
  return addrs[addrs.length - 1] || undefined;
}

/** The `trust proxy` value for Express from TRUST_PROXY (a fresh array: Express may keep it). */
export function trustProxySetting(value: boolean | number | readonly string[]): boolean | number | string[] {
  return typeof value === 'boolean' || typeof value === 'number' ? value : [...value];
}

export interface ServerTimeouts {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/**
 * Options of http.createServer against slow clients. Node enforces them on the request only, not
 * on the response: `headersTimeout` (all headers received; a slowloris trickling header lines is
 * cut off), `requestTimeout` (the whole request, body included, received), both checked every
 * `connectionsCheckingInterval`; `keepAliveTimeout` closes an idle kept-alive connection. An SSE
 * response may stream for hours (its request was received at once), and an upgraded WebSocket
 * leaves the HTTP parser, so neither is cut by them.
 */
export function httpServerOptions(t: ServerTimeouts): {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    headersTimeout: t.headersTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    keepAliveTimeout: t.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(t.headersTimeoutMs / 4))),
  };
}
