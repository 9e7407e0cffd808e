/**
 * send_sms: texts the person on the line (e.g. a confirmation) through the Twilio REST service.
 *
 * The recipient is always the call's remote number (never one the model picks), and that number can
 * be spoofed by an inbound caller, while the model writes the arguments. So, per the call's profile
 * (`profile.sms`):
 * - the recipient's number must start with an allowed prefix (`countryCodes`, default: the country
 *   calling code of TWILIO_PHONE_NUMBER);
 * - the model picks a template by name and fills its declared variables (each checked against its
 *   pattern and length; by default no links); free text only when `allowFreeText` is true, bounded
 *   by `maxFreeTextChars` and without links;
 * - at most `maxPerCall` messages per call, `maxPerNumberPerDay` per destination number and
 *   `maxPerDay` per profile, over a rolling 24 hours (in memory, per process: ./sms-limiter.ts).
 * Every refusal goes back to the model as data and is logged with the number masked.
 */
import { defineSkill, SkillError, type SkillContext } from './types';
import { SMS_PLACEHOLDER, type AgentSettings, type SmsSettings, type SmsTemplate } from '../profiles';
import { maskNumber } from './phone-numbers';
import { defaultSmsLimiter } from './sms-limiter';
import { TwilioRestError } from '../../channels/twilio/twilio-rest-service';

/** Longest message sent (three SMS segments). */
export const MAX_SMS_CHARS = 480;
/** Characters a template variable may hold when its template declares no pattern. */
const DEFAULT_VARIABLE = /^[\p{L}\p{N} ,.:#'+-]+$/u;
/** Something that reads as a link or an address: a scheme, www., a dotted domain, an e-mail. */
const LINK = /(:\/\/|\bwww\.|[\p{L}\p{N}-]\.\p{L}{2,}|@)/iu;
/** Control characters other than a line break. */
const CONTROL = /[\p{Cc}\p{Cf}]/u;

type Args = { template?: string; variables?: Record<string, string | number>; message?: string };

const sentPerCall = new WeakMap<object, number>();

function allProfilesSms(settings: AgentSettings): SmsSettings[] {
  return [...settings.profiles.values()].map((p) => p.sms);
}

function templateNames(settings: AgentSettings): string[] {
  return [...new Set(allProfilesSms(settings).flatMap((s) => Object.keys(s.templates)))].sort();
}

function describeTemplates(settings: AgentSettings): string {
  const seen = new Map<string, SmsTemplate>();
  for (const sms of allProfilesSms(settings)) for (const [n, t] of Object.entries(sms.templates)) seen.set(n, t);
  return [...seen.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, t]) => {
      const vars = Object.keys(t.variables);
      return `${name}${vars.length ? ` (variables: ${vars.join(', ')})` : ''}${t.description ? `: ${t.description}` : ''}`;
    })
    .join('; ');
}

export const sendSmsSkill = defineSkill<Args>({
  name: 'send_sms',
  description: (settings) => {
    const templates = describeTemplates(settings);
    const free = allProfilesSms(settings).some((s) => s.allowFreeText);
    return (
      'Send a text message (SMS) to the caller on this call, e.g. a confirmation or a reference number. ' +
      (templates ? `Pick a template and fill its variables. Templates: ${templates}.` : '') +
      (free ? ' Where allowed, `message` sends a short text of your own (no links).' : '')
    );
  },
  parameters: (settings) => {
    const names = templateNames(settings);
    const free = allProfilesSms(settings).some((s) => s.allowFreeText);
    const properties: Record<string, unknown> = {};
    if (names.length) {
      properties.template = { type: 'string', enum: names, description: 'Which template to send' };
      properties.variables = {
        type: 'object',
        description: 'Values of the template variables, e.g. {"orderId": "A123"}',
        maxProperties: 20,
        additionalProperties: { type: ['string', 'number'], maxLength: 200 },
      };
    }
    if (free || !names.length) {
      properties.message = { type: 'string', minLength: 1, maxLength: MAX_SMS_CHARS, description: 'The text to send' };
    }
    return { type: 'object', properties, additionalProperties: false };
  },
  timeoutMs: 10_000,
  checkConfig: (_settings, services, profile) => {
    if (!services.twilioConfigured) {
      return 'needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER to send messages';
    }
    if (!Object.keys(profile.sms.templates).length && !profile.sms.allowFreeText) {
      return 'needs sms.templates (or sms.allowFreeText) in AGENT_PROFILES_FILE';
    }
    return undefined;
  },
  async handler(args, ctx) {
    const to = ctx.call.remoteNumber;
    try {
      return await send(args, ctx, to);
    } catch (err) {
      if (err instanceof SkillError) {
        ctx.logger.warn('send_sms refused', {
          callId: ctx.callId,
          profile: ctx.call.profile?.name,
          code: err.code,
          reason: err.message,
          to: maskNumber(to),
        });
      }
      throw err;
    }
  },
});

