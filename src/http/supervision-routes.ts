/**
 * Supervisor actions on live calls, under /api behind the token check:
 *   POST /api/calls/:id/whisper   {"text": string}  (supervisor or admin): guidance for the agent
 *   GET  /api/calls/:id/listen    (supervisor or admin): the call's live audio (listen-routes.ts)
 * The call must be live on this instance (404 otherwise).
 */
import express, { Router } from 'express';
import type { CallBridge } from '../calls/call-bridge';
import type { EventBus } from '../events/event-bus';
import { ApiError } from './errors';
import { requireRole, type Actor } from '../supervision/role-guard';
import type { ApiTokenEntry } from '../supervision/roles';
import { cleanWhisper, whisper } from '../supervision/whisper';
import { createListenRouter } from './listen-routes';

/** Largest body of a supervisor action (a whisper is at most 1000 characters). */
export const MAX_SUPERVISION_BODY_BYTES = 16 * 1024;

export interface SupervisionRoutesDeps {
  bridge: Pick<CallBridge, 'get'>;
  bus: EventBus;
  tokens: readonly ApiTokenEntry[];
}

export function createSupervisionRouter(deps: SupervisionRoutesDeps): Router {
  const router = Router({ strict: false, caseSensitive: false });
  const json = express.json({ limit: MAX_SUPERVISION_BODY_BYTES });
  const supervisor = requireRole('supervisor', deps.tokens);

  router.post('/calls/:id/whisper', supervisor, json, (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body))
      throw new ApiError('invalid_body', 'body must be a JSON object');
    const checked = cleanWhisper(body.text);
    if ('error' in checked) throw ApiError.invalid('text', checked.error);
    const conversation = deps.bridge.get(String(req.params.id));
    if (!conversation || !conversation.active) throw ApiError.notFound('live call');
    const actor = res.locals.actor as Actor;
    const { offsetMs } = whisper(conversation, deps.bus, actor, checked.text);
    res.status(202).json({ callId: conversation.callId, by: actor.name, offsetMs });
  });
  // Listen in (a streamed GET): src/http/listen-routes.ts.
  router.use(createListenRouter(deps));
  return router;
}
