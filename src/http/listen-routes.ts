/**
 * GET /api/calls/:id/listen?side=both|caller|agent (supervisor or admin token): the live call's
 * audio as a chunked stream of `audio/L16; rate=8000; channels=1` (src/supervision/listen.ts) until
 * the listener disconnects, falls too far behind (dropped) or the call ends. At most 10 listeners per
 * call (429 beyond). Each listen is on the call's timeline (`supervisor.listen.started` / `.stopped`).
 */
import { Router } from 'express';
import type { CallBridge } from '../calls/call-bridge';
import type { Conversation } from '../conversation/conversation';
import type { EventBus } from '../events/event-bus';
import { ApiError } from './errors';
import { requireRole, type Actor } from '../supervision/role-guard';
import type { ApiTokenEntry } from '../supervision/roles';
import {
  CallListenTap,
  LISTEN_CONTENT_TYPE,
  LISTEN_SIDES,
  MAX_LISTENERS_PER_CALL,
  type Listener,
  type ListenSide,
} from '../supervision/listen';

export interface ListenRoutesDeps {
  bridge: Pick<CallBridge, 'get'>;
  bus: EventBus;
  tokens: readonly ApiTokenEntry[];
}

export function createListenRouter(deps: ListenRoutesDeps): Router {
  const router = Router({ strict: false, caseSensitive: false });
  const taps = new Map<string, { tap: CallListenTap; conversation: Conversation }>();
  deps.bus.subscribe((event) => {
    if (event.type !== 'call.ended') return;
    const entry = taps.get(event.data.call.id);
    if (!entry) return;
    for (const l of [...entry.tap.listeners]) {
      entry.tap.remove(l, 'call-ended');
      l.res.end();
    }
  });

  router.get('/calls/:id/listen', requireRole('supervisor', deps.tokens), (req, res) => {
    const side = (req.query.side ?? 'both') as ListenSide;
    if (typeof side !== 'string' || !(LISTEN_SIDES as readonly string[]).includes(side))
      throw ApiError.invalid('side', `must be one of ${LISTEN_SIDES.join(', ')}`);
    const conversation = deps.bridge.get(String(req.params.id));
    if (!conversation || !conversation.streaming || !conversation.channel?.format)
      throw ApiError.notFound('live voice call');
    let entry = taps.get(conversation.callId);
    if (!entry) {
      entry = { tap: new CallListenTap(), conversation };
      taps.set(conversation.callId, entry);
    }
    const { tap } = entry;
    if (tap.listeners.size >= MAX_LISTENERS_PER_CALL)
      throw new ApiError('rate_limited', `at most ${MAX_LISTENERS_PER_CALL} listeners per call`);
    const actor = res.locals.actor as Actor;
    res.status(200);
    res.setHeader('Content-Type', LISTEN_CONTENT_TYPE);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    const listener: Listener = {
      res,
      side,
      by: actor.name,
      startedAt: Date.now(),
      onEnd: (reason) => {
        conversation.addEvent('supervisor.listen.stopped', {
          by: actor.name,
          side,
          reason,
          durationMs: Date.now() - listener.startedAt,
        });
        if (tap.listeners.size === 0) {
          if (conversation.audioTap === tap) conversation.audioTap = undefined;
          taps.delete(conversation.callId);
        }
      },
    };
    const first = tap.listeners.size === 0;
    tap.add(listener);
    if (first) {
      // What the caller has still to hear of the agent (already sent to the channel) is heard here too.
      const format = conversation.channel.format;
      for (const u of conversation.playout?.unplayedAudio(conversation.callerClockMs) ?? [])
        tap.agent(u.chunk, format, u.playAtMs);
    }
    conversation.audioTap = tap;
    conversation.addEvent('supervisor.listen.started', { by: actor.name, side });
    conversation.log.info('supervisor listening', { by: actor.name, side });
    res.on('close', () => tap.remove(listener, 'client'));
  });
  return router;
}
