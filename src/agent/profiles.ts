/**
 * Agent profiles: named sets of instructions, voice, greeting, VAD settings and tools. A call gets
 * the profile of the number it dialled (inbound) or the one named in the request (outbound), else
 * the default profile, which is built from the AGENT_* environment variables.
 *
 * More profiles, transfer destinations and HTTP lookup endpoints come from the JSON file named by
 * AGENT_PROFILES_FILE, checked at start (JSON Schema + cross-references) with one clear message per
 * problem. See docs/skills.md for the format.
 */
import { readFileSync } from 'node:fs';
import Ajv, { type ErrorObject } from 'ajv';
import { ConfigError, type Config } from '../config';
import type { Skill } from './skills/types';
import { countryCallingCode } from './skills/phone-numbers';

export const DEFAULT_PROFILE_NAME = 'default';
/** A built-in profile that plays the caller back (the softphone's echo test), unless the profiles file defines one. */
export const ECHO_PROFILE_NAME = 'echo';
const E164 = '^\\+[1-9][0-9]{1,14}$';
export const E164_PATTERN = new RegExp(E164);

export type VadSettings = Config['agent']['vad'];

/** Agent engines a profile may name (src/engines/index.ts registers the ones this build offers). */
export const ENGINE_NAMES = ['realtime', 'pipeline', 'echo'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export interface AgentProfile {
  readonly name: string;
  /** Which agent engine answers: speech-to-speech Realtime (default), a cascaded pipeline, an echo. */
  readonly engine: EngineName;
  readonly instructions: string;
  readonly voice: string;
  readonly greeting: string;
  readonly greetsFirst: boolean;
  readonly vad: VadSettings;
  /** Skill names offered to the model. */
  readonly tools: readonly string[];
  /** Dialled numbers (E.164) that select this profile. */
  readonly numbers: readonly string[];
  /** transfer_call destination used when the model names none. */
  readonly defaultTransferTarget?: string;
  /** send_sms rules of this profile (the file's top-level `sms`, overridden by the profile's own). */
  readonly sms: SmsSettings;
  /** The language its conversations are in ('auto' or an ISO 639 code) when the client names none. */
  readonly languageHint?: string;
}

/** A variable of an SMS template, filled by the model. */
export interface SmsVariable {
  /** Regular expression (unicode) the whole value must match; default: letters, digits, space and ,.:#'+- without links. */
  readonly pattern?: string;
  readonly maxLength: number;
  readonly description?: string;
}

export interface SmsTemplate {
  /** The message, with `{name}` placeholders for the variables. */
  readonly text: string;
  readonly description?: string;
  /** Every placeholder of `text`, with its constraints. */
  readonly variables: Readonly<Record<string, SmsVariable>>;
}

export interface SmsSettings {
  readonly maxPerCall: number;
  /** Messages to one number within 24 hours (counted over all profiles, in this process). */
  readonly maxPerNumberPerDay: number;
  /** Messages this profile sends within 24 hours (in this process). */
  readonly maxPerDay: number;
  /** E.164 prefixes a recipient must start with ("+1", "+44", "+1415"); empty: no messages at all. */
  readonly countryCodes: readonly string[];
  readonly templates: Readonly<Record<string, SmsTemplate>>;
  /** Whether the model may write the message itself (`message`), besides the templates. */
  readonly allowFreeText: boolean;
  readonly maxFreeTextChars: number;
}

export interface HttpParam {
  readonly type: 'string' | 'number' | 'integer' | 'boolean';
  readonly required: boolean;
  /** Regular expression (unicode) a string value must match as a whole. */
  readonly pattern?: string;
  /** Longest string value (default 200). */
  readonly maxLength: number;
  readonly description?: string;
}

export interface TransferTarget {
  /** E.164 number or sip: URI. */
  readonly number: string;
  /** Spoken by Twilio before dialling. */
  readonly announce?: string;
  /** Shown to the model in transfer_call's description. */
  readonly description?: string;
  /** Caller ID for the transferred leg (default: the caller's number). */
  readonly callerId?: string;
}

export interface HttpEndpoint {
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly description?: string;
  /** The only parameters the model may send (query values for GET, JSON body fields for POST). */
  readonly params: Readonly<Record<string, HttpParam>>;
}

export interface AgentSettings {
  readonly defaultProfile: string;
  readonly profiles: ReadonlyMap<string, AgentProfile>;
  readonly transferTargets: Readonly<Record<string, TransferTarget>>;
  readonly httpEndpoints: Readonly<Record<string, HttpEndpoint>>;
  /** Sender number and the file's top-level SMS rules (each profile has its own in `profile.sms`). */
  readonly sms: SmsSettings & { readonly from: string };
  /** Default time a tool may run. */
  readonly toolTimeoutMs: number;
}

const VAD_SCHEMA = {
  oneOf: [
    {
      type: 'object',
      properties: {
        type: { const: 'server_vad' },
        threshold: { type: 'number', minimum: 0, maximum: 1 },
        silenceMs: { type: 'integer', minimum: 0, maximum: 10000 },
        prefixPaddingMs: { type: 'integer', minimum: 0, maximum: 10000 },
      },
      required: ['type'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: {
        type: { const: 'semantic_vad' },
        eagerness: { enum: ['low', 'medium', 'high', 'auto'] },
      },
      required: ['type'],
      additionalProperties: false,
    },
  ],
};

const NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,39}$';

const SMS_SCHEMA = {
  type: 'object',
  properties: {
    maxPerCall: { type: 'integer', minimum: 0, maximum: 20 },
    maxPerNumberPerDay: { type: 'integer', minimum: 0, maximum: 100 },
    maxPerDay: { type: 'integer', minimum: 0, maximum: 100000 },
    countryCodes: { type: 'array', items: { type: 'string', pattern: '^\\+[1-9][0-9]{0,5}$' }, uniqueItems: true },
    templates: {
      type: 'object',
      propertyNames: { pattern: '^[a-z][a-z0-9_]{0,39}$' },
      additionalProperties: {
        type: 'object',
        properties: {
          text: { type: 'string', minLength: 1, maxLength: 480 },
          description: { type: 'string', maxLength: 200 },
          variables: {
            type: 'object',
            propertyNames: { pattern: NAME_PATTERN },
            additionalProperties: {
              type: 'object',
              properties: {
                pattern: { type: 'string', minLength: 1, maxLength: 300 },
                maxLength: { type: 'integer', minimum: 1, maximum: 200 },
                description: { type: 'string', maxLength: 200 },
              },
              additionalProperties: false,
            },
          },
        },
        required: ['text'],
        additionalProperties: false,
      },
    },
    allowFreeText: { type: 'boolean' },
    maxFreeTextChars: { type: 'integer', minimum: 1, maximum: 480 },
  },
  additionalProperties: false,
};

const FILE_SCHEMA = {
  type: 'object',
  properties: {
    defaultProfile: { type: 'string' },
    profiles: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$' },
      additionalProperties: {
        type: 'object',
        properties: {
          engine: { type: 'string', enum: [...ENGINE_NAMES] },
          instructions: { type: 'string', minLength: 1, maxLength: 20000 },
          voice: { type: 'string', minLength: 1, maxLength: 40 },
          greeting: { type: 'string', maxLength: 2000 },
          greetsFirst: { type: 'boolean' },
          vad: VAD_SCHEMA,
          tools: { type: 'array', items: { type: 'string' }, uniqueItems: true },
          numbers: { type: 'array', items: { type: 'string', pattern: E164 }, uniqueItems: true },
          defaultTransferTarget: { type: 'string' },
          sms: SMS_SCHEMA,
          languageHint: { type: 'string', pattern: '^(auto|[a-z]{2,3}(-[A-Za-z0-9]{2,8})?)$' },
        },
        additionalProperties: false,
      },
    },
    transferTargets: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z0-9_-]{1,40}$' },
      additionalProperties: {
        type: 'object',
        properties: {
          number: { type: 'string', pattern: `${E164}|^sip:[^\\s<>"]{3,200}$` },
          announce: { type: 'string', maxLength: 500 },
          description: { type: 'string', maxLength: 200 },
          callerId: { type: 'string', pattern: E164 },
        },
        required: ['number'],
        additionalProperties: false,
      },
    },
    httpEndpoints: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z0-9_-]{1,40}$' },
      additionalProperties: {
        type: 'object',
        properties: {
          url: { type: 'string', pattern: '^https?://' },
          method: { enum: ['GET', 'POST'] },
          timeoutMs: { type: 'integer', minimum: 100, maximum: 30000 },
          maxResponseBytes: { type: 'integer', minimum: 1, maximum: 1048576 },
          headers: { type: 'object', additionalProperties: { type: 'string' } },
          description: { type: 'string', maxLength: 300 },
          params: {
            type: 'object',
            propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,63}$' },
            maxProperties: 20,
            additionalProperties: {
              type: 'object',
              properties: {
                type: { enum: ['string', 'number', 'integer', 'boolean'] },
                required: { type: 'boolean' },
                pattern: { type: 'string', minLength: 1, maxLength: 300 },
                maxLength: { type: 'integer', minimum: 1, maximum: 500 },
                description: { type: 'string', maxLength: 200 },
              },
              additionalProperties: false,
            },
          },
        },
        required: ['url'],
        additionalProperties: false,
      },
    },
    sms: SMS_SCHEMA,
  },
  additionalProperties: false,
};

