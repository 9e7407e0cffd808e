/**
 * The agent engine: the AI's side of a call (OpenAI Realtime speech-to-speech, a cascaded
 * speech-to-text → language model → text-to-speech pipeline, an echo engine). The conversation core
 * drives every engine through this one interface and never names a vendor.
 *
 * Audio crosses this seam in the engine's own formats (`inputFormat`, `outputFormat`). Times the
 * engine reports (speech started/stopped) are in call time: the engine maps its own audio clock
 * with the `callMs` the core passes along with each caller frame. Reconnects, session rotation and
 * provider protocols stay inside the engine; it re-creates the conversation from `host.turns()`.
 */
import type { EventEmitter } from 'node:events';
import type { AudioFormat } from './audio-format';
import type { Logger } from '../logging/logger';
import type { Config } from '../config';
import type { AgentProfile } from '../agent/profiles';

export interface ConversationTurn {
  role: 'user' | 'assistant';
  text: string;
}

/** A function the agent may call (JSON Schema parameters), as declared to the model. */
export interface ToolDefinition {
  type: 'function';
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface ToolCallRequest {
  responseId: string | undefined;
  toolCallId: string;
  name: string;
  /** The model's arguments, as the JSON text it produced. */
  arguments: string;
}

/** Token counts of one response (any missing count is 0). */
export interface EngineUsage {
  inputTextTokens: number;
  inputAudioTokens: number;
  outputTextTokens: number;
  outputAudioTokens: number;
  cachedTokens: number;
}

export interface ResponseSummary {
  responseId: string | undefined;
  status: 'completed' | 'cancelled' | 'failed' | 'incomplete' | 'in_progress';
  usage?: Partial<EngineUsage>;
  /** Agent items of the response with their full transcript (a cancelled response's complete text). */
  items: { itemId: string; transcript?: string }[];
}

/**
 * Where one agent turn's time went, in ms from the end of the caller's speech (the VAD's end of
 * turn) to each stage's first result; a stage that did not run is absent. Emitted by engines that
 * see the stages (the cascaded pipeline), once per turn, when its first audio leaves the engine.
 */
export interface TurnLatency {
  /** The caller item (speech) the turn answers, and the agent item that answers it. */
  callerItemId: string | undefined;
  itemId: string;
  responseId: string | undefined;
  /** Speech end → final transcript. */
  transcriptMs?: number;
  /** Speech end → first model token (text). */
  firstTokenMs?: number;
  /** Speech end → first byte of synthesized speech. */
  firstSpeechByteMs?: number;
  /** Speech end → first agent audio handed to the core. */
  firstAudioMs?: number;
}

export interface AgentEngineEvents {
  /** Agent audio for the caller, in `outputFormat`. `receivedAt`: performance.now() when it reached the process. */
  'agent-audio': [itemId: string, responseId: string | undefined, bytes: Buffer, receivedAt: number];
  'agent-audio-done': [itemId: string, responseId: string | undefined];
  'agent-text-delta': [itemId: string, responseId: string | undefined, delta: string];
  /** The full text of an agent item (what its audio says). */
  'agent-transcript': [itemId: string, responseId: string | undefined, text: string];
  'response-started': [responseId: string | undefined];
  'response-done': [summary: ResponseSummary];
  /** The caller started speaking, at `atMs` call time. */
  'speech-started': [itemId: string, atMs: number, receivedAt: number];
  'speech-stopped': [itemId: string, atMs: number];
  'caller-transcript': [itemId: string, text: string];
  'caller-transcript-failed': [itemId: string];
  'tool-call': [request: ToolCallRequest];
  /** A recoverable error reported by the provider (the call goes on). */
  error: [error: { type?: string; code?: string; message?: string }];
  reconnecting: [info: { attempt: number; delayMs: number; reason: string }];
  /** The conversation was restored on a new connection after a drop (not a planned replacement). */
  reconnected: [info: { contextTurns: number }];
  /** The session was replaced on purpose (age limit) and the conversation carried over. */
  replaced: [info: { reason: string }];
  /** The engine gave up: the call cannot go on with it. */
  failed: [info: { reason: string; attempts: number }];
  /** Optional: per-stage latency of a turn (engines that have stages). */
  'turn-latency': [latency: TurnLatency];
  /** Optional: what the caller wants, as the engine's router classified a turn (the pipeline's orchestrator). */
  intent: [info: { itemId: string; responseId: string | undefined; intent: string }];
}

export interface EngineHost {
  /** The conversation so far (what the caller heard of the agent), for a re-made session. */
  turns(): readonly ConversationTurn[];
  /** True while the call has had no agent audio yet (a greeting is still owed after a reconnect). */
  nothingSaidYet(): boolean;
}

export interface AgentEngine extends EventEmitter<AgentEngineEvents> {
  /** Engine kind ('realtime', 'pipeline', 'echo'). */
  readonly kind: string;
  readonly inputFormat: AudioFormat;
  readonly outputFormat: AudioFormat;
  /** True while the engine is restoring a lost connection (the call's status shows it). */
  readonly reconnecting: boolean;
  /** Connects and, when the profile greets first, starts the greeting. */
  start(): Promise<void>;
  /** Caller audio in `inputFormat`; `callMs` is the end of the frame in call time. */
  appendAudio(bytes: Buffer, base64: string | undefined, callMs: number): void;
  /**
   * Optional: caller audio in `inputFormat` as base64, for an engine whose wire takes base64 (the
   * Realtime API): a channel's base64 frame then goes on without being decoded and encoded again.
   */
  appendBase64?(base64: string, callMs: number): void;
  /** A user message (a chat message, a DTMF note); `respond`: ask for a reply now. */
  sendText(text: string, opts?: { respond?: boolean }): void;
  /** Context for the agent's next turns that the caller never hears (a supervisor's whisper). */
  addContext(text: string): void;
  /** The caller heard only `heardMs` of this agent item (barge-in). */
  truncate(itemId: string, heardMs: number): void;
  /** Cancels the response in progress, if any. */
  cancel(): void;
  /** The result of a tool call, as JSON text. */
  sendToolResult(toolCallId: string, output: string): void;
  /** Asks for the next agent turn (after tool results; `instructions` for this turn only). */
  createResponse(instructions?: string): void;
  /**
   * Optional: the conversation's language hint became known after start (a Twilio stream's
   * `language` parameter): transcription and the agent's instructions follow it from now on.
   */
  setLanguage?(languageHint: string): void;
  /** A one-off question outside the conversation (text answer), e.g. the caller's sentiment; undefined if unavailable. */
  ask?(instructions: string, timeoutMs: number): Promise<string | undefined>;
  close(): void;
}

/** `voice`: audio both ways; `text`: a text-only channel (chat, SMS): no audio in or out, text replies. */
export type ConversationMode = 'voice' | 'text';

/** What an engine is built from, per call (see src/engines/index.ts for the registry). */
export interface EngineContext {
  callId: string;
  mode: ConversationMode;
  /**
   * Endpoint overrides resolved when the server started, by engine kind (e.g. `realtime`: the local
   * Realtime server's URL when no API key is set, or a test's). An engine without one uses its config.
   */
  endpoints: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  config: Config;
  profile: AgentProfile;
  /** The profile's skills as tools. */
  tools: ToolDefinition[];
  host: EngineHost;
}

export type EngineFactory = (ctx: EngineContext) => AgentEngine;
