/**
 * The webhook lane: the telephony providers' call webhooks (Twilio's voice webhook, status callbacks
 * and <Connect action>; Telnyx's voice, status and stream-ended) answered on node's own request and
 * response, in front of express. Every call
 * brings three or more of them, each a chunk of main-thread time that delays the frames of every
 * other call; express's layers (router, request and response prototypes, query parser, send) cost
 * ~0.4 ms of each (docs/benchmarks/bridge.md, "The webhook lane").
 *
 * The lane takes only what it owns: a POST whose path (before any query) is exactly one of its
 * routes' (case-sensitive, no trailing slash, no other spelling). Everything else, other spellings
 * of the same paths included, goes to express as before, where the same limiter counts it and the
 * 404 answers it. For its own requests the lane does what the express stack did, in the same order
 * and with the same answers: the security headers, the channel's webhook rate limiter (the same
 * express-rate-limit instance, so one budget per client whatever the path), a body of at most 32 KB
 * (a form: 200 fields), the channel's credential check (on the parsed form, or on the raw bytes),
 * the route, and ApiError JSON on any error.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logging/logger';
import { ApiError, sendError } from './errors';

/** A form's fields; a repeated field keeps its values in order. No prototype: `__proto__` is a field. */
export type FormFields = Record<string, string | string[]>;

export interface WebhookRequest {
  /** The request target as received, path and query (what a provider signs after PUBLIC_URL). */
  readonly url: string;
  /** The path, without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The form body (empty when the request carried none, or another media type). */
  readonly body: FormFields;
  /** The body's bytes as received (what a provider may sign, e.g. Telnyx's Ed25519). */
  readonly raw: Buffer;
}

export interface WebhookReply {
  /** Default 200. */
  readonly status?: number;
  readonly contentType: string;
  readonly body: string;
}

export type WebhookRoute = (req: WebhookRequest) => WebhookReply | Promise<WebhookReply>;

/** A channel's webhooks for the lane. */
export interface WebhookRoutes {
  /** POST routes by exact path under the channel's mount ('/incoming-call'). */
  readonly post: Readonly<Record<string, WebhookRoute>>;
  /** Checks the request's credential once its body is parsed; throws an ApiError to refuse it. */
  authenticate?(req: WebhookRequest): void;
}

/** Express-style middleware (express-rate-limit's): it calls next() to go on, or answers itself. */
export type LaneMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => unknown;

export interface WebhookMount {
  /** Where the routes live ('/twilio'). */
  readonly mount: string;
  readonly routes: WebhookRoutes;
  /** The rate limiter of the mount (the instance express uses for the mount's other paths). */
  readonly limiter: LaneMiddleware;
}

export interface WebhookLaneOptions {
  readonly mounts: readonly WebhookMount[];
  /** Headers every answer carries (security headers), worked out once. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Extra headers for this request (Strict-Transport-Security over HTTPS). */
  readonly requestHeaders?: (req: IncomingMessage) => ReadonlyArray<readonly [string, string]>;
  /** The client's address as express's `req.ip` would give it (TRUST_PROXY); the limiter keys on it. */
  readonly clientIp: (req: IncomingMessage) => string | undefined;
  readonly logger: Logger;
  /** Default 32 KB and 200 fields (a Twilio webhook is ~1 KB and ~25 fields). */
  readonly maxBodyBytes?: number;
  readonly maxFields?: number;
}

/** Returns true when it took the request (and answers it), false when express should have it. */
export type WebhookLane = (req: IncomingMessage, res: ServerResponse) => boolean;

interface Bound {
  readonly route: WebhookRoute;
  readonly mount: WebhookMount;
}

