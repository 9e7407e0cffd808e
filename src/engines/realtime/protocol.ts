/**
 * OpenAI Realtime API wire protocol (GA shape): constants, one interface per event, the server-event
 * parser and the client-event builders. Pure translation: no sockets, no I/O.
 *
 * Beta event names that some servers still speak are normalised at the edge by parseServerEvent
 * (`response.audio.delta` → `response.output_audio.delta`, ...), so the rest of the code only knows
 * the GA names. Unknown event types pass through untouched; the parser never throws.
 */

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

export const REALTIME_PATH = '/v1/realtime';
/** G.711 mu-law as Twilio sends it: 8 kHz, one byte per sample. */
export const PCMU_SAMPLE_RATE_HZ = 8000;
export const PCMU_BYTES_PER_SECOND = 8000;
/** PCM16 little-endian mono at 24 kHz, the only PCM rate the Realtime API takes. */
export const PCM16_SAMPLE_RATE_HZ = 24000;
export const PCM16_BYTES_PER_SECOND = 48000;

export type AudioFormatName = 'pcmu' | 'pcm16';

/** Bytes per second of audio on the wire for each format. */
export const AUDIO_BYTES_PER_SECOND: Readonly<Record<AudioFormatName, number>> = {
  pcmu: PCMU_BYTES_PER_SECOND,
  pcm16: PCM16_BYTES_PER_SECOND,
};

/** Beta server event names → GA names. `conversation.item.created` is a beta name kept as is. */
export const BETA_SERVER_EVENT_ALIASES: Readonly<Record<string, string>> = {
  'response.audio.delta': 'response.output_audio.delta',
  'response.audio.done': 'response.output_audio.done',
  'response.audio_transcript.delta': 'response.output_audio_transcript.delta',
  'response.audio_transcript.done': 'response.output_audio_transcript.done',
  'response.text.delta': 'response.output_text.delta',
  'response.text.done': 'response.output_text.done',
};

// ---------------------------------------------------------------------------------------------
// Shared shapes
// ---------------------------------------------------------------------------------------------

export type RealtimeAudioFormat = { type: 'audio/pcmu' } | { type: 'audio/pcma' } | { type: 'audio/pcm'; rate: 24000 };

export interface ServerVadTurnDetection {
  type: 'server_vad';
  threshold?: number;
  prefix_padding_ms?: number;
  silence_duration_ms?: number;
  /** Defaults to true on the server: a response starts when the caller stops speaking. */
  create_response?: boolean;
  /** When true the server cancels the active response itself on speech_started. */
  interrupt_response?: boolean;
  idle_timeout_ms?: number | null;
}

export interface SemanticVadTurnDetection {
  type: 'semantic_vad';
  eagerness?: 'low' | 'medium' | 'high' | 'auto';
  create_response?: boolean;
  interrupt_response?: boolean;
}

export type TurnDetection = ServerVadTurnDetection | SemanticVadTurnDetection;

export interface ToolDefinition {
  type: 'function';
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
}

export interface RealtimeSessionConfig {
  type: 'realtime';
  model?: string;
  instructions?: string;
  output_modalities?: Array<'audio' | 'text'>;
  audio?: {
    input?: {
      format?: RealtimeAudioFormat;
      turn_detection?: TurnDetection | null;
      transcription?: { model: string; language?: string; prompt?: string } | null;
      noise_reduction?: { type: 'near_field' | 'far_field' } | null;
    };
    output?: {
      format?: RealtimeAudioFormat;
      voice?: string;
      speed?: number;
    };
  };
  tools?: ToolDefinition[];
  tool_choice?: 'auto' | 'none' | 'required' | { type: 'function'; name: string };
  max_output_tokens?: number | 'inf';
  [key: string]: unknown;
}

export type ContentPart =
  | { type: 'input_text'; text: string }
  | { type: 'output_text'; text: string }
  | { type: 'input_audio'; audio?: string; transcript?: string | null }
  | { type: 'output_audio'; audio?: string; transcript?: string | null };

export interface MessageItem {
  id?: string;
  object?: 'realtime.item';
  type: 'message';
  role: 'user' | 'assistant' | 'system';
  status?: 'completed' | 'incomplete' | 'in_progress';
  content: ContentPart[];
}

