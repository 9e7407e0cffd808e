/**
 * Realtime API server events (one interface per event) and the parser that reads them at the edge:
 * beta names normalised to GA names, required fields checked, unknown types passed through, never
 * a throw.
 */
import {
  BETA_SERVER_EVENT_ALIASES,
  type ConversationItem,
  type RealtimeErrorDetail,
  type RealtimeResponse,
  type RealtimeSessionConfig,
} from './protocol-common';

// ---------------------------------------------------------------------------------------------
// Server events
// ---------------------------------------------------------------------------------------------

interface ServerEventBase {
  event_id?: string;
}
export interface SessionCreatedEvent extends ServerEventBase {
  type: 'session.created';
  session: RealtimeSessionConfig & { id?: string };
}
export interface SessionUpdatedEvent extends ServerEventBase {
  type: 'session.updated';
  session: RealtimeSessionConfig & { id?: string };
}
export interface ErrorEvent extends ServerEventBase {
  type: 'error';
  error: RealtimeErrorDetail;
}
export interface InputAudioBufferSpeechStartedEvent extends ServerEventBase {
  type: 'input_audio_buffer.speech_started';
  audio_start_ms: number;
  item_id: string;
}
export interface InputAudioBufferSpeechStoppedEvent extends ServerEventBase {
  type: 'input_audio_buffer.speech_stopped';
  audio_end_ms: number;
  item_id: string;
}
export interface InputAudioBufferCommittedEvent extends ServerEventBase {
  type: 'input_audio_buffer.committed';
  item_id: string;
  previous_item_id?: string | null;
}
export interface InputAudioBufferClearedEvent extends ServerEventBase {
  type: 'input_audio_buffer.cleared';
}
export interface ConversationItemAddedEvent extends ServerEventBase {
  type: 'conversation.item.added';
  previous_item_id?: string | null;
  item: ConversationItem;
}
/** Beta name of conversation.item.added, kept as is. */
export interface ConversationItemCreatedEvent extends ServerEventBase {
  type: 'conversation.item.created';
  previous_item_id?: string | null;
  item: ConversationItem;
}
export interface ConversationItemDoneEvent extends ServerEventBase {
  type: 'conversation.item.done';
  previous_item_id?: string | null;
  item: ConversationItem;
}
export interface ConversationItemTruncatedEvent extends ServerEventBase {
  type: 'conversation.item.truncated';
  item_id: string;
  content_index: number;
  audio_end_ms: number;
}
export interface InputAudioTranscriptionDeltaEvent extends ServerEventBase {
  type: 'conversation.item.input_audio_transcription.delta';
  item_id: string;
  content_index?: number;
  delta: string;
}
export interface InputAudioTranscriptionCompletedEvent extends ServerEventBase {
  type: 'conversation.item.input_audio_transcription.completed';
  item_id: string;
  content_index?: number;
  transcript: string;
}
export interface InputAudioTranscriptionFailedEvent extends ServerEventBase {
  type: 'conversation.item.input_audio_transcription.failed';
  item_id: string;
  content_index?: number;
  error: { type?: string; code?: string; message?: string };
}
export interface ResponseCreatedEvent extends ServerEventBase {
  type: 'response.created';
  response: RealtimeResponse;
}
export interface ResponseOutputItemAddedEvent extends ServerEventBase {
  type: 'response.output_item.added';
  response_id: string;
  output_index: number;
  item: ConversationItem;
}
export interface ResponseOutputItemDoneEvent extends ServerEventBase {
  type: 'response.output_item.done';
  response_id: string;
  output_index: number;
  item: ConversationItem;
}
interface ResponseContentRef extends ServerEventBase {
  response_id: string;
  item_id: string;
  output_index?: number;
  content_index?: number;
}
export interface ResponseOutputAudioDeltaEvent extends ResponseContentRef {
  type: 'response.output_audio.delta';
  /** Base64 audio in the session's output format. */
  delta: string;
}
export interface ResponseOutputAudioDoneEvent extends ResponseContentRef {
  type: 'response.output_audio.done';
}
export interface ResponseOutputAudioTranscriptDeltaEvent extends ResponseContentRef {
  type: 'response.output_audio_transcript.delta';
  delta: string;
}
export interface ResponseOutputAudioTranscriptDoneEvent extends ResponseContentRef {
  type: 'response.output_audio_transcript.done';
  transcript: string;
}
export interface ResponseOutputTextDeltaEvent extends ResponseContentRef {
  type: 'response.output_text.delta';
  delta: string;
}
export interface ResponseOutputTextDoneEvent extends ResponseContentRef {
  type: 'response.output_text.done';
  text: string;
}
export interface ResponseFunctionCallArgumentsDeltaEvent extends ServerEventBase {
  type: 'response.function_call_arguments.delta';
  response_id: string;
  item_id: string;
  output_index?: number;
  call_id: string;
  delta: string;
}
export interface ResponseFunctionCallArgumentsDoneEvent extends ServerEventBase {
  type: 'response.function_call_arguments.done';
  response_id: string;
  item_id: string;
  output_index?: number;
  call_id: string;
  name: string;
  /** JSON text of the arguments. */
  arguments: string;
}
export interface ResponseDoneEvent extends ServerEventBase {
  type: 'response.done';
  response: RealtimeResponse;
}
export interface RateLimitsUpdatedEvent extends ServerEventBase {
  type: 'rate_limits.updated';
  rate_limits: Array<{ name: string; limit: number; remaining: number; reset_seconds: number }>;
}

