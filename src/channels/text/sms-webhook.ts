/**
 * Twilio Messaging webhook `POST /twilio/sms` (mounted under /twilio): an inbound SMS becomes the
 * caller's text in that number's SMS conversation; the agent answers by SMS (sms-conversations.ts).
 * Checked like the voice webhooks: X-Twilio-Signature over PUBLIC_URL + path and the form
 * parameters, the account when TWILIO_ACCOUNT_SID is set, strict fields; answered at once with an
 * empty TwiML response (the reply goes out through the REST API when the agent has written it).
 */
import express, { Router, type RequestHandler } from 'express';
import type { Config } from '../../config';
import { ApiError } from '../../http/errors';
import type { Logger } from '../../logging/logger';
import { isValidTwilioSignature, signatureFromHeaders, webhookUrl } from '../twilio/signature';
import { emptyTwiml } from '../twilio/twiml';
import type { SmsConversations } from './sms-conversations';
import { E164 } from './sms-sender';

/** Twilio concatenates long messages up to 1,600 characters. */
export const MAX_INBOUND_SMS_CHARS = 1_600;
const MESSAGE_SID = /^(SM|MM)[0-9a-fA-F]{32}$/;

export interface SmsWebhookDeps {
  config: Pick<Config, 'publicUrl' | 'twilio'>;
  conversations: SmsConversations;
  logger: Logger;
  counters: { signatureFailures: number };
}

export function createSmsWebhookRouter(deps: SmsWebhookDeps): Router {
  const { config, logger } = deps;
  const router = Router({ caseSensitive: true, strict: true });

  const checkSignature: RequestHandler = (req, _res, next) => {
    if (!config.twilio.validateSignatures) return next();
    const url = webhookUrl(config.publicUrl, req.originalUrl);
    const params = (req.body ?? {}) as Record<string, string>;
    if (!isValidTwilioSignature(config.twilio.authToken, signatureFromHeaders(req.headers), url, params)) {
      deps.counters.signatureFailures++;
      logger.warn('rejected a Twilio SMS webhook with a bad signature', { path: req.path });
      throw new ApiError('forbidden', 'invalid Twilio signature');
    }
    next();
  };

  router.post(
    '/sms',
    express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 200 }),
    checkSignature,
    (req, res) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const field = (name: string, pattern: RegExp): string => {
        const value = body[name];
        if (typeof value !== 'string' || !pattern.test(value)) throw ApiError.invalid(name, 'missing or malformed');
        return value;
      };
      const messageSid = field('MessageSid', MESSAGE_SID);
      const from = field('From', E164);
      const to = field('To', E164);
      const account = config.twilio.accountSid;
      if (account && body.AccountSid !== account) throw new ApiError('forbidden', 'AccountSid is not this account');
      const text = typeof body.Body === 'string' ? body.Body.replace(/[\p{Cc}\p{Cf}]/gu, ' ').trim() : '';
      if (text.length > MAX_INBOUND_SMS_CHARS) {
        throw ApiError.invalid('Body', `at most ${MAX_INBOUND_SMS_CHARS} characters`);
      }
      // A message without text (a picture alone) has nothing for the agent to read.
      if (text) deps.conversations.inbound({ messageSid, from, to, body: text });
      res.type('text/xml').send(emptyTwiml());
    },
  );
  return router;
}
