/**
 * A campaign's settings and contacts, validated from the API's JSON (or a CSV's rows): calling
 * hours in each contact's time zone, pacing (maximum concurrent calls, calls per minute), retries
 * per outcome with their delays, and what to do on an answering machine.
 */
import { E164_PATTERN } from '../agent/profiles';
import { MAX_VARIABLES, VARIABLE_NAME } from './template';

export const MAX_CONTACTS = 10_000;

export interface RetryRule {
  /** Further attempts after the first (0: none). */
  attempts: number;
  delaySec: number;
}

export interface CampaignSettings {
  /** Local calling hours "HH:MM" (start inclusive, end exclusive) and ISO weekdays (1 = Monday). */
  hours: { start: string; end: string; days: number[] };
  /** Time zone of contacts that name none (IANA). */
  timeZone: string;
  maxConcurrent: number;
  callsPerMinute: number;
  retries: { busy: RetryRule; noAnswer: RetryRule; failed: RetryRule };
  /** On an answering machine: leave `voicemailMessage` (a template) or hang up. */
  voicemail: 'message' | 'hangup';
  voicemailMessage?: string;
  /** Fixed-message campaign: every answered call hears this and ends. */
  message?: string;
}

export interface ContactInput {
  phone: string;
  name?: string;
  timeZone?: string;
  variables?: Record<string, string>;
}

export class CampaignInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'CampaignInputError';
  }
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Zones already checked (building an Intl.DateTimeFormat costs ~50 µs: not once per CSV row). */
const knownZones = new Set<string>();

export function isTimeZone(tz: unknown): tz is string {
  if (typeof tz !== 'string' || tz.length === 0 || tz.length > 64) return false;
  if (knownZones.has(tz)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    if (knownZones.size < 1000) knownZones.add(tz);
    return true;
  } catch {
    return false;
  }
}

function int(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CampaignInputError(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function obj(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new CampaignInputError(field, 'must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function retry(value: unknown, field: string, fallback: RetryRule): RetryRule {
  const o = obj(value, field);
  return {
    attempts: int(o.attempts, `${field}.attempts`, 0, 10, fallback.attempts),
    delaySec: int(o.delaySec, `${field}.delaySec`, 1, 7 * 86400, fallback.delaySec),
  };
}

function text(value: unknown, field: string, max: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) {
    throw new CampaignInputError(field, `must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

export function parseSettings(body: Record<string, unknown>): CampaignSettings {
  const hours = obj(body.hours, 'hours');
  const start = hours.start ?? '09:00';
  const end = hours.end ?? '20:00';
  if (typeof start !== 'string' || !HHMM.test(start)) throw new CampaignInputError('hours.start', 'must be HH:MM');
  if (typeof end !== 'string' || !HHMM.test(end)) throw new CampaignInputError('hours.end', 'must be HH:MM');
  if (start >= end) throw new CampaignInputError('hours', 'start must be before end');
  const days = hours.days ?? [1, 2, 3, 4, 5, 6, 7];
  if (
    !Array.isArray(days) ||
    days.length === 0 ||
    days.length > 7 ||
    !days.every((d) => Number.isInteger(d) && (d as number) >= 1 && (d as number) <= 7)
  ) {
    throw new CampaignInputError('hours.days', 'must be ISO weekdays 1 (Monday) to 7 (Sunday)');
  }
  const timeZone = body.timeZone ?? 'UTC';
  if (!isTimeZone(timeZone)) throw new CampaignInputError('timeZone', 'must be an IANA time zone such as Europe/Paris');
  const retries = obj(body.retries, 'retries');
  const voicemail = body.voicemail ?? 'hangup';
  if (voicemail !== 'message' && voicemail !== 'hangup') {
    throw new CampaignInputError('voicemail', 'must be "message" or "hangup"');
  }
  const voicemailMessage = text(body.voicemailMessage, 'voicemailMessage', 1000);
  if (voicemail === 'message' && !voicemailMessage) {
    throw new CampaignInputError('voicemailMessage', 'is required when voicemail is "message"');
  }
  return {
    hours: { start, end, days: [...new Set(days as number[])].sort() },
    timeZone,
    maxConcurrent: int(body.maxConcurrent, 'maxConcurrent', 1, 100, 1),
    callsPerMinute: int(body.callsPerMinute, 'callsPerMinute', 1, 600, 10),
    retries: {
      busy: retry(retries.busy, 'retries.busy', { attempts: 2, delaySec: 600 }),
      noAnswer: retry(retries.noAnswer, 'retries.noAnswer', { attempts: 2, delaySec: 1800 }),
      failed: retry(retries.failed, 'retries.failed', { attempts: 1, delaySec: 600 }),
    },
    voicemail,
    ...(voicemailMessage ? { voicemailMessage } : {}),
    ...(body.message !== undefined ? { message: text(body.message, 'message', 1000) } : {}),
  };
}

/** One contact from JSON or a CSV row (`field` names where it came from in errors). */
export function parseContact(value: unknown, field: string): ContactInput {
  const o = obj(value, field);
  const { phone, name, timeZone, variables, ...rest } = o;
  if (typeof phone !== 'string' || !E164_PATTERN.test(phone)) {
    throw new CampaignInputError(`${field}.phone`, 'must be an E.164 phone number such as +15551234567');
  }
  const contact: ContactInput = { phone };
  if (name !== undefined && name !== '') contact.name = text(name, `${field}.name`, 100);
  if (timeZone !== undefined && timeZone !== '') {
    if (!isTimeZone(timeZone)) throw new CampaignInputError(`${field}.timeZone`, 'must be an IANA time zone');
    contact.timeZone = timeZone;
  }
  const vars: Record<string, string> = {};
  for (const [key, v] of Object.entries({ ...obj(variables, `${field}.variables`), ...rest })) {
    if (!VARIABLE_NAME.test(key))
      throw new CampaignInputError(`${field}.variables`, `${key.slice(0, 40)} is not a valid name`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new CampaignInputError(`${field}.variables`, `${key} must be a string, number or boolean`);
    }
    if (String(v).length > 500) throw new CampaignInputError(`${field}.variables`, `${key} is too long`);
    vars[key] = String(v);
  }
  if (Object.keys(vars).length > MAX_VARIABLES) {
    throw new CampaignInputError(`${field}.variables`, `must have at most ${MAX_VARIABLES} keys`);
  }
  if (Object.keys(vars).length > 0) contact.variables = vars;
  return contact;
}

export function parseContacts(value: unknown, field = 'contacts'): ContactInput[] {
  if (!Array.isArray(value) || value.length === 0) throw new CampaignInputError(field, 'must be a non-empty array');
  if (value.length > MAX_CONTACTS) throw new CampaignInputError(field, `must have at most ${MAX_CONTACTS} contacts`);
  return value.map((c, i) => parseContact(c, `${field}[${i}]`));
}
