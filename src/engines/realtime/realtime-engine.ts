/**
 * RealtimeEngine: the agent engine over the OpenAI Realtime API (or any endpoint speaking it). The
 * client (one socket, one send queue, reconnect with backoff, keepalive, idle watch) stays in
 * realtime-client.ts; this class translates between the engine seam and the wire protocol:
 * - session configuration on every (re)connect, the conversation so far re-created from the host's
 *   turns after a drop, and the greeting when nothing was said yet;
 * - the session replaced at a turn boundary before the 60-minute limit (`AI_SESSION_MAX_MS`);
 * - typed server events → engine events (no casts), client events from the protocol's builders;
 * - `ask`: a one-off question outside the conversation (text only), e.g. the caller's sentiment.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type {
  AgentEngine,
  AgentEngineEvents,
  EngineContext,
  EngineUsage,
  ResponseSummary,
} from '../../conversation/engine';
import { PCM16_24K, PCMU_8K, type AudioFormat } from '../../conversation/audio-format';
import type { Logger } from '../../logging/logger';
import { instructionsWithLanguage, transcriptionLanguage } from '../../agent/language';
import { RealtimeClient, type RealtimeOpenInfo } from './realtime-client';
import {
  assistantMessageItem,
  buildLanguageUpdate,
  buildSessionUpdate,
  functionCallOutputItem,
  isKnownServerEvent,
  itemCreateEvent,
  responseCancelEvent,
  responseCreateEvent,
  textMessageItem,
  truncateEvent,
  type KnownServerEvent,
  type RealtimeClientEvent,
  type RealtimeResponse,
  type RealtimeServerEvent,
  type RealtimeUsage,
} from './protocol';

/** Conversation turns re-sent to a new session after a reconnect. */
export const MAX_CONTEXT_TURNS = 40;
/** Marks the out-of-band responses of `ask` (never part of the conversation the core sees). */
const ASK_PURPOSE = 'switchboard.ask';

/** Context notes (whispers) kept for re-made sessions. */
const MAX_NOTES = 20;

export class RealtimeEngine extends EventEmitter<AgentEngineEvents> implements AgentEngine {
  readonly kind = 'realtime';
  readonly inputFormat: AudioFormat;
  readonly outputFormat: AudioFormat;
  private readonly client: RealtimeClient;
  private readonly log: Logger;
  private sessionStartedAt = performance.now();
  /** Call time of the latest caller audio, and at the moment the current socket opened. */
  private callMs = 0;
  private audioBaseMs = 0;
  private activeResponseId: string | undefined;
  private closed = false;
  /** Context given with addContext (a supervisor's whispers): re-sent to every new session, the last MAX_NOTES. */
  private readonly notes: string[] = [];
  private replacing = false;
  private askAnswer: ((text: string | undefined) => void) | undefined;
  /** The conversation's language hint (the profile's, or one learned later: setLanguage). */
  private languageHint: string | undefined;

  constructor(private readonly ctx: EngineContext) {
    super();
    const { config } = ctx;
    this.log = ctx.logger;
    this.languageHint = ctx.profile.languageHint;
    const format = config.openai.audioFormat === 'pcm16' ? PCM16_24K : PCMU_8K;
    this.inputFormat = format;
    this.outputFormat = format;
    this.client = new RealtimeClient({
      url: ctx.endpoints.realtime ?? config.openai.realtimeUrl,
      model: config.openai.model,
      apiKey: config.openai.apiKey || undefined,
      logger: this.log,
      reconnect: {
        attempts: config.openai.reconnectAttempts,
        baseMs: config.openai.reconnectBaseMs,
        maxMs: config.openai.reconnectMaxMs,
      },
      connectTimeoutMs: config.ai.connectTimeoutMs,
      // A socket that stays open but goes silent mid-response is treated as dropped (reconnect).
      idleTimeoutMs: config.ai.idleTimeoutMs,
      keepaliveMs: config.ai.keepaliveMs,
      audioFormat: config.openai.audioFormat,
      onOpen: (info) => this.onOpen(info),
    });
    this.client.on('event', (event) => this.onServerEvent(event));
    this.client.on('audio', (itemId, responseId, audio) => {
      if (!this.closed) this.emit('agent-audio', itemId, responseId, audio, this.client.messageReceivedAt);
    });
    this.client.on('reconnecting', (info) => {
      this.activeResponseId = undefined;
      this.emit('reconnecting', info);
    });
    this.client.on('failed', (info) => this.emit('failed', info));
    this.client.on('replace-failed', (info) =>
      this.log.warn('AI session replacement failed; keeping the old one', info),
    );
  }

  get reconnecting(): boolean {
    return this.client.state === 'reconnecting';
  }