export interface FunctionCallItem {
  id?: string;
  object?: 'realtime.item';
  type: 'function_call';
  status?: 'completed' | 'incomplete' | 'in_progress';
  call_id: string;
  name: string;
  arguments: string;
}

export interface FunctionCallOutputItem {
  id?: string;
  object?: 'realtime.item';
  type: 'function_call_output';
  call_id: string;
  output: string;
}

export type ConversationItem = MessageItem | FunctionCallItem | FunctionCallOutputItem;

export interface RealtimeUsage {
  total_tokens: number;
  input_tokens: number;
  output_tokens: number;
  input_token_details: { audio_tokens: number; text_tokens: number; cached_tokens: number };
  output_token_details: { audio_tokens: number; text_tokens: number };
}

export type ResponseStatus = 'in_progress' | 'completed' | 'cancelled' | 'failed' | 'incomplete';

export interface RealtimeResponse {
  id: string;
  object?: 'realtime.response';
  status: ResponseStatus;
  status_details?: { type?: string; reason?: string; error?: { type?: string; code?: string } } | null;
  output?: ConversationItem[];
  usage?: RealtimeUsage | null;
  [key: string]: unknown;
}

export interface RealtimeErrorDetail {
  type: string;
  code?: string | null;
  message: string;
  param?: string | null;
  event_id?: string | null;
}

// ---------------------------------------------------------------------------------------------
// Client events
// ---------------------------------------------------------------------------------------------

export interface SessionUpdateEvent {
  type: 'session.update';
  event_id?: string;
  session: RealtimeSessionConfig;
}
export interface InputAudioBufferAppendEvent {
  type: 'input_audio_buffer.append';
  event_id?: string;
  audio: string;
}
export interface InputAudioBufferCommitEvent {
  type: 'input_audio_buffer.commit';
  event_id?: string;
}
export interface InputAudioBufferClearEvent {
  type: 'input_audio_buffer.clear';
  event_id?: string;
}
export interface ConversationItemCreateEvent {
  type: 'conversation.item.create';
  event_id?: string;
  previous_item_id?: string | null;
  item: ConversationItem;
}
export interface ConversationItemTruncateEvent {
  type: 'conversation.item.truncate';
  event_id?: string;
  item_id: string;
  content_index: number;
  audio_end_ms: number;
}
export interface ResponseCreateEvent {
  type: 'response.create';
  event_id?: string;
  response?: {
    instructions?: string;
    output_modalities?: Array<'audio' | 'text'>;
    conversation?: 'auto' | 'none';
    metadata?: Record<string, string>;
    tool_choice?: RealtimeSessionConfig['tool_choice'];
  };
}
export interface ResponseCancelEvent {
  type: 'response.cancel';
  event_id?: string;
  response_id?: string;
}

export type RealtimeClientEvent =
  | SessionUpdateEvent
  | InputAudioBufferAppendEvent
  | InputAudioBufferCommitEvent
  | InputAudioBufferClearEvent
  | ConversationItemCreateEvent
  | ConversationItemTruncateEvent
  | ResponseCreateEvent
  | ResponseCancelEvent;

export type RealtimeClientEventType = RealtimeClientEvent['type'];

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

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

export type VadOptions =
  | { type: 'server_vad'; threshold: number; silenceMs: number; prefixPaddingMs: number }
  | { type: 'semantic_vad'; eagerness: 'low' | 'medium' | 'high' | 'auto' };

export interface SessionOptions {
  model: string;
  instructions: string;
  voice: string;
  audioFormat: AudioFormatName;
  vad: VadOptions;
  transcriptionModel?: string;
  tools?: ToolDefinition[];
  /**
   * Whether the server cancels its own response when the caller starts speaking. Default false:
   * the bridge decides (response.cancel + truncate at the played position), which keeps the
   * server's idea of what was heard exact. The real API's own default is true.
   */
  interruptResponse?: boolean;
  /** Whether the server answers by itself at the end of each caller turn. Default true. */
  createResponse?: boolean;
  noiseReduction?: 'near_field' | 'far_field';
  /** What the model answers with. Default ['audio'] (its transcript comes along); ['text'] for text-only calls. */
  outputModalities?: Array<'audio' | 'text'>;
}

