/**
 * The API's cluster routes (docs/scaling.md):
 * - GET /api/calls/active: every live call of the cluster with the instance that holds it (the union
 *   over instances, from the call leases; one instance: its own calls);
 * - a supervisor's action on a call held by another instance (POST /api/calls/:id/whisper and
 *   /take-over) is routed to that instance over NATS and answered with its response: the owner replays
 *   the request on its own loopback port, through the same authentication, roles and validation, so
 *   a routed action means exactly what it means on the owner. A replayed request carries
 *   `x-switchboard-forwarded` and is never routed again (no loops; a forged header only makes the
 *   receiving instance answer for itself).
 * Listening in is a stream of audio and is not routed: it is served by the instance holding the call.
 */
import http from 'node:http';
import { Router, type Request, type Response } from 'express';
import { ActionRoutingError, type CallActionRequest } from '../cluster/actions';
import type { ClusterActions } from '../cluster/nats/actions';
import type { CallOwnership } from '../cluster/ownership';
import type { CallBridge } from '../calls/call-bridge';
import type { Logger } from '../logging/logger';

export const FORWARDED_HEADER = 'x-switchboard-forwarded';
/** Largest body of a routed action (the routes' own limits are smaller). */
const MAX_ROUTED_BODY = 64 * 1024;
const ROUTED = /^\/calls\/([A-Za-z0-9_-]{1,64})\/(whisper|take-over)$/;

interface RoutedHttp {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

interface RoutedReply {
  status: number;
  contentType: string | undefined;
  body: string;
}

export interface ClusterRoutesDeps {
  ownership: CallOwnership;
  actions: ClusterActions | undefined;
  bridge: Pick<CallBridge, 'get'>;
  logger: Logger;
}

const STATUS_OF: Record<string, number> = {
  'no-owner': 404,
  'not-found': 404,
  invalid: 400,
  'owner-unreachable': 503,
  'not-ready': 503,
  timeout: 504,
};

function readBody(req: Request, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function createClusterRouter(deps: ClusterRoutesDeps): Router {
  const router = Router({ caseSensitive: true, strict: true });

  router.get('/calls/active', async (_req, res) => {
    const leases = await deps.ownership.leases();
    res.json({
      items: leases
        .map((l) => ({ id: l.callId, instanceId: l.instanceId, claimedAt: new Date(l.claimedAt).toISOString() }))
        .sort((a, b) => a.claimedAt.localeCompare(b.claimedAt)),
      instanceId: deps.ownership.instanceId,
    });
  });

  router.post(ROUTED, async (req: Request, res: Response, next) => {
    const actions = deps.actions;
    const callId = ROUTED.exec(req.path)![1];
    if (!actions || deps.bridge.get(callId) || req.headers[FORWARDED_HEADER] !== undefined) return next();
    const owner = await deps.ownership.ownerOf(callId);
    if (!owner || owner === deps.ownership.instanceId) return next();
    const body = await readBody(req, MAX_ROUTED_BODY);
    if (body === undefined) {
      res.status(413).json({ error: 'payload_too_large', message: 'request body too large' });
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'content-type']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const routed: RoutedHttp = { method: 'POST', path: req.originalUrl, headers, body };
    try {
      const reply = (await actions.routeActionTo(owner, callId, 'http', { ...routed })) as RoutedReply;
      res.status(reply.status);
      if (reply.contentType) res.type(reply.contentType);
      res.send(reply.body);
    } catch (err) {
      const code = err instanceof ActionRoutingError ? err.code : 'action-failed';
      deps.logger.warn('routed call action failed', { callId, owner, code });
      res.status(STATUS_OF[code] ?? 500).json({ error: code, message: (err as Error).message });
    }
  });

  return router;
}

/**
 * The owner's side of a routed HTTP action: the request replayed on this instance's own port (with
 * the forwarded header), its status, type and body sent back.
 */
export function replayRoutedRequest(port: () => number | undefined, request: CallActionRequest): Promise<RoutedReply> {
  const routed = request.args as Partial<RoutedHttp>;
  const target = port();
  if (
    !target ||
    routed.method !== 'POST' ||
    typeof routed.path !== 'string' ||
    !routed.path.startsWith('/api/calls/') ||
    typeof routed.body !== 'string'
  ) {
    return Promise.reject(new ActionRoutingError('invalid', 'not a routable request'));
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: target,
        method: 'POST',
        path: routed.path,
        headers: { ...(routed.headers ?? {}), [FORWARDED_HEADER]: request.from },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 502,
            contentType: res.headers['content-type'],
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(routed.body);
  });
}