export type KnownServerEvent =
  | SessionCreatedEvent
  | SessionUpdatedEvent
  | ErrorEvent
  | InputAudioBufferSpeechStartedEvent
  | InputAudioBufferSpeechStoppedEvent
  | InputAudioBufferCommittedEvent
  | InputAudioBufferClearedEvent
  | ConversationItemAddedEvent
  | ConversationItemCreatedEvent
  | ConversationItemDoneEvent
  | ConversationItemTruncatedEvent
  | InputAudioTranscriptionDeltaEvent
  | InputAudioTranscriptionCompletedEvent
  | InputAudioTranscriptionFailedEvent
  | ResponseCreatedEvent
  | ResponseOutputItemAddedEvent
  | ResponseOutputItemDoneEvent
  | ResponseOutputAudioDeltaEvent
  | ResponseOutputAudioDoneEvent
  | ResponseOutputAudioTranscriptDeltaEvent
  | ResponseOutputAudioTranscriptDoneEvent
  | ResponseOutputTextDeltaEvent
  | ResponseOutputTextDoneEvent
  | ResponseFunctionCallArgumentsDeltaEvent
  | ResponseFunctionCallArgumentsDoneEvent
  | ResponseDoneEvent
  | RateLimitsUpdatedEvent;

export type KnownServerEventType = KnownServerEvent['type'];

/** Any event type this file does not model (passed through, never thrown on). */
export interface UnknownServerEvent {
  type: string;
  [key: string]: unknown;
}

export type RealtimeServerEvent = KnownServerEvent | UnknownServerEvent;

/**
 * Required top-level fields of the known events the bridge relies on. An event missing one is a
 * protocol error, so handlers can trust the typed shape. Types not listed here are only checked
 * for being objects with a string `type`.
 */
const REQUIRED_FIELDS: Readonly<
  Record<KnownServerEventType, ReadonlyArray<readonly [string, 'string' | 'number' | 'object']>>
> = {
  'session.created': [['session', 'object']],
  'session.updated': [['session', 'object']],
  error: [['error', 'object']],
  'input_audio_buffer.speech_started': [
    ['item_id', 'string'],
    ['audio_start_ms', 'number'],
  ],
  'input_audio_buffer.speech_stopped': [
    ['item_id', 'string'],
    ['audio_end_ms', 'number'],
  ],
  'input_audio_buffer.committed': [['item_id', 'string']],
  'input_audio_buffer.cleared': [],
  'conversation.item.added': [['item', 'object']],
  'conversation.item.created': [['item', 'object']],
  'conversation.item.done': [['item', 'object']],
  'conversation.item.truncated': [
    ['item_id', 'string'],
    ['audio_end_ms', 'number'],
  ],
  'conversation.item.input_audio_transcription.delta': [
    ['item_id', 'string'],
    ['delta', 'string'],
  ],
  'conversation.item.input_audio_transcription.completed': [
    ['item_id', 'string'],
    ['transcript', 'string'],
  ],
  'conversation.item.input_audio_transcription.failed': [['item_id', 'string']],
  'response.created': [['response', 'object']],
  'response.output_item.added': [['item', 'object']],
  'response.output_item.done': [['item', 'object']],
  'response.output_audio.delta': [
    ['response_id', 'string'],
    ['item_id', 'string'],
    ['delta', 'string'],
  ],
  'response.output_audio.done': [['item_id', 'string']],
  'response.output_audio_transcript.delta': [
    ['item_id', 'string'],
    ['delta', 'string'],
  ],
  'response.output_audio_transcript.done': [
    ['item_id', 'string'],
    ['transcript', 'string'],
  ],
  'response.output_text.delta': [['delta', 'string']],
  'response.output_text.done': [['text', 'string']],
  'response.function_call_arguments.delta': [
    ['call_id', 'string'],
    ['delta', 'string'],
  ],
  'response.function_call_arguments.done': [
    ['call_id', 'string'],
    ['name', 'string'],
    ['arguments', 'string'],
  ],
  'response.done': [['response', 'object']],
  'rate_limits.updated': [['rate_limits', 'object']],
};

export const KNOWN_SERVER_EVENT_TYPES: ReadonlySet<string> = new Set(Object.keys(REQUIRED_FIELDS));

/**
 * Narrows a parsed event to the modelled union, so `switch (event.type)` sees exact shapes
 * (a member with `type: string` would otherwise widen every case).
 */
export function isKnownServerEvent(event: RealtimeServerEvent): event is KnownServerEvent {
  return KNOWN_SERVER_EVENT_TYPES.has(event.type);
}

export type ParseServerEventResult = { ok: true; event: RealtimeServerEvent } | { ok: false; reason: string };

/** Parses one text frame from the server. Never throws. */
export function parseServerEvent(raw: string): ParseServerEventResult {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'invalid JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: 'event is not a JSON object' };
  }
  const event = value as Record<string, unknown>;
  if (typeof event.type !== 'string' || event.type.length === 0) {
    return { ok: false, reason: 'event has no string "type"' };
  }
  let type: string = event.type;
  const alias = BETA_SERVER_EVENT_ALIASES[type];
  if (alias) event.type = type = alias;
  const required = (REQUIRED_FIELDS as Record<string, ReadonlyArray<readonly [string, string]>>)[type];
  if (required) {
    for (const [field, kind] of required) {
      const v = event[field];
      const ok = kind === 'object' ? v !== null && typeof v === 'object' : typeof v === kind;
      if (!ok) return { ok: false, reason: `${type}: "${field}" must be a ${kind}` };
    }
  }
  return { ok: true, event: event as RealtimeServerEvent };
}
