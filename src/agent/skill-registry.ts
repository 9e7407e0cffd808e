/**
 * SkillRegistry: the skills the agent may call, with their JSON Schemas compiled once (ajv), their
 * tool definitions for session.update, and `invoke`, which runs one tool call safely: arguments
 * parsed and validated, the handler run with a timeout (AbortSignal), and every failure turned into
 * data for the model ({ok:false, error:{code,message}}). `invoke` never throws.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { ToolDefinition } from '../conversation/engine';
import type { AgentSettings } from './profiles';
import { SkillError, type JsonSchema, type Skill, type SkillContext } from './skills/types';

/** Largest arguments string accepted from the model. */
const MAX_ARGUMENTS_CHARS = 16 * 1024;

interface CompiledSkill {
  skill: Skill;
  definition: ToolDefinition;
  validate: ValidateFunction;
}

export type ToolOutcome =
  | { ok: true; result: unknown; durationMs: number }
  | { ok: false; error: { code: string; message: string }; durationMs: number };

export class SkillRegistry {
  private readonly skills = new Map<string, CompiledSkill>();
  private readonly ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false });

  constructor(
    skills: readonly Skill[],
    private readonly settings: AgentSettings,
  ) {
    for (const skill of skills) {
      if (!/^[a-z][a-z0-9_]{0,63}$/.test(skill.name))
        throw new TypeError(`skill name "${skill.name}" is not snake_case`);
      if (this.skills.has(skill.name)) throw new TypeError(`skill "${skill.name}" is registered twice`);
      const parameters: JsonSchema =
        typeof skill.parameters === 'function' ? skill.parameters(settings) : skill.parameters;
      const description = typeof skill.description === 'function' ? skill.description(settings) : skill.description;
      this.skills.set(skill.name, {
        skill,
        definition: { type: 'function', name: skill.name, description, parameters },
        validate: this.ajv.compile(parameters),
      });
    }
  }

  has(name: string): boolean {
    return this.skills.has(name);
  }

  names(): string[] {
    return [...this.skills.keys()];
  }

  /** Tool definitions for session.update, in the order given (unknown names skipped). */
  definitions(names: readonly string[]): ToolDefinition[] {
    return names.flatMap((n) => {
      const compiled = this.skills.get(n);
      return compiled ? [compiled.definition] : [];
    });
  }

  /** Runs one tool call. `allowed` is the profile's tool list: other names are refused. */
  async invoke(
    name: string,
    rawArguments: string,
    ctx: Omit<SkillContext, 'signal'>,
    allowed: readonly string[],
    callSignal?: AbortSignal,
  ): Promise<ToolOutcome> {
    const started = performance.now();
    const fail = (code: string, message: string): ToolOutcome => ({
      ok: false,
      error: { code, message },
      durationMs: performance.now() - started,
    });
    const compiled = this.skills.get(name);
    if (!compiled || !allowed.includes(name)) return fail('unknown_tool', `there is no tool named ${name}`);
    if (rawArguments.length > MAX_ARGUMENTS_CHARS) return fail('invalid_arguments', 'the arguments are too long');
    let args: unknown;
    try {
      args = rawArguments.trim() === '' ? {} : JSON.parse(rawArguments);
    } catch {
      return fail('invalid_arguments', 'the arguments are not valid JSON');
    }
    if (!compiled.validate(args)) return fail('invalid_arguments', describeErrors(compiled.validate.errors));

    const { skill } = compiled;
    let timeoutMs = this.settings.toolTimeoutMs;
    try {
      if (typeof skill.timeoutMs === 'function') timeoutMs = skill.timeoutMs(args as never, this.settings);
      else if (skill.timeoutMs !== undefined) timeoutMs = skill.timeoutMs;
    } catch {
      // A broken timeout function falls back to the default.
    }
    const controller = new AbortController();
    const onCallAbort = (): void => controller.abort(new SkillError('call_ended', 'the call ended'));
    callSignal?.addEventListener('abort', onCallAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new SkillError('timeout', `the tool did not finish within ${timeoutMs} ms`);
        controller.abort(err);
        reject(err);
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([
        Promise.resolve().then(() =>
          skill.handler(args as Record<string, unknown>, { ...ctx, signal: controller.signal }),
        ),
        timeout,
      ]);
      return { ok: true, result: result ?? { ok: true }, durationMs: performance.now() - started };
    } catch (err) {
      if (err instanceof SkillError) return fail(err.code, err.message);
      ctx.logger.warn('tool failed', { tool: name, error: (err as Error).message });
      return fail('failed', (err as Error).message || 'the tool failed');
    } finally {
      clearTimeout(timer);
      callSignal?.removeEventListener('abort', onCallAbort);
    }
  }
}

function describeErrors(errors: ErrorObject[] | null | undefined): string {
  if (!errors?.length) return 'the arguments do not match the schema';
  return errors
    .slice(0, 5)
    .map((e) => {
      const at = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : 'arguments';
      if (e.keyword === 'additionalProperties') {
        return `${at}: unknown field ${(e.params as { additionalProperty: string }).additionalProperty}`;
      }
      if (e.keyword === 'enum') {
        return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
      }
      return `${at}: ${e.message ?? 'is invalid'}`;
    })
    .join('; ');
}
