/** Public types of the local Realtime server: options, fault-injection hooks, what it records per session. */
import type { Logger } from '../../logging/logger';
import type { AudioFormatName, ConversationItem, ToolDefinition, TurnDetection } from '../../engines/realtime/protocol';
import type { TtsEngine } from '../tts';

export interface ReplyContext {
  /** The caller's last transcript ('' for a greeting). */
  callerText: string;
  /** Index of this response in the session (0 = first; a greeting when no caller spoke yet). */
  turn: number;
  /** Index of the connection (0 = first session the server accepted). */
  sessionIndex: number;
  /** Output of the last function call the client returned, if any since the previous response. */
  toolOutput?: string;
}

export interface ToolCallRequest {
  name: string;
  arguments: Record<string, unknown> | string;
  callId?: string;
}

/** Return a request to make this response a function call instead of speech; undefined to speak. */
export type ToolCallHook = (ctx: ReplyContext & { tools: ToolDefinition[] }) => ToolCallRequest | undefined;

export interface LocalRealtimeServerOptions {
  port?: number;
  host?: string;
  logger?: Logger;
  /** What the agent says: by response index (the last entry repeats), or computed. */
  replies?: string[] | ((ctx: ReplyContext) => string);
  /** The transcript reported for each caller utterance, in order (default: a description). */
  callerTranscripts?: string[];
  /**
   * Transcribe the caller with the local recognizer (pocketsphinx) when `callerTranscripts` has no
   * entry for the turn; `words`: listen for these words only (a grammar).
   */
  recognizer?: { words?: string[] };
  ttsEngine?: TtsEngine;
  /** Stream output audio at real-time pace (default true); false sends it as fast as possible. */
  realtimePace?: boolean;
  /** How far ahead of real time audio may run (default 1000 ms, like the real API's bursts). */
  leadMs?: number;
  /** Size of each response.output_audio.delta (default 100 ms). */
  chunkMs?: number;
  /** Energy VAD defaults when the session does not set server_vad values. threshold in 0..1. */
  vad?: { threshold: number; silenceMs: number };
  toolCalls?: ToolCallHook;
  /** Delay between response.created and the first output (slow-server tests). */
  responseDelayMs?: number;
  /** When set, handshakes without `Authorization: Bearer <key>` get HTTP 401. */
  requireApiKey?: string;
  /** Close the session with an error after this long (the real API's limit is 60 minutes). */
  maxSessionMs?: number;
  /** Close sockets that send `OpenAI-Beta: realtime=v1` with code 4000, like the real API. Default true. */
  rejectBetaHeader?: boolean;
  /** Serve `stats()` as JSON at GET /stats on the same port (benchmarks read frame counts there). */
  statsEndpoint?: boolean;
  /** Keep per-session details (SessionInfo) of closed sessions. Default true; benchmarks keep only totals. */
  keepClosedSessions?: boolean;
  /** Benchmark taps (npm run bench times tagged frames across a bridge); unset costs nothing. */
  audioTap?: AudioTap;
}

export interface AudioTap {
  /** Each input_audio_buffer.append's decoded audio, with its arrival time (performance.now(), before parsing). */
  input?(audio: Buffer, arrivedAtMs: number): void;
  /**
   * Called just before each response.output_audio.delta is sent, with its audio and its byte offset
   * in the response's audio; returns the audio to send (a copy when changed: the input may be a
   * shared cache).
   */
  output?(audio: Buffer, offset: number): Buffer;
}

/** Totals over every session this server accepted (benchmarks: frames in and out). */
export interface LocalRealtimeStats {
  sessions: number;
  openSessions: number;
  /** input_audio_buffer.append events received (one per caller frame from a bridge). */
  appends: number;
  audioMsIn: number;
  responses: number;
  cancelledResponses: number;
  speechStarted: number;
  /** Output audio sent in response.output_audio.delta events, in bytes of the output format. */
  audioBytesOut: number;
  /** Of audioBytesOut, bytes sent after speech_started interrupted their response (a bridge drops these). */
  audioBytesOutAfterSpeechStarted: number;
}

export interface SpeechTurnInfo {
  itemId: string;
  audioStartMs: number;
  audioEndMs?: number;
  transcript?: string;
}

export interface ResponseInfo {
  id: string;
  itemId: string;
  kind: 'audio' | 'function_call';
  text: string;
  status: 'in_progress' | 'completed' | 'cancelled';
  audioMsTotal: number;
  audioMsSent: number;
  /**
   * audioMsSent when this server reported speech_started while the response was streaming (a
   * barge-in): a bridge drops what follows it, so benchmarks count it apart. Undefined otherwise.
   */
  audioMsSentAtSpeechStarted?: number;
}

export interface TruncateInfo {
  item_id: string;
  content_index: number;
  audio_end_ms: number;
  ok: boolean;
}

export interface SessionInfo {
  readonly index: number;
  readonly id: string;
  readonly model: string | null;
  readonly authorization: string | null;
  readonly openaiBeta: string | null;
  readonly connectedAt: number;
  closedAt: number | null;
  /** Raw `session` objects of the session.update events received. */
  readonly sessionUpdates: Record<string, unknown>[];
  inputFormat: AudioFormatName;
  outputFormat: AudioFormatName;
  instructions: string;
  voice: string;
  turnDetection: TurnDetection | null;
  appends: number;
  audioMsIn: number;
  commits: number;
  clears: number;
  readonly speechTurns: SpeechTurnInfo[];
  /** One entry per response started (client- or VAD-triggered), in order. */
  readonly responses: ResponseInfo[];
  responseCreates: number;
  cancels: number;
  readonly truncates: TruncateInfo[];
  /** Items received with conversation.item.create (context re-created after a reconnect, tool outputs). */
  readonly contextItems: ConversationItem[];
  readonly functionCalls: Array<{ call_id: string; name: string; arguments: string }>;
  readonly errorsSent: Array<{ code: string; message: string }>;
  /** Count of each client event type received. */
  readonly received: Record<string, number>;
}
