/**
 * Personalisation of one outbound call: who is called (contactName, businessName, userId, free
 * variables) fills the profile's instructions and greeting (templates, see template.ts), or a fixed
 * `message` replaces the conversation: the agent reads it in its own voice and hangs up.
 *
 * The bridge asks `PersonalisationStore.apply(callId, profile)` when it prepares a call; the store
 * keeps each placed call's personalisation until then (bounded, and forgotten after a day).
 */
import type { AgentProfile } from '../agent/profiles';
import { escapeValue, renderTemplate, MAX_VARIABLES, VARIABLE_NAME, type TemplateValues } from './template';

export const MAX_MESSAGE_CHARS = 1000;

export interface Personalisation {
  contactName?: string;
  businessName?: string;
  userId?: string;
  variables?: Record<string, string>;
  /** Fixed message mode: the agent says this and hangs up. */
  message?: string;
}

export class PersonalisationError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PersonalisationError';
  }
}

const FIELD_LIMITS = { contactName: 100, businessName: 100, userId: 64 } as const;

/** Checks the personalisation fields of a request body; throws PersonalisationError naming the field. */
export function parsePersonalisation(body: Record<string, unknown>): Personalisation {
  const out: Personalisation = {};
  for (const [field, max] of Object.entries(FIELD_LIMITS) as [keyof typeof FIELD_LIMITS, number][]) {
    const value = body[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length > max) {
      throw new PersonalisationError(field, `must be a string of at most ${max} characters`);
    }
    out[field] = value;
  }
  if (body.variables !== undefined) {
    const vars = body.variables;
    if (!vars || typeof vars !== 'object' || Array.isArray(vars)) {
      throw new PersonalisationError('variables', 'must be a JSON object of strings');
    }
    const entries = Object.entries(vars as Record<string, unknown>);
    if (entries.length > MAX_VARIABLES) {
      throw new PersonalisationError('variables', `must have at most ${MAX_VARIABLES} keys`);
    }
    const clean: Record<string, string> = {};
    for (const [key, value] of entries) {
      if (!VARIABLE_NAME.test(key)) {
        throw new PersonalisationError('variables', `${JSON.stringify(key.slice(0, 40))} is not a valid name`);
      }
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw new PersonalisationError('variables', `${key} must be a string, number or boolean`);
      }
      if (String(value).length > 500) throw new PersonalisationError('variables', `${key} is too long`);
      clean[key] = String(value);
    }
    out.variables = clean;
  }
  if (body.message !== undefined) {
    if (typeof body.message !== 'string' || body.message.trim() === '' || body.message.length > MAX_MESSAGE_CHARS) {
      throw new PersonalisationError(
        'message',
        `must be a non-empty string of at most ${MAX_MESSAGE_CHARS} characters`,
      );
    }
    out.message = body.message;
  }
  return out;
}

/** The values a template sees: the variables, then the named fields (which win). */
export function templateValues(p: Personalisation): TemplateValues {
  return {
    ...(p.variables ?? {}),
    ...(p.contactName !== undefined ? { contactName: p.contactName } : {}),
    ...(p.businessName !== undefined ? { businessName: p.businessName } : {}),
    ...(p.userId !== undefined ? { userId: p.userId } : {}),
  };
}

/** The profile this call runs with: templates filled, or the fixed-message agent. */
export function personaliseProfile(profile: AgentProfile, p: Personalisation): AgentProfile {
  const values = templateValues(p);
  if (p.message !== undefined) {
    const message = renderTemplate(p.message.replace(/[\r\n]+/g, ' '), values).replace(/"/g, "'");
    return {
      ...profile,
      instructions:
        'You are leaving a recorded message on a phone call. Say exactly the message below, word for word, ' +
        'in a friendly voice, then call end_call at once. Do not answer questions or add anything.\n' +
        `Message: "${message}"`,
      greeting: `Say exactly: "${message}" Then call end_call.`,
      greetsFirst: true,
      tools: ['end_call'],
    };
  }
  return {
    ...profile,
    instructions: renderTemplate(profile.instructions, values),
    greeting: renderTemplate(profile.greeting, values),
  };
}

/** What is kept with the call record (metadata.custom.personalisation): never the template itself. */
export function personalisationRecord(p: Personalisation): Record<string, unknown> {
  return {
    ...(p.contactName !== undefined ? { contactName: escapeValue(p.contactName) } : {}),
    ...(p.businessName !== undefined ? { businessName: escapeValue(p.businessName) } : {}),
    ...(p.userId !== undefined ? { userId: p.userId } : {}),
    ...(p.variables ? { variables: p.variables } : {}),
    mode: p.message !== undefined ? 'message' : 'conversation',
  };
}

const MAX_PENDING = 10_000;
const TTL_MS = 24 * 60 * 60 * 1000;

/** Personalisations of placed calls until their conversation is prepared. */
export class PersonalisationStore {
  private readonly pending = new Map<string, { p: Personalisation; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  set(callId: string, p: Personalisation): void {
    this.prune();
    if (this.pending.size >= MAX_PENDING) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
    this.pending.set(callId, { p, at: this.now() });
  }

  get(callId: string): Personalisation | undefined {
    return this.pending.get(callId)?.p;
  }

  /**
   * The profile of a call being prepared: its personalisation applied, else the templates' defaults
   * (a profile without placeholders is returned as it is).
   */
  apply(callId: string, profile: AgentProfile): AgentProfile {
    const entry = this.pending.get(callId);
    if (!entry) {
      const templated = profile.instructions.includes('{{') || profile.greeting.includes('{{');
      return templated ? personaliseProfile(profile, {}) : profile;
    }
    this.pending.delete(callId);
    return personaliseProfile(profile, entry.p);
  }

  forget(callId: string): void {
    this.pending.delete(callId);
  }

  private prune(): void {
    const limit = this.now() - TTL_MS;
    for (const [id, entry] of this.pending) {
      if (entry.at >= limit) break;
      this.pending.delete(id);
    }
  }
}
