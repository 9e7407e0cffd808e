/**
 * Whisper: a supervisor's guidance reaches a live call's agent as context for its next turns
 * (engine.addContext: a system item for a Realtime session, a system message for the pipeline),
 * never the caller's ear. It is kept on the call's timeline (`supervisor.whisper`, who and what) and
 * published live (`supervisor.note`), where the transcript views show it as a supervisor note.
 */
import type { EventBus } from '../events/event-bus';
import type { Actor } from './role-guard';

/** Longest whisper, in characters. */
export const MAX_WHISPER_CHARS = 1000;

/** What the agent is told around the supervisor's words. The local AI recognises this prefix. */
export const WHISPER_PREFIX = 'Supervisor guidance for your next turns';

export function whisperContext(text: string): string {
  return `${WHISPER_PREFIX} (the caller cannot hear this; act on it, do not read it out): ${text}`;
}

/** The part of a conversation that a whisper touches. */
export interface WhisperTarget {
  callId: string;
  callerClockMs: number;
  engine: { addContext(text: string): void };
  addEvent(type: string, data: Record<string, unknown>): void;
  log: { info(message: string, meta?: Record<string, unknown>): void };
}

/** Trims and checks a whisper; returns the clean text or an error message. */
export function cleanWhisper(raw: unknown): { text: string } | { error: string } {
  if (typeof raw !== 'string') return { error: 'must be a string' };
  // Control characters other than newlines and tabs are dropped (they end up in a model's context).
  // eslint-disable-next-line no-control-regex
  const text = raw.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '').trim();
  if (!text) return { error: 'must not be empty' };
  if (text.length > MAX_WHISPER_CHARS) return { error: `must be at most ${MAX_WHISPER_CHARS} characters` };
  return { text };
}

export function whisper(target: WhisperTarget, bus: EventBus, actor: Actor, text: string): { offsetMs: number } {
  const offsetMs = Math.round(target.callerClockMs);
  target.engine.addContext(whisperContext(text));
  target.addEvent('supervisor.whisper', { by: actor.name, role: actor.role, text });
  bus.publish('supervisor.note', { callId: target.callId, by: actor.name, text, offsetMs });
  target.log.info('supervisor whispered to the agent', { by: actor.name, text });
  return { offsetMs };
}
