/**
 * The cascaded agent engine: voice activity detection and streaming speech-to-text on the caller's
 * audio, a language model (or a conversation backend, an orchestrator) for the reply, and
 * text-to-speech sentence by sentence. It speaks the same events as the Realtime engine, so the
 * conversation core's transcripts, barge-in and analytics work unchanged.
 *
 * Turns are processed strictly in order (one promise chain per call): a second utterance never
 * overtakes the first. Caller speech while a response is still thinking (no audio yet) cancels it;
 * once its audio plays, the core decides on barge-in and `truncate(itemId, heardMs)` cancels the
 * model and speech requests in flight and keeps only the heard part in the history.
 */
import { EventEmitter } from 'node:events';
import { bytesPerMs, durationMs, type AudioFormat } from '../../conversation/audio-format';
import type {
  AgentEngine,
  AgentEngineEvents,
  EngineHost,
  EngineUsage,
  ToolDefinition,
} from '../../conversation/engine';
import type { Logger } from '../../logging/logger';
import { APOLOGY_TEXT, apologyAudio } from './apology';
import {
  StageError,
  withTimeout,
  type ChatMessage,
  type LlmProvider,
  type SttProvider,
  type TtsProvider,
} from './providers';
import { PipelineResponse, type ResponseTiming } from './response';
import { SttConnection } from './stt-connection';
import { EnergyVad, type VadOptions } from './vad';
import { warmHttpClient } from './warmup';

export interface PipelineEngineOptions {
  callId: string;
  logger: Logger;
  stt: SttProvider;
  llm: LlmProvider;
  tts: TtsProvider;
  instructions: string;
  /** Instruction for the first turn when the agent speaks first (undefined: wait for the caller). */
  greeting?: string;
  tools: ToolDefinition[];
  vad: VadOptions;
  stageTimeoutMs: number;
  /** false: transcribe-only (caller transcripts, no replies). */
  conversationEnabled: boolean;
  host?: EngineHost;
}

/** Agent items kept for a late truncate (the caller may still be hearing an older one). */
const KEPT_ITEMS = 8;

export class PipelineEngine extends EventEmitter<AgentEngineEvents> implements AgentEngine {
  readonly kind = 'pipeline';
  readonly inputFormat: AudioFormat;
  readonly outputFormat: AudioFormat;
  readonly reconnecting = false;
  private readonly vad: EnergyVad;
  private readonly history: ChatMessage[];
  private readonly stt: SttConnection;
  private readonly reported = new WeakSet<Error>();
  private chain: Promise<void> = Promise.resolve();
  private current: PipelineResponse | undefined;
  private readonly items = new Map<string, { response: PipelineResponse; message?: ChatMessage }>();
  private callerItem: string | undefined;
  private counter = 0;
  private closed = false;

  constructor(private readonly o: PipelineEngineOptions) {
    super();
    this.inputFormat = o.stt.inputFormat;
    this.outputFormat = o.tts.outputFormat;
    this.vad = new EnergyVad(this.inputFormat, o.vad);
    this.stt = new SttConnection(
      o.stt,
      o.stageTimeoutMs,
      { logger: o.logger, callId: o.callId },
      (error) => this.reportError(error),
      (reason, attempts) => {
        if (!this.closed) this.emit('failed', { reason, attempts });
      },
    );
    this.history = [{ role: 'system', content: o.instructions }];
    for (const turn of o.host?.turns() ?? []) this.history.push({ role: turn.role, content: turn.text });
  }

  /** The conversation as the model sees it (for tests and diagnostics). */
  messages(): readonly ChatMessage[] {
    return this.history;
  }

  async start(): Promise<void> {
    // Providers over HTTP: the process's HTTP client starts now, not inside the first turn (warmup.ts).
    if (this.o.llm.name !== 'local' || this.o.tts.name !== 'espeak') void warmHttpClient();
    await this.stt.open();
    if (this.o.greeting && this.o.conversationEnabled && (this.o.host?.nothingSaidYet() ?? true)) {
      this.enqueue(() => this.respond(undefined, this.o.greeting, { callerItemId: undefined }));
    }
  }

  appendAudio(bytes: Buffer, _base64: string | undefined, callMs: number): void {
    if (this.closed || !this.stt.ready) return;
    this.stt.send(bytes);
    const frameMs = durationMs(this.inputFormat, bytes.length);
    const event = this.vad.push(bytes, frameMs);
    // Call times of the speech itself: the VAD decides a start 60 ms in and a stop after the silence time.
    if (event === 'start') this.onSpeechStarted(callMs - this.vad.startLagMs);
    else if (event === 'stop') this.onSpeechStopped(Math.max(0, callMs - this.vad.stopLagMs));
  }

