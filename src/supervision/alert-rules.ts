/**
 * Alert rules: what makes a live call need a supervisor. Configured in a JSON file
 * (ALERT_RULES_FILE: an array of rules, or `{ "rules": [...] }`) and through /api/alert-rules.
 *
 * Kinds and their settings:
 *   dead-air            seconds       nobody speaks for this long (voice calls)
 *   slow-response       ms, turns     the agent's response latency is over `ms` for `turns` turns in a row
 *   negative-sentiment  threshold?    a caller turn's sentiment (AFINN comparative, -5..5) at or below
 *                                     `threshold` (default -0.25)
 *   barge-ins           count         the caller cut the agent off `count` times
 *   reconnect-storm     count, withinSec   `count` AI reconnects within `withinSec` seconds
 *   keyword             phrases, speaker?  one of the phrases said (whole words, any case) by
 *                                     `caller` (default), `agent` or `any`
 *   long-call           minutes       the call has lasted this long (fractions allowed)
 * Every rule has an `id` (its name in events and /metrics), and optionally `enabled` (default true)
 * and `cooldownSec`: 0 (default) fires once per call; N lets it fire again on the same call N
 * seconds after it last fired.
 */

export const ALERT_KINDS = [
  'dead-air',
  'slow-response',
  'negative-sentiment',
  'barge-ins',
  'reconnect-storm',
  'keyword',
  'long-call',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

interface RuleBase {
  id: string;
  enabled: boolean;
  cooldownSec: number;
}

export type AlertRule = RuleBase &
  (
    | { kind: 'dead-air'; seconds: number }
    | { kind: 'slow-response'; ms: number; turns: number }
    | { kind: 'negative-sentiment'; threshold: number }
    | { kind: 'barge-ins'; count: number }
    | { kind: 'reconnect-storm'; count: number; withinSec: number }
    | { kind: 'keyword'; phrases: string[]; speaker: 'caller' | 'agent' | 'any' }
    | { kind: 'long-call'; minutes: number }
  );

export const MAX_RULES = 100;
const MAX_PHRASES = 50;
const MAX_PHRASE_CHARS = 100;
const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const DEFAULT_SENTIMENT_THRESHOLD = -0.25;

export class AlertRuleError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'AlertRuleError';
  }
}

type Raw = Record<string, unknown>;

function num(raw: Raw, field: string, at: string, min: number, max: number, integer: boolean, def?: number): number {
  const v = raw[field] ?? def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new AlertRuleError(`${at}.${field}`, `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  return v;
}

const KNOWN_FIELDS: Record<AlertKind, string[]> = {
  'dead-air': ['seconds'],
  'slow-response': ['ms', 'turns'],
  'negative-sentiment': ['threshold'],
  'barge-ins': ['count'],
  'reconnect-storm': ['count', 'withinSec'],
  keyword: ['phrases', 'speaker'],
  'long-call': ['minutes'],
};

/** One rule from JSON; `at` names it in errors (e.g. `rules[2]`). */
export function parseRule(input: unknown, at = 'rule'): AlertRule {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new AlertRuleError(at, 'must be an object');
  const raw = input as Raw;
  if (typeof raw.id !== 'string' || !ID.test(raw.id))
    throw new AlertRuleError(`${at}.id`, 'must be 1-64 of A-Z a-z 0-9 _ - (starting with a letter or digit)');
  if (typeof raw.kind !== 'string' || !(ALERT_KINDS as readonly string[]).includes(raw.kind))
    throw new AlertRuleError(`${at}.kind`, `must be one of ${ALERT_KINDS.join(', ')}`);
  const kind = raw.kind as AlertKind;
  const allowed = new Set(['id', 'kind', 'enabled', 'cooldownSec', ...KNOWN_FIELDS[kind]]);
  for (const key of Object.keys(raw))
    if (!allowed.has(key)) throw new AlertRuleError(`${at}.${key}`, `is not a setting of a ${kind} rule`);
  if (raw.enabled !== undefined && typeof raw.enabled !== 'boolean')
    throw new AlertRuleError(`${at}.enabled`, 'must be true or false');
  const base: RuleBase = {
    id: raw.id,
    enabled: raw.enabled !== false,
    cooldownSec: num(raw, 'cooldownSec', at, 0, 86_400, true, 0),
  };
  switch (kind) {
    case 'dead-air':
      return { ...base, kind, seconds: num(raw, 'seconds', at, 1, 3600, false) };
    case 'slow-response':
      return { ...base, kind, ms: num(raw, 'ms', at, 1, 600_000, true), turns: num(raw, 'turns', at, 1, 100, true) };
    case 'negative-sentiment':
      return { ...base, kind, threshold: num(raw, 'threshold', at, -5, 0, false, DEFAULT_SENTIMENT_THRESHOLD) };
    case 'barge-ins':
      return { ...base, kind, count: num(raw, 'count', at, 1, 1000, true) };
    case 'reconnect-storm':
      return {
        ...base,
        kind,
        count: num(raw, 'count', at, 1, 1000, true),
        withinSec: num(raw, 'withinSec', at, 1, 86_400, true),
      };
    case 'keyword': {
      const phrases = raw.phrases;
      if (!Array.isArray(phrases) || phrases.length === 0 || phrases.length > MAX_PHRASES)
        throw new AlertRuleError(`${at}.phrases`, `must be a list of 1-${MAX_PHRASES} phrases`);
      const clean = phrases.map((p, i) => {
        if (typeof p !== 'string' || !p.trim() || p.length > MAX_PHRASE_CHARS)
          throw new AlertRuleError(
            `${at}.phrases[${i}]`,
            `must be a non-empty string of at most ${MAX_PHRASE_CHARS} characters`,
          );
        return p.trim().replace(/\s+/g, ' ');
      });
      const speaker = raw.speaker ?? 'caller';
      if (speaker !== 'caller' && speaker !== 'agent' && speaker !== 'any')
        throw new AlertRuleError(`${at}.speaker`, 'must be caller, agent or any');
      return { ...base, kind, phrases: clean, speaker };
    }
    case 'long-call':
      return { ...base, kind, minutes: num(raw, 'minutes', at, 0.01, 24 * 60, false) };
  }
}

/** A rule set: an array, or `{ "rules": [...] }`; ids must be unique. */
export function parseRules(input: unknown): AlertRule[] {
  const list = Array.isArray(input) ? input : (input as Raw | null)?.rules;
  if (!Array.isArray(list)) throw new AlertRuleError('rules', 'must be a list of rules');
  if (list.length > MAX_RULES) throw new AlertRuleError('rules', `at most ${MAX_RULES} rules`);
  const rules = list.map((r, i) => parseRule(r, `rules[${i}]`));
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    if (seen.has(r.id)) throw new AlertRuleError(`rules[${i}].id`, `"${r.id}" is used twice`);
    seen.add(r.id);
  });
  return rules;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A matcher of a keyword rule's phrases: whole words, any case, any run of spaces between words. */
export function phraseMatcher(phrases: readonly string[]): RegExp {
  const alternatives = phrases.map((p) => p.split(' ').map(escape).join('\\s+'));
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${alternatives.join('|')})(?![\\p{L}\\p{N}])`, 'iu');
}
