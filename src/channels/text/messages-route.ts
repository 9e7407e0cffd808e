/**
 * `POST /api/messages` `{to, body, profile?}` (behind the API token, mounted under /api):
 * sends one SMS as the agent within the limits of send_sms (sms-sender.ts) and records it as a
 * text conversation (a call record with channel `sms`, direction `outbound`, the message as the
 * agent's transcript), listed and searchable with calls. Answers 201 with the message and callId.
 */
import express, { Router } from 'express';
import { profileByName, type AgentSettings, type SmsSettings } from '../../agent/profiles';
import type { CallManager } from '../../calls/call-manager';
import { ApiError } from '../../http/errors';
import type { Logger } from '../../logging/logger';
import { SmsRefusal, type SmsSender } from './sms-sender';

export interface MessagesRouteDeps {
  /** Sending is refused while the API is open (no API_TOKENS): messages cost money. */
  apiTokensConfigured: boolean;
  sender: SmsSender;
  callManager: CallManager;
  settings: AgentSettings | undefined;
  defaults: { from: string; sms: SmsSettings | undefined };
  logger: Logger;
}

const STATUS: Record<string, 'invalid_parameter' | 'forbidden' | 'rate_limited' | 'unavailable'> = {
  invalid_recipient: 'invalid_parameter',
  invalid_body: 'invalid_parameter',
  too_long: 'invalid_parameter',
  destination_not_allowed: 'forbidden',
  limit_reached: 'rate_limited',
  unavailable: 'unavailable',
  send_failed: 'unavailable',
};

export function createMessagesRouter(deps: MessagesRouteDeps): Router {
  const router = Router({ caseSensitive: true, strict: true });
  router.post('/messages', express.json({ limit: '16kb' }), async (req, res) => {
    if (!deps.apiTokensConfigured) {
      throw new ApiError('forbidden', 'sending messages needs API_TOKENS to be configured (messages cost money)');
    }
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ApiError('invalid_body', 'send a JSON object {"to", "body"} with Content-Type: application/json');
    }
    const { to, body: text, profile: asked } = body as Record<string, unknown>;
    if (typeof to !== 'string') throw ApiError.invalid('to', 'an E.164 number such as +15551234567');
    if (typeof text !== 'string') throw ApiError.invalid('body', 'the text to send');
    if (asked !== undefined && (typeof asked !== 'string' || !deps.settings?.profiles.has(asked))) {
      throw ApiError.invalid('profile', 'no agent profile of that name');
    }
    const profile = deps.settings ? profileByName(deps.settings, asked as string | undefined) : undefined;
    const profileName = profile?.name ?? 'default';
    const sms = profile?.sms ?? deps.defaults.sms;
    if (!sms) throw new ApiError('unavailable', 'text messages are not configured');
    const from = deps.defaults.from;
    let message;
    try {
      const checked = deps.sender.check(to, text, sms);
      message = await deps.sender.send({ to, from, body: checked, profile: profileName, sms });
    } catch (err) {
      if (!(err instanceof SmsRefusal)) throw err;
      if (err.code === 'limit_reached') res.setHeader('Retry-After', '3600');
      const field = err.code === 'invalid_recipient' || err.code === 'destination_not_allowed' ? 'to' : 'body';
      throw new ApiError(STATUS[err.code] ?? 'unavailable', err.message, field);
    }
    const call = await deps.callManager.createCall(
      Object.assign(
        { from, to, direction: 'outbound', agent: profileName, status: 'in-progress' as const },
        { provider: 'sms' },
      ),
    );
    deps.callManager.addTranscript(call.id, { speaker: 'agent', text: text.trim(), startMs: 0, endMs: 0 });
    const ended = await deps.callManager.endCall(call.id, { reason: 'message-sent', status: 'completed' });
    deps.logger.info('sms sent by the API', { callId: call.id, messageSid: message.sid });
    res.status(201).json({ message: { sid: message.sid, status: message.status, to, from }, callId: ended.id });
  });
  return router;
}