  async start(): Promise<void> {
    this.client.connect();
  }

  appendAudio(bytes: Buffer, base64: string | undefined, callMs: number): void {
    this.appendBase64(base64 ?? bytes.toString('base64'), callMs);
  }

  appendBase64(base64: string, callMs: number): void {
    this.callMs = callMs;
    this.client.appendAudio(base64);
  }

  sendText(text: string, opts: { respond?: boolean } = {}): void {
    this.client.send(itemCreateEvent(textMessageItem('user', text)));
    if (opts.respond) this.client.send(responseCreateEvent());
  }

  addContext(text: string): void {
    this.notes.push(text);
    if (this.notes.length > MAX_NOTES) this.notes.shift();
    // While no session is open the note goes out with the next session's opening messages (once).
    if (this.client.state === 'open') this.client.send(itemCreateEvent(textMessageItem('system', text)));
  }

  truncate(itemId: string, heardMs: number): void {
    this.client.sendIfOpen(truncateEvent(itemId, heardMs));
  }

  cancel(): void {
    if (this.activeResponseId === undefined) return;
    this.activeResponseId = undefined;
    this.client.sendIfOpen(responseCancelEvent());
  }

  sendToolResult(toolCallId: string, output: string): void {
    this.client.sendIfOpen(itemCreateEvent(functionCallOutputItem(toolCallId, output)));
  }

  setLanguage(languageHint: string): void {
    if (languageHint === this.languageHint) return;
    this.languageHint = languageHint;
    // An open session changes now; a later (re)connection's session.update carries it anyway.
    this.client.sendIfOpen(
      buildLanguageUpdate({
        instructions: instructionsWithLanguage(this.ctx.profile.instructions, languageHint),
        transcriptionModel: this.ctx.config.agent.transcriptionModel,
        transcriptionLanguage: transcriptionLanguage(languageHint),
      }),
    );
  }

  createResponse(instructions?: string): void {
    this.client.sendIfOpen(responseCreateEvent(instructions === undefined ? undefined : { instructions }));
  }

