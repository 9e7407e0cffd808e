/**
 * POST /api/calls/outbound {to, agent?, metadata?, contactName?, businessName?, userId?, variables?,
 * message?} with an optional Idempotency-Key header: places a call through Twilio whose answer is
 * bridged to the agent like an inbound call. Mounted under /api behind the token check; placing
 * calls costs money, so it is refused outright while API_TOKENS is empty (an open API).
 */
import express, { Router } from 'express';
import type { OutboundCalls } from '../calls/outbound-calls';
import { OutboundCallError } from '../calls/outbound-calls';
import { E164_PATTERN } from '../agent/profiles';
import { ApiError } from './errors';
import { parsePersonalisation, PersonalisationError } from '../campaigns/personalisation';
import { IdempotencyConflict, IdempotencyKeys, IDEMPOTENCY_KEY } from '../campaigns/idempotency';
import type { Call } from '../generated/prisma/client';

const MAX_METADATA_CHARS = 4096;
const MAX_METADATA_KEYS = 20;

export interface OutboundRouteDeps {
  outbound: OutboundCalls;
  apiTokens: readonly string[];
}

/** The full answer about a placed call (also what a replayed Idempotency-Key gets). */
function callResponse(call: Call, metadata: Record<string, unknown> | undefined, mode: string) {
  return {
    call: {
      id: call.id,
      callSid: call.callSid,
      providerCallId: call.callSid,
      direction: call.direction,
      agent: call.agent,
      status: call.status,
      to: call.to,
      from: call.from,
      startedAt: call.startedAt,
      mode,
      metadata: metadata ?? {},
    },
  };
}

export function createOutboundRouter(deps: OutboundRouteDeps): Router {
  const router = Router();
  const idempotency = new IdempotencyKeys<ReturnType<typeof callResponse>>();
  router.post('/calls/outbound', express.json({ limit: '16kb' }), async (req, res) => {
    if (deps.apiTokens.length === 0) {
      throw new ApiError('forbidden', 'placing calls requires API_TOKENS to be configured');
    }
    const body = req.body as unknown;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new ApiError('invalid_body', 'the body must be a JSON object');
    }
    const idempotencyKey = req.get('Idempotency-Key');
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw ApiError.invalid('Idempotency-Key', 'must be 8-128 characters of A-Z a-z 0-9 _ . : -');
    }
    const { to, agent, metadata, contactName, businessName, userId, variables, message, ...rest } = body as Record<
      string,
      unknown
    >;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) throw ApiError.invalid(unknown, 'is not a known field');
    if (typeof to !== 'string' || !E164_PATTERN.test(to)) {
      throw ApiError.invalid('to', 'must be an E.164 phone number such as +15551234567');
    }
    if (agent !== undefined && (typeof agent !== 'string' || agent.length === 0 || agent.length > 40)) {
      throw ApiError.invalid('agent', 'must be the name of an agent profile');
    }
    if (metadata !== undefined) {
      if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) {
        throw ApiError.invalid('metadata', 'must be a JSON object');
      }
      if (Object.keys(metadata).length > MAX_METADATA_KEYS) {
        throw ApiError.invalid('metadata', `must have at most ${MAX_METADATA_KEYS} keys`);
      }
      if (JSON.stringify(metadata).length > MAX_METADATA_CHARS) {
        throw ApiError.invalid('metadata', `must be at most ${MAX_METADATA_CHARS} characters of JSON`);
      }
    }
    let personalisation;
    try {
      personalisation = parsePersonalisation({ contactName, businessName, userId, variables, message });
    } catch (err) {
      if (err instanceof PersonalisationError)
        throw ApiError.invalid(err.field, err.message.slice(err.field.length + 2));
      throw err;
    }
    const personalised = Object.keys(personalisation).length > 0;
    const place = async () => {
      const call = await deps.outbound.place({
        to,
        agent: agent as string | undefined,
        metadata: metadata as Record<string, unknown> | undefined,
        personalisation: personalised ? personalisation : undefined,
      });
      return callResponse(
        call,
        metadata as Record<string, unknown> | undefined,
        message !== undefined ? 'message' : 'conversation',
      );
    };
    try {
      if (idempotencyKey === undefined) {
        res.status(201).json(await place());
        return;
      }
      const { value, replayed } = await idempotency.once(idempotencyKey, body, place);
      res.setHeader('Idempotency-Replayed', String(replayed));
      res.status(replayed ? 200 : 201).json(value);
    } catch (err) {
      if (err instanceof IdempotencyConflict) throw new ApiError('conflict', err.message);
      if (!(err instanceof OutboundCallError)) throw err;
      if (err.code === 'unknown_agent') throw ApiError.invalid('agent', err.message);
      if (err.code === 'rejected') throw new ApiError('invalid_body', err.message);
      throw new ApiError('unavailable', err.message);
    }
  });
  return router;
}
