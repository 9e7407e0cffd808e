/**
 * Supervisor actions on live calls, under /api behind the token check:
 *   POST /api/calls/:id/whisper   {"text": string}  (supervisor or admin): guidance for the agent
 *   GET  /api/calls/:id/listen    (supervisor or admin): the call's live audio (listen-routes.ts)
 *   POST /api/calls/:id/take-over {"action": "transfer"|"end", "destination"?}  (supervisor or admin):
 *        transfer with the AI's summary of the call, or end it politely (src/supervision/take-over.ts)
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
import { takeOverEnd, takeOverTransfer, transferTarget } from '../supervision/take-over';

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
  router.post('/calls/:id/take-over', supervisor, json, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body))
      throw new ApiError('invalid_body', 'body must be a JSON object');
    const { action, destination } = body;
    if (action !== 'transfer' && action !== 'end') throw ApiError.invalid('action', 'must be transfer or end');
    if (destination !== undefined && (typeof destination !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(destination)))
      throw ApiError.invalid('destination', 'must be the name of a configured transfer destination');
    const conversation = deps.bridge.get(String(req.params.id));
    if (!conversation || !conversation.streaming) throw ApiError.notFound('live call');
    const actor = res.locals.actor as Actor;
    if (action === 'end') {
      takeOverEnd(conversation, actor);
      res.status(202).json({ callId: conversation.callId, action, by: actor.name });
      return;
    }
    const target = transferTarget(conversation, destination);
    if (!target)
      throw ApiError.invalid(
        'destination',
        'no such transfer destination (configure TRANSFER_NUMBER or transferTargets in AGENT_PROFILES_FILE)',
      );
    const name = destination ?? conversation.deps.profile.defaultTransferTarget ?? 'default';
    const { summary, source } = await takeOverTransfer(conversation, actor, name, target);
    res
      .status(202)
      .json({ callId: conversation.callId, action, destination: name, by: actor.name, summary, summarySource: source });
  });

  // Listen in (a streamed GET): src/http/listen-routes.ts.
  router.use(createListenRouter(deps));
  return router;
}