  /** Out of band (outside the conversation, text only); undefined when not connected or on a timeout. */
  ask(instructions: string, timeoutMs: number): Promise<string | undefined> {
    const answer = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      this.askAnswer = (text) => {
        clearTimeout(timer);
        this.askAnswer = undefined;
        resolve(text);
      };
    });
    const sent = this.client.sendIfOpen(
      responseCreateEvent({
        conversation: 'none',
        output_modalities: ['text'],
        metadata: { purpose: ASK_PURPOSE },
        instructions,
      }),
    );
    if (!sent) this.askAnswer?.(undefined);
    return answer;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.askAnswer?.(undefined);
    this.client.close();
  }

  // ---------------------------------------------------------------- connection

  private onOpen(info: RealtimeOpenInfo): RealtimeClientEvent[] {
    const { config, profile, host } = this.ctx;
    this.sessionStartedAt = performance.now();
    this.audioBaseMs = this.callMs;
    const instructions = instructionsWithLanguage(profile.instructions, this.languageHint);
    const events: RealtimeClientEvent[] = [
      buildSessionUpdate({
        model: config.openai.model,
        instructions,
        voice: profile.voice,
        audioFormat: config.openai.audioFormat,
        vad: profile.vad,
        transcriptionModel: config.agent.transcriptionModel,
        transcriptionLanguage: transcriptionLanguage(this.languageHint),
        tools: this.ctx.tools,
        ...(this.ctx.mode === 'text' ? { outputModalities: ['text' as const] } : {}),
      }),
    ];
    const greeting = responseCreateEvent({ instructions: `${instructions}\n\n${profile.greeting}` });
    if (!info.reconnect) {
      for (const note of this.notes) events.push(itemCreateEvent(textMessageItem('system', note)));
      if (profile.greetsFirst) events.push(greeting);
      return events;
    }
    // A new session knows nothing: give it the conversation so far.
    const turns = host.turns().slice(-MAX_CONTEXT_TURNS);
    for (const turn of turns) {
      events.push(
        itemCreateEvent(turn.role === 'user' ? textMessageItem('user', turn.text) : assistantMessageItem(turn.text)),
      );
    }
    // ... and what it was told for its next turns (whispers), which no transcript holds.
    for (const note of this.notes) events.push(itemCreateEvent(textMessageItem('system', note)));
    this.activeResponseId = undefined;
    // The first connection failed before any greeting audio came: greet on this one.
    if (profile.greetsFirst && host.nothingSaidYet()) events.push(greeting);
    if (!info.replacement && !this.closed) this.emit('reconnected', { contextTurns: turns.length });
    return events;
  }

  /** Realtime sessions end at 60 minutes: replace an old one at a turn boundary. */
  private maybeReplaceAgedSession(): void {
    if (this.replacing || this.activeResponseId !== undefined || this.closed) return;
    if (performance.now() - this.sessionStartedAt < this.ctx.config.openai.sessionMaxMs) return;
    this.replacing = true;
    this.log.info('replacing the AI session before its time limit');
    this.emit('replaced', { reason: 'session-age' });
    this.client.replaceSession('session-age');
    this.replacing = false;
  }

  private toCallMs(audioMs: number): number {
    return Number.isFinite(audioMs) ? this.audioBaseMs + audioMs : this.callMs;
  }

  // ---------------------------------------------------------------- server events

  private onServerEvent(event: RealtimeServerEvent): void {
    if (this.closed || !isKnownServerEvent(event)) return;
    try {
      this.dispatch(event);
    } catch (err) {
      this.log.error('AI event handler failed', { type: event.type, error: (err as Error).message });
    }
  }

  private dispatch(event: KnownServerEvent): void {
    switch (event.type) {
      case 'input_audio_buffer.speech_started':
        this.emit('speech-started', event.item_id, this.toCallMs(event.audio_start_ms), this.client.messageReceivedAt);
        break;
      case 'input_audio_buffer.speech_stopped':
        this.emit('speech-stopped', event.item_id, this.toCallMs(event.audio_end_ms));
        break;
      case 'conversation.item.input_audio_transcription.completed':
        this.emit('caller-transcript', event.item_id, event.transcript);
        break;
      case 'conversation.item.input_audio_transcription.failed':
        this.emit('caller-transcript-failed', event.item_id);
        break;
      case 'response.created':
        if (isAsk(event.response)) break;
        this.activeResponseId = event.response.id;
        this.emit('response-started', event.response.id);
        break;
      case 'response.output_audio.done':
        this.emit('agent-audio-done', event.item_id, event.response_id);
        break;
      case 'response.output_audio_transcript.delta':
      case 'response.output_text.delta':
        if (event.item_id) this.emit('agent-text-delta', event.item_id, event.response_id, event.delta);
        break;
      case 'response.output_audio_transcript.done':
        this.emit('agent-transcript', event.item_id, event.response_id, event.transcript);
        break;
      case 'response.output_text.done':
        if (event.item_id && this.ctx.mode === 'text') {
          this.emit('agent-transcript', event.item_id, event.response_id, event.text);
        }
        break;
      case 'response.function_call_arguments.done':
        this.emit('tool-call', {
          responseId: event.response_id,
          toolCallId: event.call_id,
          name: event.name,
          arguments: event.arguments,
        });
        break;
      case 'response.done':
        this.onResponseDone(event.response);
        break;
      case 'error':
        this.emit('error', {
          type: event.error.type,
          code: event.error.code ?? undefined,
          message: event.error.message,
        });
        break;
      default:
        break;
    }
  }

  private onResponseDone(response: RealtimeResponse): void {
    if (isAsk(response)) {
      const text = (response.output ?? [])
        .flatMap((item) => (item.type === 'message' ? item.content : []))
        .find((c) => c.type === 'output_text' || c.type === 'input_text');
      this.askAnswer?.(text && 'text' in text ? text.text : undefined);
      return;
    }
    if (response.id === this.activeResponseId) this.activeResponseId = undefined;
    const items: ResponseSummary['items'] = [];
    for (const item of response.output ?? []) {
      if (item.type !== 'message' || !item.id) continue;
      const part = item.content.find((c) => c.type === 'output_audio' || c.type === 'output_text');
      const transcript =
        part?.type === 'output_audio'
          ? (part.transcript ?? undefined)
          : part?.type === 'output_text'
            ? part.text
            : undefined;
      items.push({ itemId: item.id, transcript });
    }
    this.emit('response-done', {
      responseId: response.id,
      status: response.status,
      usage: usageOf(response.usage),
      items,
    });
    this.maybeReplaceAgedSession();
  }
}

function isAsk(response: RealtimeResponse): boolean {
  return response.metadata?.purpose === ASK_PURPOSE;
}

function usageOf(usage: RealtimeUsage | null | undefined): Partial<EngineUsage> | undefined {
  if (!usage) return undefined;
  return {
    inputTextTokens: usage.input_token_details?.text_tokens,
    inputAudioTokens: usage.input_token_details?.audio_tokens,
    cachedTokens: usage.input_token_details?.cached_tokens,
    outputTextTokens: usage.output_token_details?.text_tokens,
    outputAudioTokens: usage.output_token_details?.audio_tokens,
  };
}
