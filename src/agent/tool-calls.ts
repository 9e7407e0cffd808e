/**
 * CallToolCalls: the tool calls of one call, for any agent engine. The conversation hands it every
 * tool call its engine reports; it runs the skill (SkillRegistry.invoke: validation, timeout, errors
 * as data), stores a `tool.call` event on the call's timeline, returns the result to the engine
 * (`sendToolResult`) and, once every tool of that response has answered and the response is done
 * (an engine may refuse a second active response), asks for the next response (`createResponse`).
 *
 * end_call / transfer_call only *request* the end: when the model has not spoken in the response
 * that called the tool, it is asked for a short goodbye (or transfer announcement) first; the
 * conversation ends the channel once that speech has played (acknowledgements), never cutting it off.
 */
import type { Call } from '../generated/prisma/client';
import type { Logger } from '../logging/logger';
import type { ToolDefinition } from '../conversation/engine';
import type { EndAction } from '../conversation/channel';
import type { AgentProfile, AgentSettings, TransferTarget } from './profiles';
import type { SkillRegistry, ToolOutcome } from './skill-registry';
import type { SkillCall, SkillServices } from './skills/types';

/** Largest function_call_output sent to the model. */
const MAX_OUTPUT_CHARS = 32 * 1024;
/** Largest result/arguments JSON kept on the timeline. */
const MAX_STORED_CHARS = 4 * 1024;

/** How our side ends a call (hang up, transfer): the channel's EndAction. */
export type StreamEndAction = EndAction;

/** App-wide agent wiring (built once in createApp). */
export interface AgentRuntime {
  registry: SkillRegistry;
  settings: AgentSettings;
  services: SkillServices;
}

/** What CallToolCalls needs from its conversation (and, through it, the engine). */
export interface ToolCallHost {
  logger: Logger;
  /** The call's current row (its callSid may arrive after the session was created). */
  call(): Call;
  /** Returns a tool's result (JSON text) to the engine. */
  sendToolResult(toolCallId: string, output: string): void;
  /** Asks the engine for the next response (`instructions` for that response only). */
  createResponse(instructions?: string): void;
  /** Stores a tool.call event on the timeline. */
  record(data: Record<string, unknown>): void;
  /** Whether the response carried agent audio (a goodbye said before the tool call). */
  responseHadAudio(responseId: string | undefined): boolean;
  /** Close the stream with `action` once the agent's speech has played; `expectSpeech`: a response is coming. */
  endAfterSpeech(action: StreamEndAction, expectSpeech: boolean): void;
}

interface Batch {
  pending: number;
  done: boolean;
}

export class CallToolCalls {
  private readonly batches = new Map<string, Batch>();
  /** Aborts the skills still running when the call ends; made with the first tool call (most calls make none). */
  private abort: AbortController | undefined;
  private requestedEnd: StreamEndAction | undefined;
  private endScheduled = false;
  private closed = false;
  readonly skillCall: SkillCall;

  constructor(
    private readonly runtime: AgentRuntime,
    readonly profile: AgentProfile,
    private readonly host: ToolCallHost,
  ) {
    const requestEnd = (action: StreamEndAction): void => {
      this.requestedEnd ??= action;
    };
    this.skillCall = {
      get id() {
        return host.call().id;
      },
      get callSid() {
        return host.call().callSid;
      },
      get from() {
        return host.call().from;
      },
      get to() {
        return host.call().to;
      },
      get direction() {
        return host.call().direction;
      },
      get remoteNumber() {
        const c = host.call();
        return c.direction === 'outbound' ? c.to : c.from;
      },
      get localNumber() {
        const c = host.call();
        return c.direction === 'outbound' ? c.from : c.to;
      },
      profile,
      hangUp: () => requestEnd({ kind: 'hangup' }),
      transfer: (target: TransferTarget) => requestEnd({ kind: 'transfer', target }),
    };
  }

  /** Tools declared in session.update. */
  definitions(): ToolDefinition[] {
    return this.runtime.registry.definitions(this.profile.tools);
  }

  onFunctionCall(event: { responseId: string | undefined; toolCallId: string; name: string; arguments: string }): void {
    if (this.closed) return;
    const key = event.responseId ?? '';
    const batch = this.batches.get(key) ?? { pending: 0, done: false };
    batch.pending++;
    this.batches.set(key, batch);
    const call = this.host.call();
    void this.runtime.registry
      .invoke(
        event.name,
        event.arguments,
        { callId: call.id, call: this.skillCall, logger: this.host.logger, services: this.runtime.services },
        this.profile.tools,
        (this.abort ??= new AbortController()).signal,
      )
      .then((outcome) => this.onOutcome(event, outcome))
      .catch((err: unknown) => this.host.logger.error('tool call handling failed', { error: (err as Error).message }))
      .finally(() => {
        batch.pending--;
        this.maybeContinue(key, batch);
      });
  }

  onResponseDone(responseId: string | undefined): void {
    const key = responseId ?? '';
    const batch = this.batches.get(key);
    if (!batch) return;
    batch.done = true;
    this.maybeContinue(key, batch);
  }

  /** A new AI session knows nothing of the old one's function calls. */
  reset(): void {
    this.batches.clear();
  }

  close(): void {
    this.closed = true;
    this.batches.clear();
    // Aborting builds a DOMException with its stack: only when a skill may be listening.
    this.abort?.abort();
  }

  private onOutcome(
    event: { responseId: string | undefined; toolCallId: string; name: string; arguments: string },
    outcome: ToolOutcome,
  ): void {
    const durationMs = Math.round(outcome.durationMs);
    this.host.record({
      toolCallId: event.toolCallId,
      name: event.name,
      arguments: forStorage(parseOrRaw(event.arguments)),
      ok: outcome.ok,
      ...(outcome.ok ? { result: forStorage(outcome.result) } : { error: outcome.error }),
      durationMs,
    });
    this.host.logger.info('tool call', {
      tool: event.name,
      ok: outcome.ok,
      durationMs,
      ...(outcome.ok ? {} : { code: outcome.error.code }),
    });
    if (this.closed) return;
    let output = JSON.stringify(outcome.ok ? outcome.result : { ok: false, error: outcome.error }) ?? '{}';
    if (output.length > MAX_OUTPUT_CHARS) {
      output = JSON.stringify({ ok: outcome.ok, truncated: true, text: output.slice(0, MAX_OUTPUT_CHARS) });
    }
    this.host.sendToolResult(event.toolCallId, output);
  }

  private maybeContinue(key: string, batch: Batch): void {
    if (batch.pending > 0 || !batch.done || this.batches.get(key) !== batch) return;
    this.batches.delete(key);
    if (this.closed) return;
    if (this.requestedEnd) {
      if (this.endScheduled) return;
      this.endScheduled = true;
      const action = this.requestedEnd;
      const spoke = this.host.responseHadAudio(key || undefined);
      if (!spoke) {
        const prompt =
          action.kind === 'hangup'
            ? 'Say a brief, friendly goodbye to the caller now, in one short sentence.'
            : 'Tell the caller in one short sentence that you are transferring them to a colleague now.';
        this.host.createResponse(`${this.profile.instructions}\n\n${prompt}`);
      }
      this.host.endAfterSpeech(action, !spoke);
      return;
    }
    this.host.createResponse();
  }
}

function parseOrRaw(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function forStorage(value: unknown): unknown {
  const json = JSON.stringify(value);
  if (json === undefined) return null;
  return json.length > MAX_STORED_CHARS ? { truncated: true, json: json.slice(0, MAX_STORED_CHARS) } : value;
}
