/**
 * /api/webhooks (admin tokens only): outgoing webhook subscriptions (src/supervision/webhooks.ts).
 *   GET    /api/webhooks                      the subscriptions (secrets never shown again)
 *   POST   /api/webhooks {"url","events"}     201 with the subscription and its signing secret (shown once)
 *   DELETE /api/webhooks/:id                  204; 404 when unknown
 *   GET    /api/webhooks/:id/deliveries       the last 100 delivery attempts
 */
import express, { Router } from 'express';
import { ApiError } from './errors';
import { requireRole } from '../supervision/role-guard';
import type { ApiTokenEntry } from '../supervision/roles';
import {
  MAX_SUBSCRIPTIONS,
  WEBHOOK_EVENTS,
  type Subscription,
  type WebhookEvent,
  type Webhooks,
} from '../supervision/webhooks';

export interface WebhooksRoutesDeps {
  webhooks: Webhooks;
  tokens: readonly ApiTokenEntry[];
  /** Production refuses http:// receivers (signed, but readable on the way). */
  requireHttps: boolean;
}

const publicView = ({ secret: _secret, ...rest }: Subscription): Omit<Subscription, 'secret'> => rest;

export function createWebhooksRouter(deps: WebhooksRoutesDeps): Router {
  const router = Router({ strict: false, caseSensitive: false });
  const admin = requireRole('admin', deps.tokens);
  const json = express.json({ limit: 8 * 1024 });
  const { webhooks } = deps;

  router.get('/webhooks', admin, (_req, res) => {
    res.json({ subscriptions: webhooks.list().map(publicView) });
  });

  router.post('/webhooks', admin, json, (req, res) => {
    const body = req.body as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new ApiError('invalid_body', 'body must be a JSON object');
    const { url, events } = body;
    if (typeof url !== 'string' || url.length > 2048)
      throw ApiError.invalid('url', 'must be a URL string (≤ 2048 chars)');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw ApiError.invalid('url', 'must be an absolute http(s) URL');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
      throw ApiError.invalid('url', 'must be an absolute http(s) URL');
    if (deps.requireHttps && parsed.protocol !== 'https:') throw ApiError.invalid('url', 'must be https in production');
    if (parsed.username || parsed.password) throw ApiError.invalid('url', 'must not carry credentials');
    if (
      !Array.isArray(events) ||
      events.length === 0 ||
      !events.every((e) => typeof e === 'string' && (WEBHOOK_EVENTS as readonly string[]).includes(e))
    )
      throw ApiError.invalid('events', `must be a non-empty list of ${WEBHOOK_EVENTS.join(', ')}`);
    if (webhooks.list().length >= MAX_SUBSCRIPTIONS)
      throw ApiError.invalid('url', `at most ${MAX_SUBSCRIPTIONS} subscriptions`);
    const sub = webhooks.add(parsed.toString(), events as WebhookEvent[]);
    res.status(201).json(sub);
  });

  router.delete('/webhooks/:id', admin, (req, res) => {
    if (!webhooks.remove(String(req.params.id))) throw ApiError.notFound('webhook subscription');
    res.status(204).end();
  });

  router.get('/webhooks/:id/deliveries', admin, (req, res) => {
    const s = webhooks.get(String(req.params.id));
    if (!s) throw ApiError.notFound('webhook subscription');
    res.json({ deliveries: [...s.log].reverse(), queued: s.queue.length, dropped: s.dropped });
  });
  return router;
}
