/**
 * send_sms: texts the person on the line (e.g. a confirmation) through the Twilio REST service. The
 * recipient is always the call's remote number (never one the model picks), from our number on the
 * call; at most `settings.sms.maxPerCall` messages per call.
 */
import { defineSkill, SkillError } from './types';

const sentPerCall = new WeakMap<object, number>();

export const sendSmsSkill = defineSkill<{ message: string }>({
  name: 'send_sms',
  description:
    'Send a text message (SMS) to the caller, e.g. a confirmation or a reference number. ' +
    'Only to the caller on this call. Keep it short.',
  parameters: {
    type: 'object',
    properties: {
      message: { type: 'string', minLength: 1, maxLength: 480, description: 'The text to send' },
    },
    required: ['message'],
    additionalProperties: false,
  },
  timeoutMs: 10_000,
  checkConfig: (_settings, services) =>
    services.twilioConfigured
      ? undefined
      : 'needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER to send messages',
  async handler(args, ctx) {
    const { twilio, settings } = ctx.services;
    if (!twilio) throw new SkillError('unavailable', 'text messages are not configured');
    const to = ctx.call.remoteNumber;
    if (!to || !/^\+[1-9]\d{6,14}$/.test(to)) {
      throw new SkillError('no_recipient', 'the caller has no phone number that can receive a text');
    }
    const from = settings.sms.from || ctx.call.localNumber;
    if (!from) throw new SkillError('unavailable', 'no sender number is configured');
    const sent = sentPerCall.get(ctx.call) ?? 0;
    if (sent >= settings.sms.maxPerCall) {
      throw new SkillError('limit_reached', `at most ${settings.sms.maxPerCall} text messages per call`);
    }
    sentPerCall.set(ctx.call, sent + 1);
    const message = await twilio.sendSms({ to, from, body: args.message });
    return { ok: true, messageSid: message.sid, status: message.status };
  },
});