async function send(args: Args, ctx: SkillContext, to: string | null): Promise<unknown> {
  const { twilio, settings } = ctx.services;
  const sms = ctx.call.profile?.sms ?? settings.sms;
  const profileName = ctx.call.profile?.name ?? settings.defaultProfile;
  if (!twilio) throw new SkillError('unavailable', 'text messages are not configured');
  if (!to || !/^\+[1-9]\d{6,14}$/.test(to)) {
    throw new SkillError('no_recipient', 'the caller has no phone number that can receive a text');
  }
  if (!sms.countryCodes.some((prefix) => to.startsWith(prefix))) {
    throw new SkillError('destination_not_allowed', "text messages cannot be sent to this caller's country");
  }
  const from = settings.sms.from || ctx.call.localNumber;
  if (!from) throw new SkillError('unavailable', 'no sender number is configured');
  const body = compose(args, sms);

  const sent = sentPerCall.get(ctx.call) ?? 0;
  if (sent >= sms.maxPerCall) {
    throw new SkillError('limit_reached', `at most ${sms.maxPerCall} text messages per call`);
  }
  const limiter = ctx.services.smsLimiter ?? defaultSmsLimiter;
  const refused = limiter.reserve(profileName, to, sms);
  if (refused) throw new SkillError(refused.code, refused.message);
  sentPerCall.set(ctx.call, sent + 1);
  try {
    const message = await twilio.sendSms({ to, from, body });
    return { ok: true, messageSid: message.sid, status: message.status };
  } catch (err) {
    // Twilio answered with an error: nothing was sent, the reservation is given back.
    if (err instanceof TwilioRestError && err.httpStatus !== null) {
      limiter.release(profileName, to);
      sentPerCall.set(ctx.call, sent);
    }
    // Twilio's message may quote the number: the model only hears that it failed.
    throw new SkillError('send_failed', 'the text message could not be sent');
  }
}

/** The message text from a template and its variables, or the model's own text where allowed. */
function compose(args: Args, sms: SmsSettings): string {
  if (args.template !== undefined && args.message !== undefined) {
    throw new SkillError('invalid_arguments', 'give either template or message, not both');
  }
  if (args.template === undefined) {
    if (args.message === undefined) throw new SkillError('invalid_arguments', 'give a template');
    if (args.variables !== undefined) throw new SkillError('invalid_arguments', 'variables need a template');
    if (!sms.allowFreeText) {
      throw new SkillError('free_text_not_allowed', `use one of the templates: ${listOrNone(sms)}`);
    }
    const text = args.message.trim();
    if (!text) throw new SkillError('invalid_arguments', 'the message is empty');
    if (text.length > sms.maxFreeTextChars) {
      throw new SkillError('too_long', `the message may have at most ${sms.maxFreeTextChars} characters`);
    }
    if (CONTROL.test(text.replace(/\n/g, ''))) {
      throw new SkillError('invalid_message', 'the message contains control characters');
    }
    if (LINK.test(text)) throw new SkillError('link_not_allowed', 'the message may not contain links or addresses');
    return text;
  }
  const template = Object.hasOwn(sms.templates, args.template) ? sms.templates[args.template] : undefined;
  if (!template) {
    throw new SkillError('unknown_template', `no template named ${args.template} here; use one of: ${listOrNone(sms)}`);
  }
  const values = args.variables ?? {};
  for (const name of Object.keys(values)) {
    if (!Object.hasOwn(template.variables, name)) {
      throw new SkillError('unknown_variable', `template ${args.template} has no variable ${name}`);
    }
  }
  const filled: Record<string, string> = {};
  for (const [name, v] of Object.entries(template.variables)) {
    const raw = values[name];
    if (raw === undefined) throw new SkillError('missing_variable', `template ${args.template} needs ${name}`);
    const value = String(raw).trim();
    const fits =
      v.pattern !== undefined ? matchesWhole(v.pattern, value) : DEFAULT_VARIABLE.test(value) && !LINK.test(value);
    if (!value || value.length > v.maxLength || CONTROL.test(value) || !fits) {
      const expected =
        v.description ??
        (v.pattern !== undefined
          ? 'in the expected form'
          : 'letters, digits, spaces and simple punctuation, without links');
      throw new SkillError('invalid_variable', `${name} must be ${expected}, at most ${v.maxLength} characters`);
    }
    filled[name] = value;
  }
  const text = template.text.replace(SMS_PLACEHOLDER, (_m, name: string) => filled[name]);
  if (text.length > MAX_SMS_CHARS) throw new SkillError('too_long', 'the filled template is too long');
  return text;
}

function matchesWhole(pattern: string, value: string): boolean {
  return new RegExp(`^(?:${pattern})$`, 'u').test(value);
}

function listOrNone(sms: SmsSettings): string {
  return Object.keys(sms.templates).join(', ') || 'none (no text messages here)';
}