type SmsFile = Partial<Omit<SmsSettings, 'templates'>> & {
  templates?: Record<string, { text: string; description?: string; variables?: Record<string, Partial<SmsVariable>> }>;
};

interface ProfilesFile {
  defaultProfile?: string;
  profiles?: Record<string, Partial<Omit<AgentProfile, 'name' | 'sms'>> & { sms?: SmsFile }>;
  transferTargets?: Record<string, TransferTarget>;
  httpEndpoints?: Record<
    string,
    Omit<Partial<HttpEndpoint>, 'params'> & { url: string; params?: Record<string, Partial<HttpParam>> }
  >;
  sms?: SmsFile;
}

const ajv = new Ajv({ allErrors: true, strict: true });
const validateFile = ajv.compile(FILE_SCHEMA);

function describeAjvError(e: ErrorObject): string {
  const at = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(top level)';
  if (e.keyword === 'additionalProperties') {
    return `${at}: unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
  }
  if (e.keyword === 'enum')
    return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  return `${at}: ${e.message ?? 'is invalid'}`;
}

/**
 * Builds the agent settings from the configuration (and AGENT_PROFILES_FILE when set). Throws a
 * ConfigError listing every problem.
 */
export function loadAgentSettings(config: Config, skills: readonly Skill[], fileContent?: string): AgentSettings {
  const problems: string[] = [];
  const label = 'AGENT_PROFILES_FILE';
  let file: ProfilesFile = {};
  const text =
    fileContent ??
    (config.agent.profilesFile
      ? (() => {
          try {
            return readFileSync(config.agent.profilesFile, 'utf8');
          } catch (err) {
            problems.push(
              `${label}: cannot read ${config.agent.profilesFile} (${(err as NodeJS.ErrnoException).code})`,
            );
            return undefined;
          }
        })()
      : undefined);
  if (text !== undefined) {
    try {
      file = JSON.parse(text) as ProfilesFile;
    } catch (err) {
      problems.push(`${label}: not valid JSON (${(err as Error).message})`);
    }
    if (!problems.length && !validateFile(file)) {
      for (const e of validateFile.errors ?? []) {
        // oneOf failures repeat each branch's errors: the branch messages are enough.
        if (e.keyword === 'oneOf') continue;
        problems.push(`${label}: ${describeAjvError(e)}`);
      }
    }
    if (problems.length) throw new ConfigError(problems);
  }

  const transferTargets: Record<string, TransferTarget> = { ...(file.transferTargets ?? {}) };
  if (config.agent.transferNumber && !transferTargets.default) {
    transferTargets.default = { number: config.agent.transferNumber, description: 'a human colleague' };
  }
  const httpEndpoints: Record<string, HttpEndpoint> = {};
  for (const [name, e] of Object.entries(file.httpEndpoints ?? {})) {
    const params: Record<string, HttpParam> = {};
    for (const [param, p] of Object.entries(e.params ?? {})) {
      params[param] = {
        type: p.type ?? 'string',
        required: p.required ?? false,
        pattern: p.pattern,
        maxLength: p.maxLength ?? 200,
        description: p.description,
      };
      if (p.pattern !== undefined && !compiles(p.pattern)) {
        problems.push(`${label}: httpEndpoints.${name}.params.${param}.pattern: is not a valid regular expression`);
      }
    }
    httpEndpoints[name] = {
      url: e.url,
      method: e.method ?? 'GET',
      timeoutMs: e.timeoutMs ?? 3000,
      maxResponseBytes: e.maxResponseBytes ?? 64 * 1024,
      headers: e.headers ?? {},
      description: e.description,
      params,
    };
    try {
      const url = new URL(e.url);
      // Query parameters of the configured URL are fixed: the model can never set or override them.
      for (const param of Object.keys(params)) {
        if (url.searchParams.has(param)) {
          problems.push(`${label}: httpEndpoints.${name}.params.${param}: is already set in the url`);
        }
      }
    } catch {
      problems.push(`${label}: httpEndpoints.${name}.url: is not a valid URL`);
    }
  }

  const senderCode = countryCallingCode(config.twilio.phoneNumber);
  const smsDefaults: SmsSettings = {
    maxPerCall: 3,
    maxPerNumberPerDay: 3,
    maxPerDay: 100,
    countryCodes: senderCode ? [senderCode] : [],
    templates: {},
    allowFreeText: false,
    maxFreeTextChars: 160,
  };
  const fileSms = resolveSms(smsDefaults, file.sms, `${label}: sms`, problems);

  const base: AgentProfile = {
    name: DEFAULT_PROFILE_NAME,
    engine: 'realtime',
    instructions: config.agent.instructions,
    voice: config.agent.voice,
    greeting: config.agent.greeting,
    greetsFirst: config.agent.greetsFirst,
    vad: config.agent.vad,
    tools: config.agent.tools,
    numbers: [],
    sms: fileSms,
  };
  const profiles = new Map<string, AgentProfile>([[DEFAULT_PROFILE_NAME, base]]);
  for (const [name, p] of Object.entries(file.profiles ?? {})) {
    const from = name === DEFAULT_PROFILE_NAME ? base : profiles.get(DEFAULT_PROFILE_NAME)!;
    profiles.set(name, {
      ...from,
      ...p,
      name,
      vad: fillVad(p.vad, config.agent.vad),
      tools: p.tools ?? from.tools,
      numbers: p.numbers ?? [],
      sms: resolveSms(fileSms, p.sms, `${label}: profiles.${name}.sms`, problems),
    });
  }
  if (!profiles.has(ECHO_PROFILE_NAME)) {
    profiles.set(ECHO_PROFILE_NAME, {
      ...base,
      name: ECHO_PROFILE_NAME,
      engine: 'echo',
      tools: [],
      greetsFirst: false,
    });
  }
  const defaultProfile = file.defaultProfile ?? DEFAULT_PROFILE_NAME;
  if (!profiles.has(defaultProfile)) problems.push(`${label}: defaultProfile: no profile named "${defaultProfile}"`);

  const settings: AgentSettings = {
    defaultProfile,
    profiles,
    transferTargets,
    httpEndpoints,
    sms: { ...fileSms, from: config.twilio.phoneNumber },
    toolTimeoutMs: config.agent.toolTimeoutMs,
  };

  const skillsByName = new Map(skills.map((s) => [s.name, s]));
  const twilioConfigured = Boolean(config.twilio.accountSid && config.twilio.authToken && config.twilio.phoneNumber);
  const numberOwners = new Map<string, string>();
  for (const profile of profiles.values()) {
    const where =
      profile.name === DEFAULT_PROFILE_NAME && !file.profiles?.default
        ? 'AGENT_TOOLS'
        : `${label}: profiles.${profile.name}`;
    for (const tool of profile.tools) {
      const skill = skillsByName.get(tool);
      if (!skill) {
        problems.push(`${where}: unknown tool "${tool}" (known: ${[...skillsByName.keys()].join(', ')})`);
        continue;
      }
      const problem = skill.checkConfig?.(settings, { twilioConfigured }, profile);
      if (problem) problems.push(`${where}: tool ${tool} ${problem}`);
    }
    if (profile.defaultTransferTarget && !transferTargets[profile.defaultTransferTarget]) {
      problems.push(`${where}.defaultTransferTarget: no transfer target named "${profile.defaultTransferTarget}"`);
    }
    for (const number of profile.numbers) {
      const owner = numberOwners.get(number);
      if (owner) problems.push(`${where}.numbers: ${number} is already used by profile ${owner}`);
      else numberOwners.set(number, profile.name);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return settings;
}

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern, 'u');
    return true;
  } catch {
    return false;
  }
}

/** Placeholders of an SMS template text: `{name}`. */
export const SMS_PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]{0,39})\}/g;

/** `over` on top of `base`, field by field (a given `templates` replaces the whole set). */
function resolveSms(base: SmsSettings, over: SmsFile | undefined, where: string, problems: string[]): SmsSettings {
  if (!over) return base;
  const templates: Record<string, SmsTemplate> = {};
  for (const [name, t] of Object.entries(over.templates ?? {})) {
    const placeholders = new Set([...t.text.matchAll(SMS_PLACEHOLDER)].map((m) => m[1]));
    const variables: Record<string, SmsVariable> = {};
    for (const v of placeholders) {
      const declared = t.variables?.[v] ?? {};
      variables[v] = {
        pattern: declared.pattern,
        maxLength: declared.maxLength ?? 40,
        description: declared.description,
      };
      if (declared.pattern !== undefined && !compiles(declared.pattern)) {
        problems.push(`${where}.templates.${name}.variables.${v}.pattern: is not a valid regular expression`);
      }
    }
    for (const v of Object.keys(t.variables ?? {})) {
      if (!placeholders.has(v)) problems.push(`${where}.templates.${name}.variables.${v}: not used in the text`);
    }
    templates[name] = { text: t.text, description: t.description, variables };
  }
  return {
    ...base,
    ...Object.fromEntries(Object.entries(over).filter(([k, v]) => k !== 'templates' && v !== undefined)),
    templates: over.templates ? templates : base.templates,
  };
}

function fillVad(vad: Partial<VadSettings> | undefined, fallback: VadSettings): VadSettings {
  if (!vad) return fallback;
  if (vad.type === 'semantic_vad')
    return { type: 'semantic_vad', eagerness: (vad as { eagerness?: 'auto' }).eagerness ?? 'auto' };
  const fb = fallback.type === 'server_vad' ? fallback : { threshold: 0.5, silenceMs: 500, prefixPaddingMs: 300 };
  const v = vad as Partial<Extract<VadSettings, { type: 'server_vad' }>>;
  return {
    type: 'server_vad',
    threshold: v.threshold ?? fb.threshold,
    silenceMs: v.silenceMs ?? fb.silenceMs,
    prefixPaddingMs: v.prefixPaddingMs ?? fb.prefixPaddingMs,
  };
}

/** The profile named `name`, else the default one. */
export function profileByName(settings: AgentSettings, name: string | null | undefined): AgentProfile {
  return (name && settings.profiles.get(name)) || settings.profiles.get(settings.defaultProfile)!;
}

/** The profile of a dialled number, else the default one. */
export function profileForNumber(settings: AgentSettings, dialled: string | null | undefined): AgentProfile {
  if (dialled) {
    for (const profile of settings.profiles.values()) if (profile.numbers.includes(dialled)) return profile;
  }
  return settings.profiles.get(settings.defaultProfile)!;
}
