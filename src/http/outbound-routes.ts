/**
 * POST /api/calls/outbound {to, agent?, metadata?}: places a call through Twilio whose answer is
 * bridged to the agent like an inbound call. Mounted under /api behind the token check; placing
 * calls costs money, so it is refused outright while API_TOKENS is empty (an open API).
 */
import express, { Router } from 'express';
import type { OutboundCalls } from '../calls/outbound-calls';
import { OutboundCallError } from '../calls/outbound-calls';
import { E164_PATTERN } from '../agent/profiles';
import { ApiError } from './errors';

const MAX_METADATA_CHARS = 4096;
const MAX_METADATA_KEYS = 20;

export interface OutboundRouteDeps {
  outbound: OutboundCalls;
  apiTokens: readonly string[];
}

export function createOutboundRouter(deps: OutboundRouteDeps): Router {
  const router = Router();
  router.post('/calls/outbound', express.json({ limit: '16kb' }), async (req, res) => {
    if (deps.apiTokens.length === 0) {
      throw new ApiError('forbidden', 'placing calls requires API_TOKENS to be configured');
    }
    const body = req.body as unknown;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new ApiError('invalid_body', 'the body must be a JSON object');
    }
    const { to, agent, metadata, ...rest } = body as Record<string, unknown>;
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
    try {
      const call = await deps.outbound.place({
        to,
        agent: agent as string | undefined,
        metadata: metadata as Record<string, unknown> | undefined,
      });
      res.status(201).json({
        call: {
          id: call.id,
          callSid: call.callSid,
          direction: call.direction,
          agent: call.agent,
          status: call.status,
          to: call.to,
          from: call.from,
          startedAt: call.startedAt,
        },
      });
    } catch (err) {
      if (!(err instanceof OutboundCallError)) throw err;
      if (err.code === 'unknown_agent') throw ApiError.invalid('agent', err.message);
      if (err.code === 'rejected') throw new ApiError('invalid_body', err.message);
      throw new ApiError('unavailable', err.message);
    }
  });
  return router;
}
