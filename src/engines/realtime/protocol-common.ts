/**
 * Realtime API wire protocol, shared part: constants and the shapes both directions use
 * (formats, turn detection, tools, session configuration, conversation items, responses, usage).
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
  /** Set by the client on response.create (out-of-band requests mark their purpose here). */
  metadata?: Record<string, unknown> | null;
  [key: string]: unknown;
}

export interface RealtimeErrorDetail {
  type: string;
  code?: string | null;
  message: string;
  param?: string | null;
  event_id?: string | null;
}
