/**
 * The three stages of the cascaded engine, each a small interface with one implementation per
 * provider folder (stt/, llm/, tts/). The engine (pipeline-engine.ts) only speaks these.
 */
import type { AudioFormat } from '../../conversation/audio-format';
import type { ToolDefinition } from '../../conversation/engine';

/** Streaming speech-to-text for one call. */
export interface SttStream {
  /** Caller audio in the provider's `inputFormat`, as it arrives (every frame, silence included). */
  send(audio: Buffer): void;
  /** Speech started (VAD): a provider that transcribes per utterance starts keeping audio. */
  speechStarted(): void;
  /**
   * End of the caller's turn (VAD): resolves with the final transcript of everything said since
   * the previous finalize ('' when nothing was recognised); rejects when the provider fails.
   */
  finalize(): Promise<string>;
  close(): void;
}

export interface SttCallbacks {
  /** An interim transcript of the utterance in progress. */
  onPartial?(text: string): void;
  /** The provider's connection failed for good (the engine reports it; turns then fail fast). */
  onError(error: Error): void;
}

export interface SttProvider {
  readonly name: string;
  readonly inputFormat: AudioFormat;
  open(callbacks: SttCallbacks): Promise<SttStream>;
}

/** A message of the conversation, in the chat-completions shape every LLM provider understands. */
export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | {
      role: 'assistant';
      content: string;
      tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
    }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface LlmToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface LlmRequest {
  callId: string;
  /** The whole conversation (system prompt first). */
  messages: readonly ChatMessage[];
  /** The caller's latest utterance (what a backend or orchestrator is sent). */
  userText: string | undefined;
  tools: readonly ToolDefinition[];
  signal: AbortSignal;
}

export interface LlmSink {
  /** A piece of the reply text, as soon as it is known. */
  onText(delta: string): void;
  onToolCall(call: LlmToolCall): void;
}

export interface LlmResult {
  usage?: { inputTokens: number; outputTokens: number; cachedTokens: number };
  /** The orchestrator's intent for this turn. */
  intent?: string;
}

export interface LlmProvider {
  readonly name: string;
  /** Whether this provider takes tools (the chat model does; a backend answers on its own). */
  readonly supportsTools: boolean;
  respond(request: LlmRequest, sink: LlmSink): Promise<LlmResult>;
}

export interface TtsProvider {
  readonly name: string;
  readonly outputFormat: AudioFormat;
  /** Speaks `text`, handing audio (in `outputFormat`) to `onAudio` as it streams in. */
  synthesize(text: string, signal: AbortSignal, onAudio: (chunk: Buffer) => void): Promise<void>;
}

/** An error of one stage, named for the call record ("llm: HTTP 503"). */
export class StageError extends Error {
  constructor(
    readonly stage: 'stt' | 'llm' | 'tts',
    readonly provider: string,
    message: string,
  ) {
    super(`${stage} (${provider}): ${message}`);
    this.name = 'StageError';
  }
}

/** Rejects with a StageError after `ms` unless `work` settles first. */
export function withTimeout<T>(work: Promise<T>, ms: number, stage: StageError['stage'], provider: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StageError(stage, provider, `no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