export function audioFormatOf(name: AudioFormatName): RealtimeAudioFormat {
  return name === 'pcmu' ? { type: 'audio/pcmu' } : { type: 'audio/pcm', rate: PCM16_SAMPLE_RATE_HZ };
}

/** session.update in the GA shape. */
export function buildSessionUpdate(opts: SessionOptions): SessionUpdateEvent {
  const createResponse = opts.createResponse ?? true;
  const interruptResponse = opts.interruptResponse ?? false;
  const turnDetection: TurnDetection =
    opts.vad.type === 'server_vad'
      ? {
          type: 'server_vad',
          threshold: opts.vad.threshold,
          prefix_padding_ms: opts.vad.prefixPaddingMs,
          silence_duration_ms: opts.vad.silenceMs,
          create_response: createResponse,
          interrupt_response: interruptResponse,
        }
      : {
          type: 'semantic_vad',
          eagerness: opts.vad.eagerness,
          create_response: createResponse,
          interrupt_response: interruptResponse,
        };
  const format = audioFormatOf(opts.audioFormat);
  const session: RealtimeSessionConfig = {
    type: 'realtime',
    model: opts.model,
    instructions: opts.instructions,
    output_modalities: opts.outputModalities ?? ['audio'],
    audio: {
      input: {
        format,
        turn_detection: turnDetection,
        ...(opts.transcriptionModel ? { transcription: { model: opts.transcriptionModel } } : {}),
        ...(opts.noiseReduction ? { noise_reduction: { type: opts.noiseReduction } } : {}),
      },
      output: { format: { ...format }, voice: opts.voice },
    },
  };
  if (opts.tools && opts.tools.length > 0) {
    session.tools = opts.tools;
    session.tool_choice = 'auto';
  }
  return { type: 'session.update', session };
}

const APPEND_PREFIX = '{"type":"input_audio_buffer.append","audio":"';
const APPEND_SUFFIX = '"}';

/**
 * The hot-path serializer: one input_audio_buffer.append as a JSON string, built by concatenation.
 * `base64` must be base64 text (it is not escaped).
 */
export function appendAudioMessage(base64: string): string {
  return APPEND_PREFIX + base64 + APPEND_SUFFIX;
}

/** A user (or system) text message for conversation.item.create. */
export function textMessageItem(role: 'user' | 'system', text: string): MessageItem {
  return { type: 'message', role, content: [{ type: 'input_text', text }] };
}

/** An assistant message (what the agent said) for re-creating context on a new session. */
export function assistantMessageItem(text: string): MessageItem {
  return { type: 'message', role: 'assistant', content: [{ type: 'output_text', text }] };
}

export function functionCallOutputItem(callId: string, output: string): FunctionCallOutputItem {
  return { type: 'function_call_output', call_id: callId, output };
}

/** Milliseconds of audio in a base64 string of the given format, without decoding it. */
export function base64AudioDurationMs(base64: string, format: AudioFormatName): number {
  const len = base64.length;
  let padding = 0;
  if (len > 0 && base64.charCodeAt(len - 1) === 61 /* = */) padding++;
  if (len > 1 && base64.charCodeAt(len - 2) === 61) padding++;
  const bytes = (len * 3) / 4 - padding;
  return (bytes * 1000) / AUDIO_BYTES_PER_SECOND[format];
}

/** conversation.item.create: a message, or a function call's output. */
export function itemCreateEvent(item: ConversationItem): ConversationItemCreateEvent {
  return { type: 'conversation.item.create', item };
}

/** conversation.item.truncate of an agent item's audio at what the caller heard. */
export function truncateEvent(itemId: string, audioEndMs: number): ConversationItemTruncateEvent {
  return {
    type: 'conversation.item.truncate',
    item_id: itemId,
    content_index: 0,
    audio_end_ms: Math.round(audioEndMs),
  };
}

/** response.create; `response` only when something of the response is set. */
export function responseCreateEvent(response?: ResponseCreateEvent['response']): ResponseCreateEvent {
  return response ? { type: 'response.create', response } : { type: 'response.create' };
}

export function responseCancelEvent(): ResponseCancelEvent {
  return { type: 'response.cancel' };
}
