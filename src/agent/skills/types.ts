/**
 * What a skill (a tool the agent can call) is. A skill is one file under src/agent/skills exporting
 * a `Skill`, listed once in ./index.ts. Its `parameters` are a JSON Schema: the arguments the model
 * sends are validated against it (ajv) before the handler runs, so the handler receives checked
 * values. The handler runs with a timeout (`signal` aborts) and whatever it returns (JSON-able) goes
 * back to the model; a thrown SkillError goes back as `{ok:false,error:{code,message}}`.
 */
import type { Logger } from '../../logging/logger';
import type { TwilioRestService } from '../../channels/twilio/twilio-rest-service';
import type { AgentProfile, AgentSettings, TransferTarget } from '../profiles';
import type { SmsLimiter } from './sms-limiter';

export type JsonSchema = Record<string, unknown>;

/** The call a skill acts on: read-only facts plus the actions that end or hand over the call. */
export interface SkillCall {
  readonly id: string;
  readonly callSid: string | null;
  readonly from: string | null;
  readonly to: string | null;
  /** inbound | outbound */
  readonly direction: string;
  /** The caller's (inbound) or callee's (outbound) number: who is on the line with the agent. */
  readonly remoteNumber: string | null;
  /** Our number on this call (the dialled number inbound, the caller ID outbound). */
  readonly localNumber: string | null;
  readonly profile: AgentProfile;
  /** Hang up once the agent's goodbye has played (end reason agent-hangup). */
  hangUp(): void;
  /** Hand the caller to a human once the agent's announcement has played (end reason transferred). */
  transfer(target: TransferTarget): void;
}

export interface SkillServices {
  /** Absent when Twilio credentials are not configured. */
  twilio: TwilioRestService | undefined;
  settings: AgentSettings;
  /** send_sms daily counters (default: one per process, shared by every call). */
  smsLimiter?: SmsLimiter;
  /** Where set_disposition records a call's disposition (the call's metadata, its campaign contact). */
  dispositions?: { set(callId: string, disposition: string, note?: string): Promise<void> };
}

export interface SkillContext {
  callId: string;
  call: SkillCall;
  logger: Logger;
  services: SkillServices;
  /** Aborted when the skill's timeout passes or the call ends. */
  signal: AbortSignal;
}

export interface Skill<Args = Record<string, unknown>> {
  /** The tool name the model uses: lower_snake_case. */
  name: string;
  /** Tells the model when to use it (static, or built from the configuration). */
  description: string | ((settings: AgentSettings) => string);
  /** JSON Schema of the arguments (type object). */
  parameters: JsonSchema | ((settings: AgentSettings) => JsonSchema);
  /** How long the handler may run (default AgentSettings.toolTimeoutMs). */
  timeoutMs?: number | ((args: Args, settings: AgentSettings) => number);
  /** A configuration problem that makes the skill unusable (checked at start for profiles listing it). */
  checkConfig?: (
    settings: AgentSettings,
    services: { twilioConfigured: boolean },
    profile: AgentProfile,
  ) => string | undefined;
  handler(args: Args, ctx: SkillContext): Promise<unknown> | unknown;
}

/** An error meant for the model: a stable code and a short message it can act on. */
export class SkillError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SkillError';
  }
}

/** Identity helper that keeps a skill's argument type while storing it in a Skill[] list. */
export function defineSkill<Args>(skill: Skill<Args>): Skill {
  return skill as unknown as Skill;
}
