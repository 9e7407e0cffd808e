/**
 * Realtime API client events (what the bridge sends) and their builders. Pure translation: no I/O.
 */
import { base64Message } from '../../audio/base64-message';
import {
  AUDIO_BYTES_PER_SECOND,
  type AudioFormatName,
  type ConversationItem,
  type FunctionCallOutputItem,
  type MessageItem,
  PCM16_SAMPLE_RATE_HZ,
  type RealtimeAudioFormat,
  type RealtimeSessionConfig,
  type ToolDefinition,
  type TurnDetection,
} from './protocol-common';

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
  /** The caller's language (ISO-639-1) for input transcription; absent: the model detects it. */
  transcriptionLanguage?: string;
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
        ...(opts.transcriptionModel
          ? {
              transcription: {
                model: opts.transcriptionModel,
                ...(opts.transcriptionLanguage ? { language: opts.transcriptionLanguage } : {}),
              },
            }
          : {}),
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

/** A session.update that changes only the instructions and the input transcription (its language). */
export function buildLanguageUpdate(opts: {
  instructions: string;
  transcriptionModel?: string;
  transcriptionLanguage?: string;
}): SessionUpdateEvent {
  const session: RealtimeSessionConfig = { type: 'realtime', instructions: opts.instructions };
  if (opts.transcriptionModel) {
    session.audio = {
      input: {
        transcription: {
          model: opts.transcriptionModel,
          ...(opts.transcriptionLanguage ? { language: opts.transcriptionLanguage } : {}),
        },
      },
    };
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

const APPEND_PREFIX_BYTES = Buffer.from(APPEND_PREFIX, 'latin1');
const APPEND_SUFFIX_BYTES = Buffer.from(APPEND_SUFFIX, 'latin1');

/**
 * appendAudioMessage's bytes (UTF-8: all of it is ASCII), for a text frame. Given a Buffer, `ws`
 * masks it into the frame's own buffer and writes once; given a string it encodes it, masks it in
 * place and writes header and payload corked (a writev, through the stream's buffering): ~0.6 µs
 * more of JavaScript per append in a 50-socket microbenchmark, and more garbage.
 */
export function appendAudioBytes(base64: string): Buffer {
  return base64Message(APPEND_PREFIX_BYTES, base64, APPEND_SUFFIX_BYTES);
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