const FORM = /^\s*application\/x-www-form-urlencoded\s*(?:;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

export function createWebhookLane(options: WebhookLaneOptions): WebhookLane {
  const maxBytes = options.maxBodyBytes ?? 32 * 1024;
  const maxFields = options.maxFields ?? 200;
  const routes = new Map<string, Bound>();
  for (const mount of options.mounts) {
    for (const [path, route] of Object.entries(mount.routes.post)) {
      if (!path.startsWith('/') || path.endsWith('/')) throw new Error(`webhook path "${path}" is invalid`);
      routes.set(`${mount.mount}${path}`, { route, mount });
    }
  }

  const fail = (res: ServerResponse, err: unknown, path: string): void => {
    if (res.headersSent || res.destroyed) return;
    if (err instanceof ApiError) {
      sendError(res, err);
      return;
    }
    const e = err as Error;
    options.logger.error('unhandled error in request', { method: 'POST', path, error: e?.message, stack: e?.stack });
    sendError(res, new ApiError('internal', 'internal server error'));
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, bound: Bound, url: string, path: string) => {
    const read = await readBody(req, res, maxBytes, maxFields);
    if (!read) return; // the client went away, or an error was answered
    const q = url.indexOf('?');
    const request: WebhookRequest = {
      url,
      path,
      query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
      headers: req.headers,
      body: read.body,
      raw: read.raw,
    };
    bound.mount.routes.authenticate?.(request);
    const reply = await bound.route(request);
    if (res.destroyed) return;
    res.statusCode = reply.status ?? 200;
    res.setHeader('Content-Type', reply.contentType);
    res.setHeader('Content-Length', Buffer.byteLength(reply.body));
    res.end(reply.body);
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const bound = routes.get(path);
    if (!bound) return false;
    for (const [name, value] of options.headers) res.setHeader(name, value);
    if (options.requestHeaders) for (const [name, value] of options.requestHeaders(req)) res.setHeader(name, value);
    // express-rate-limit keys on req.ip (express's getter, absent on node's request).
    Object.defineProperty(req, 'ip', { value: options.clientIp(req), configurable: true });
    try {
      bound.mount.limiter(req, res, (err) => {
        if (err) fail(res, err, path);
        else answer(req, res, bound, url, path).catch((e: unknown) => fail(res, e, path));
      });
    } catch (err) {
      fail(res, err, path);
    }
    return true;
  };
}

/**
 * A refused body is read off and dropped before the answer, up to this many bytes and this long (as
 * body-parser and nginx's lingering close do): closing with the client's bytes unread resets the
 * connection, and a client still sending then loses the answer ("write EPIPE"). Past either bound
 * the answer goes at once and the connection closes.
 */
const DRAIN_BYTES = 8 * 1024 * 1024;
const DRAIN_MS = 3_000;

/** Answers `error` (the connection then closed) once the request's body is read off, within the bounds above. */
function refuseAfterBody(req: IncomingMessage, res: ServerResponse, error: ApiError): void {
  let drained = 0;
  let timer: NodeJS.Timeout | undefined;
  const answer = (): void => {
    res.setHeader('Connection', 'close');
    sendError(res, error);
  };
  const settle = (answered: boolean): void => {
    if (timer === undefined) return;
    clearTimeout(timer);
    timer = undefined;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onGone);
    req.off('close', onGone);
    if (answered && !res.headersSent && !res.destroyed) answer();
  };
  const onData = (chunk: Buffer): void => {
    drained += chunk.length;
    if (drained > DRAIN_BYTES) settle(true);
  };
  const onEnd = (): void => settle(true);
  const onGone = (): void => settle(false);
  const declared = Number(req.headers['content-length']);
  if (req.readableEnded || declared > DRAIN_BYTES) {
    answer();
    return;
  }
  timer = setTimeout(onEnd, DRAIN_MS);
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onGone);
  req.on('close', onGone);
  req.resume();
}

/**
 * Reads a body of at most `maxBytes` (413 beyond), not compressed (415), and parses it when it is a
 * form: utf-8 only (415 otherwise), at most `maxFields` (413). Another media type (or none) gives an
 * empty form, as express's parser leaves it; its bytes stay in `raw`. A refused body is never kept:
 * it is read off and dropped before the answer (refuseAfterBody). Resolves undefined when the client
 * went away or an error was answered.
 */
function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  maxBytes: number,
  maxFields: number,
): Promise<{ body: FormFields; raw: Buffer } | undefined> {
  const type = req.headers['content-type'];
  const form = type !== undefined && FORM.test(type);
  const refuse = (error: ApiError): undefined => {
    refuseAfterBody(req, res, error);
    return undefined;
  };
  if (form) {
    const charset = CHARSET.exec(type)?.[1]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8') {
      return Promise.resolve(refuse(new ApiError('unsupported_media_type', `unsupported charset "${charset}"`)));
    }
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    return Promise.resolve(
      refuse(new ApiError('unsupported_media_type', 'compressed request bodies are not accepted')),
    );
  }
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes)
    return Promise.resolve(refuse(new ApiError('payload_too_large', 'request body is too large')));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: { body: FormFields; raw: Buffer } | undefined): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('aborted', onGone);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        finish(refuse(new ApiError('payload_too_large', 'request body is too large')));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      if (!form) {
        finish({ body: Object.create(null) as FormFields, raw });
        return;
      }
      const body = parseForm(raw, maxFields);
      finish(body ? { body, raw } : refuse(new ApiError('payload_too_large', `more than ${maxFields} form fields`)));
    };
    const onGone = (): void => finish(undefined);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('aborted', onGone);
  });
}

/** application/x-www-form-urlencoded → fields (a repeated name: its values in order); null past `maxFields`. */
export function parseForm(raw: Buffer, maxFields: number): FormFields | null {
  const fields = Object.create(null) as FormFields;
  let count = 0;
  for (const [name, value] of new URLSearchParams(raw.toString('utf8'))) {
    if (++count > maxFields) return null;
    const seen = fields[name];
    if (seen === undefined) fields[name] = value;
    else if (typeof seen === 'string') fields[name] = [seen, value];
    else seen.push(value);
  }
  return fields;
}