  sendText(text: string, opts: { respond?: boolean } = {}): void {
    this.history.push({ role: 'user', content: text });
    if (opts.respond && this.o.conversationEnabled) {
      this.enqueue(() => this.respond(text, undefined, { callerItemId: undefined }));
    }
  }

  addContext(text: string): void {
    this.history.push({ role: 'system', content: text });
  }

  truncate(itemId: string, heardMs: number): void {
    const entry = this.items.get(itemId);
    if (!entry) return;
    entry.response.cancel();
    const heard = entry.response.heardText(heardMs);
    if (entry.message && entry.message.role === 'assistant') entry.message.content = heard;
    else entry.response.heardOverride = heard;
  }

  cancel(): void {
    this.current?.cancel();
  }

  sendToolResult(toolCallId: string, output: string): void {
    this.history.push({ role: 'tool', tool_call_id: toolCallId, content: output });
  }

  createResponse(instructions?: string): void {
    if (!this.o.conversationEnabled) return;
    this.enqueue(() => this.respond(undefined, instructions, { callerItemId: undefined }));
  }

  async ask(instructions: string, timeoutMs: number): Promise<string | undefined> {
    if (!this.o.llm.supportsTools) return undefined;
    let text = '';
    const transcript = this.history
      .filter((m) => m.role === 'user' || m.role === 'assistant')
      .map((m) => `${m.role}: ${m.content}`)
      .join('\n');
    try {
      await withTimeout(
        this.o.llm.respond(
          {
            callId: this.o.callId,
            messages: [
              { role: 'system', content: instructions },
              { role: 'user', content: transcript },
            ],
            userText: undefined,
            tools: [],
            signal: AbortSignal.timeout(timeoutMs),
          },
          { onText: (d) => (text += d), onToolCall: () => undefined },
        ),
        timeoutMs,
        'llm',
        this.o.llm.name,
      );
    } catch {
      return undefined;
    }
    return text.trim() || undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.current?.cancel();
    this.stt.close();
    this.removeAllListeners();
  }

  private onSpeechStarted(atMs: number): void {
    this.callerItem = `caller_${++this.counter}`;
    this.stt.speechStarted();
    this.emit('speech-started', this.callerItem, Math.max(0, atMs), performance.now());
    // A reply still thinking when the caller goes on is stale: drop it (its turn's text stays in the history).
    if (this.current && !this.current.hasAudio) this.current.cancel();
  }

  private onSpeechStopped(atMs: number): void {
    const itemId = this.callerItem ?? `caller_${++this.counter}`;
    this.callerItem = undefined;
    this.emit('speech-stopped', itemId, atMs);
    const speechEndAt = performance.now();
    const transcript = this.stt.finalize();
    transcript.catch(() => undefined);
    this.enqueue(async () => {
      let text: string;
      try {
        text = await transcript;
      } catch (err) {
        if (this.closed) return;
        this.emit('caller-transcript-failed', itemId);
        await this.fail(err);
        return;
      }
      if (this.closed) return;
      const timing: ResponseTiming = { callerItemId: itemId, speechEndAt, transcriptAt: performance.now() };
      if (!text) return;
      this.emit('caller-transcript', itemId, text);
      this.history.push({ role: 'user', content: text });
      if (this.o.conversationEnabled) await this.respond(text, undefined, timing);
    });
  }

  private enqueue(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((err: Error) => {
      this.o.logger.error('pipeline turn failed', { callId: this.o.callId, error: err.message });
    });
  }

