/**
 * Supervisor actions on live calls, under /api behind the token check:
 *   POST /api/calls/:id/whisper   {"text": string}  (supervisor or admin): guidance for the agent
 *   GET  /api/calls/:id/listen    (supervisor or admin): the call's live audio (listen-routes.ts)
 *   POST /api/calls/:id/take-over {"action": "transfer"|"end"|"softphone", "destination"?, "sdp"?}
 *        (supervisor or admin): transfer with the AI's summary of the call, end it politely
 *        (src/supervision/take-over.ts), or take it in the supervisor's own browser softphone with the
 *        WebRTC offer `sdp` (answered in the response; src/supervision/take-over-softphone.ts). One
 *        take-over per call: a second one gets 409.
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
import {
  claimTakeOver,
  releaseTakeOver,
  takeOverEnd,
  takeOverTransfer,
  transferTarget,
} from '../supervision/take-over';
import { takeOverSoftphone } from '../supervision/take-over-softphone';
import { MAX_SDP_CHARS, OfferError, offerProblem, type AnswerOptions } from '../channels/webrtc/peer';
import type { WebCallsRouter } from '../channels/webrtc/routes';

/** Largest body of a supervisor action (a whisper is at most 1000 characters). */
export const MAX_SUPERVISION_BODY_BYTES = 16 * 1024;
/** Largest take-over body (a softphone take-over carries an SDP offer of up to MAX_SDP_CHARS). */
export const MAX_TAKE_OVER_BODY_BYTES = MAX_SDP_CHARS + 1024;

export interface SupervisionRoutesDeps {
  bridge: Pick<CallBridge, 'get'>;
  bus: EventBus;
  tokens: readonly ApiTokenEntry[];
  /** Peer connection options of softphone take-overs (ICE servers; WEBRTC_ICE_SERVERS). */
  peer?: AnswerOptions;
  /** The web calls (src/channels/webrtc): a softphone take-over takes one of WEBRTC_MAX_CALLS. */
  webCalls?: Pick<WebCallsRouter, 'active' | 'maxCalls'>;
}

export function createSupervisionRouter(deps: SupervisionRoutesDeps): Router {
  const router = Router({ strict: false, caseSensitive: false });
  const json = express.json({ limit: MAX_SUPERVISION_BODY_BYTES });
  const takeOverJson = express.json({ limit: MAX_TAKE_OVER_BODY_BYTES });
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
  router.post('/calls/:id/take-over', supervisor, takeOverJson, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body))
      throw new ApiError('invalid_body', 'body must be a JSON object');
    const { action, destination, sdp } = body;
    if (action !== 'transfer' && action !== 'end' && action !== 'softphone')
      throw ApiError.invalid('action', 'must be transfer, end or softphone');
    if (destination !== undefined && (typeof destination !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(destination)))
      throw ApiError.invalid('destination', 'must be the name of a configured transfer destination');
    if (action === 'softphone') {
      const problem = offerProblem(sdp);
      if (problem) throw ApiError.invalid('sdp', `the softphone's WebRTC offer ${problem}`);
      if (deps.webCalls && deps.webCalls.active.size >= deps.webCalls.maxCalls) {
        res.setHeader('Retry-After', '5');
        throw new ApiError('unavailable', 'too many web calls at once (WEBRTC_MAX_CALLS); try again shortly');
      }
    }
    const conversation = deps.bridge.get(String(req.params.id));
    if (!conversation || !conversation.streaming) throw ApiError.notFound('live call');
    const actor = res.locals.actor as Actor;
    const earlier = claimTakeOver(conversation, actor, action);
    if (earlier)
      throw new ApiError('conflict', `this call was already taken over (${earlier.action}) by ${earlier.by}`);
    if (action === 'softphone') {
      let taken;
      try {
        taken = await takeOverSoftphone(conversation, actor, sdp as string, deps.peer, deps.webCalls?.active);
      } catch (err) {
        releaseTakeOver(conversation);
        if (err instanceof OfferError) throw ApiError.invalid('sdp', err.message.replace(/^sdp /, ''));
        throw err;
      }
      res.status(202).json({
        callId: conversation.callId,
        action,
        by: actor.name,
        summary: taken.summary,
        summarySource: taken.summarySource,
        type: 'answer',
        sdp: taken.sdp,
      });
      return;
    }
    if (action === 'end') {
      takeOverEnd(conversation, actor);
      res.status(202).json({ callId: conversation.callId, action, by: actor.name });
      return;
    }
    const target = transferTarget(conversation, destination);
    if (!target) releaseTakeOver(conversation);
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
