/**
 * Privacy policy per agent profile: which kinds of personal data are redacted from transcripts,
 * whether calls are recorded, DTMF "sensitive entry", the consent announcement and opt-out, and how
 * long recordings, transcripts and call rows are kept. Read once at start from PRIVACY_POLICY_FILE
 * (JSON); a bad file stops the start with every problem named.
 *
 * ```json
 * { "default": { "redact": "all", "recording": true, "retention": { "recordingsDays": 30 } },
 *   "profiles": { "billing": { "redact": ["card", "cvv", "expiry"], "sensitiveDtmf": true } } }
 * ```
 */
import { readFileSync } from 'node:fs';
import { REDACTION_KINDS, type RedactionKind } from './redactor';

export interface RetentionPolicy {
  /** Days a recording file is kept after the call started (undefined: forever). */
  recordingsDays?: number;
  /** Days transcripts (and timeline events, notes, analytics, metadata) are kept. */
  transcriptsDays?: number;
  /** Days the call row itself is kept (then deleted with everything about it). */
  callsDays?: number;
}

export interface ProfilePrivacy {
  redact: ReadonlySet<RedactionKind>;
  /** Record this profile's calls. */
  recording: boolean;
  /** Keypad digits are never stored nor told to the agent (only how many were entered). */
  sensitiveDtmf: boolean;
  /** Said to the caller before the agent speaks (e.g. "This call may be recorded."). */
  announcement?: string;
  /** Caller opt-out of recording: by a keypad digit and/or phrases; whether the transcript goes on. */
  optOut?: { digit?: string; phrases: string[]; keepTranscript: boolean };
  retention: RetentionPolicy;
}

export interface PrivacyPolicy {
  forProfile(name: string | null | undefined): ProfilePrivacy;
  /** Every profile's policy (the retention job walks them). */
  readonly profiles: ReadonlyMap<string, ProfilePrivacy>;
  readonly defaults: ProfilePrivacy;
}

type Raw = Record<string, unknown>;

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseProfile(raw: unknown, base: ProfilePrivacy, label: string, problems: string[]): ProfilePrivacy {
  if (raw === undefined) return base;
  if (!isObject(raw)) {
    problems.push(`${label}: must be an object`);
    return base;
  }
  const out: ProfilePrivacy = { ...base, retention: { ...base.retention } };
  const known = new Set(['redact', 'recording', 'sensitiveDtmf', 'announcement', 'optOut', 'retention']);
  for (const key of Object.keys(raw)) if (!known.has(key)) problems.push(`${label}.${key}: unknown setting`);
  if (raw.redact !== undefined) {
    if (raw.redact === 'all') out.redact = new Set(REDACTION_KINDS);
    else if (raw.redact === 'none') out.redact = new Set();
    else if (Array.isArray(raw.redact) && raw.redact.every((k) => REDACTION_KINDS.includes(k as RedactionKind)))
      out.redact = new Set(raw.redact as RedactionKind[]);
    else problems.push(`${label}.redact: "all", "none" or a list of ${REDACTION_KINDS.join(', ')}`);
  }
  for (const key of ['recording', 'sensitiveDtmf'] as const) {
    if (raw[key] === undefined) continue;
    if (typeof raw[key] === 'boolean') out[key] = raw[key];
    else problems.push(`${label}.${key}: must be true or false`);
  }
  if (raw.announcement !== undefined) {
    if (typeof raw.announcement === 'string' && raw.announcement.length <= 500)
      out.announcement = raw.announcement || undefined;
    else problems.push(`${label}.announcement: a string of at most 500 characters`);
  }
  if (raw.optOut !== undefined) {
    const o = raw.optOut;
    if (
      isObject(o) &&
      (o.digit === undefined || (typeof o.digit === 'string' && /^[0-9*#]$/.test(o.digit))) &&
      (o.phrases === undefined || (Array.isArray(o.phrases) && o.phrases.every((p) => typeof p === 'string' && p))) &&
      (o.keepTranscript === undefined || typeof o.keepTranscript === 'boolean')
    ) {
      out.optOut = {
        digit: o.digit as string | undefined,
        phrases: ((o.phrases as string[] | undefined) ?? []).map((p) => p.toLowerCase()),
        keepTranscript: (o.keepTranscript as boolean | undefined) ?? true,
      };
    } else problems.push(`${label}.optOut: { digit?: one of 0-9*#, phrases?: [string], keepTranscript?: boolean }`);
  }
  if (raw.retention !== undefined) {
    if (!isObject(raw.retention)) problems.push(`${label}.retention: must be an object`);
    else {
      for (const [key, value] of Object.entries(raw.retention)) {
        if (key !== 'recordingsDays' && key !== 'transcriptsDays' && key !== 'callsDays') {
          problems.push(`${label}.retention.${key}: unknown setting`);
        } else if (value === null) delete out.retention[key];
        else if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 36500)
          out.retention[key] = value;
        else problems.push(`${label}.retention.${key}: whole days from 1 to 36500, or null (forever)`);
      }
    }
  }
  return out;
}

/** Builds the policy from a parsed file (or nothing). Throws an Error listing every problem. */
export function buildPrivacyPolicy(
  file: unknown,
  options: { recordingEnabled: boolean; label?: string } = { recordingEnabled: true },
): PrivacyPolicy {
  const label = options.label ?? 'PRIVACY_POLICY_FILE';
  const problems: string[] = [];
  const builtIn: ProfilePrivacy = {
    redact: new Set(REDACTION_KINDS),
    recording: options.recordingEnabled,
    sensitiveDtmf: false,
    retention: {},
  };
  let defaults = builtIn;
  const profiles = new Map<string, ProfilePrivacy>();
  if (file !== undefined) {
    if (!isObject(file)) problems.push(`${label}: must be a JSON object`);
    else {
      for (const key of Object.keys(file))
        if (key !== 'default' && key !== 'profiles') problems.push(`${label}.${key}: unknown setting`);
      defaults = parseProfile(file.default, builtIn, `${label}: default`, problems);
      if (file.profiles !== undefined && !isObject(file.profiles))
        problems.push(`${label}: profiles must be an object`);
      for (const [name, raw] of Object.entries(isObject(file.profiles) ? file.profiles : {}))
        profiles.set(name, parseProfile(raw, defaults, `${label}: profiles.${name}`, problems));
    }
  }
  if (problems.length > 0) throw new PrivacyPolicyError(problems);
  return {
    defaults,
    profiles,
    forProfile: (name) => (name ? profiles.get(name) : undefined) ?? defaults,
  };
}

export class PrivacyPolicyError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/** Reads PRIVACY_POLICY_FILE ('' = the built-in policy: redact everything, keep forever). */
export function loadPrivacyPolicy(policyFile: string, recordingEnabled: boolean): PrivacyPolicy {
  if (!policyFile) return buildPrivacyPolicy(undefined, { recordingEnabled });
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(policyFile, 'utf8'));
  } catch (err) {
    throw new PrivacyPolicyError([`PRIVACY_POLICY_FILE: cannot read ${policyFile} (${(err as Error).message})`]);
  }
  return buildPrivacyPolicy(parsed, { recordingEnabled });
}
