/**
 * Every text message Switchboard sends outside the send_sms skill goes through here: the agent's
 * replies in an SMS conversation and `POST /api/messages`. The same rules as send_sms (src/agent/
 * skills/send-sms.ts), from the profile's `sms` settings: the recipient must be E.164 and start with
 * an allowed prefix (`countryCodes`), at most 480 characters without control characters, and the
 * shared daily counters (per number, per profile: src/agent/skills/sms-limiter.ts) must allow it.
 * A Twilio refusal gives the reservation back (nothing was sent).
 */
import type { SmsSettings } from '../../agent/profiles';
import { MAX_SMS_CHARS } from '../../agent/skills/send-sms';
import { defaultSmsLimiter, type SmsLimiter } from '../../agent/skills/sms-limiter';
import { maskNumber } from '../../agent/skills/phone-numbers';
import type { Logger } from '../../logging/logger';
import { TwilioRestError, type TwilioResource } from '../twilio/twilio-rest-service';

export const E164 = /^\+[1-9]\d{6,14}$/;
const CONTROL = /[\p{Cc}\p{Cf}]/u;

/** The part of TwilioRestService used to send. */
export interface SmsTransport {
  sendSms(input: { to: string; from: string; body: string }): Promise<TwilioResource>;
}

export type SmsRefusalCode =
  | 'unavailable'
  | 'invalid_recipient'
  | 'destination_not_allowed'
  | 'invalid_body'
  | 'too_long'
  | 'limit_reached'
  | 'send_failed';

export class SmsRefusal extends Error {
  constructor(
    readonly code: SmsRefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'SmsRefusal';
  }
}

export interface SmsSenderDeps {
  transport: SmsTransport | undefined;
  logger: Logger;
  limiter?: SmsLimiter;
}

export class SmsSender {
  private readonly limiter: SmsLimiter;

  constructor(private readonly deps: SmsSenderDeps) {
    this.limiter = deps.limiter ?? defaultSmsLimiter;
  }

  get configured(): boolean {
    return this.deps.transport !== undefined;
  }

  /** Checks the message against the profile's rules without sending (throws SmsRefusal). */
  check(to: string, body: string, sms: SmsSettings): string {
    if (!E164.test(to)) throw new SmsRefusal('invalid_recipient', 'to: an E.164 number such as +15551234567');
    if (!sms.countryCodes.some((prefix) => to.startsWith(prefix))) {
      throw new SmsRefusal('destination_not_allowed', 'text messages cannot be sent to this country code');
    }
    const text = body.trim();
    if (!text) throw new SmsRefusal('invalid_body', 'body: must not be empty');
    if (text.length > MAX_SMS_CHARS) throw new SmsRefusal('too_long', `body: at most ${MAX_SMS_CHARS} characters`);
    if (CONTROL.test(text.replace(/\n/g, ''))) throw new SmsRefusal('invalid_body', 'body: no control characters');
    return text;
  }

  /** Sends one message within the limits of `profile`; throws SmsRefusal. */
  async send(input: { to: string; from: string; body: string; profile: string; sms: SmsSettings; callId?: string }) {
    const { transport, logger } = this.deps;
    if (!transport || !input.from) throw new SmsRefusal('unavailable', 'text messages are not configured');
    const body = this.check(input.to, input.body, input.sms);
    const refused = this.limiter.reserve(input.profile, input.to, input.sms);
    if (refused) {
      logger.warn('sms refused', { callId: input.callId, code: refused.code, to: maskNumber(input.to) });
      throw new SmsRefusal('limit_reached', refused.message);
    }
    try {
      return await transport.sendSms({ to: input.to, from: input.from, body });
    } catch (err) {
      if (err instanceof TwilioRestError && err.httpStatus !== null) this.limiter.release(input.profile, input.to);
      throw new SmsRefusal('send_failed', 'the text message could not be sent');
    }
  }
}