  /** One agent response: model → sentences → speech, in order; tool calls are handed to the core. */
  private async respond(
    userText: string | undefined,
    instructions: string | undefined,
    timing: ResponseTiming,
  ): Promise<void> {
    if (this.closed) return;
    const n = ++this.counter;
    const response = new PipelineResponse(
      `pipeline_resp_${n}`,
      `pipeline_item_${n}`,
      this.o.llm,
      this.o.tts,
      this.o.stageTimeoutMs,
      {
        onStarted: () => undefined,
        onText: (delta) => this.emit('agent-text-delta', response.itemId, response.responseId, delta),
        onAudio: (chunk, at) => this.emit('agent-audio', response.itemId, response.responseId, chunk, at),
        onLatency: (latency) => {
          // Logged too: operators see where a turn's time went before the core stores the figures.
          this.o.logger.info('pipeline turn latency', { callId: this.o.callId, ...latency });
          this.emit('turn-latency', latency);
        },
      },
      timing,
    );
    this.current = response;
    this.remember(response);
    this.emit('response-started', response.responseId);
    const messages: ChatMessage[] = instructions
      ? [...this.history, { role: 'system', content: instructions }]
      : this.history;
    const outcome = await response.run({
      callId: this.o.callId,
      messages,
      userText,
      tools: this.o.llm.supportsTools ? this.o.tools : [],
    });
    if (this.current === response) this.current = undefined;
    if (this.closed) return;
    const intent = outcome.result.intent;
    if (intent) this.emit('intent', { itemId: response.itemId, responseId: response.responseId, intent });
    const failed = outcome.status === 'failed' ? outcome.error : undefined;
    if (failed) await this.speakApology(response, failed);
    // A failed response said what left the engine before the failure, then the apology.
    const said = failed
      ? [response.heardText(Number.POSITIVE_INFINITY), APOLOGY_TEXT].filter(Boolean).join(' ')
      : (response.heardOverride ?? outcome.text);
    // Tool calls count only from a response that completed (a cancelled one was never heard through).
    const toolCalls = outcome.status === 'completed' ? outcome.toolCalls : [];
    if (said || toolCalls.length) {
      const message: ChatMessage = { role: 'assistant', content: said };
      if (toolCalls.length) {
        message.tool_calls = toolCalls.map((c) => ({
          id: c.id,
          type: 'function' as const,
          function: { name: c.name, arguments: c.arguments },
        }));
      }
      this.history.push(message);
      const entry = this.items.get(response.itemId);
      if (entry) entry.message = message;
    }
    for (const call of toolCalls) {
      this.emit('tool-call', {
        responseId: response.responseId,
        toolCallId: call.id,
        name: call.name,
        arguments: call.arguments,
      });
    }
    if (response.hasAudio || failed) this.emit('agent-audio-done', response.itemId, response.responseId);
    if (said) this.emit('agent-transcript', response.itemId, response.responseId, said);
    const usage: Partial<EngineUsage> | undefined = outcome.result.usage && {
      inputTextTokens: outcome.result.usage.inputTokens,
      outputTextTokens: outcome.result.usage.outputTokens,
      cachedTokens: outcome.result.usage.cachedTokens,
    };
    this.emit('response-done', {
      responseId: response.responseId,
      status: outcome.status,
      usage,
      items: [{ itemId: response.itemId, transcript: said }],
    });
  }

  /** A stage failed outside a response (the transcript): report it and apologise in a response of its own. */
  private async fail(err: unknown): Promise<void> {
    const error = err instanceof StageError ? err : new StageError('stt', this.o.stt.name, String(err));
    if (!this.o.conversationEnabled) {
      this.reportError(error);
      return;
    }
    const n = ++this.counter;
    const itemId = `pipeline_item_${n}`;
    const responseId = `pipeline_resp_${n}`;
    this.emit('response-started', responseId);
    await this.speakApology({ itemId, responseId }, error);
    if (this.closed) return;
    this.emit('agent-audio-done', itemId, responseId);
    this.emit('agent-transcript', itemId, responseId, APOLOGY_TEXT);
    this.history.push({ role: 'assistant', content: APOLOGY_TEXT });
    this.emit('response-done', { responseId, status: 'failed', items: [{ itemId, transcript: APOLOGY_TEXT }] });
  }

  private async speakApology(target: { itemId: string; responseId: string }, error: StageError): Promise<void> {
    this.reportError(error);
    try {
      const audio = await apologyAudio(this.outputFormat);
      if (this.closed) return;
      const piece = Math.round(bytesPerMs(this.outputFormat) * 100);
      for (let i = 0; i < audio.length && !this.closed; i += piece) {
        this.emit('agent-audio', target.itemId, target.responseId, audio.subarray(i, i + piece), performance.now());
      }
    } catch (apologyError) {
      this.o.logger.error('pipeline apology failed', { callId: this.o.callId, error: (apologyError as Error).message });
    }
  }

  private reportError(error: StageError): void {
    // One failure is reported once (a dropped connection also fails the turn that was waiting on it).
    if (this.reported.has(error)) return;
    this.reported.add(error);
    this.o.logger.warn('pipeline stage failed', {
      callId: this.o.callId,
      stage: error.stage,
      provider: error.provider,
      error: error.message,
    });
    this.emit('error', { type: 'pipeline_stage_failed', code: `${error.stage}_failed`, message: error.message });
  }

  private remember(response: PipelineResponse): void {
    this.items.set(response.itemId, { response });
    while (this.items.size > KEPT_ITEMS) this.items.delete(this.items.keys().next().value as string);
  }
}
