/**
 * Response generation of the local Realtime server: spoken replies streamed at real-time pace (or a
 * requested function call), cancel, the out-of-band text answers, and response.done with usage.
 */
import type { Logger } from '../../logging/logger';
import { synthesize } from '../tts';
import { BYTES_PER_MS, ClientInputError, newId } from './client-input';
import type { ConversationState } from './conversation';
import { localSentimentJson, replyText, withSupervisorNote } from './replies';
import type { LocalRealtimeServerOptions, ReplyContext, ResponseInfo, SessionInfo, ToolCallRequest } from './types';

/** What a response needs of its session. */
export interface ResponseHost {
  readonly info: SessionInfo;
  readonly conversation: ConversationState;
  readonly opts: LocalRealtimeServerOptions;
  readonly log: Logger;
  readonly responseDelayMs: number;
  /** The socket is open and not stalled. */
  readonly canSend: boolean;
  readonly ended: boolean;
  send(event: Record<string, unknown>): void;
  sendError(code: string, message: string, type?: string): void;
  notifyChange(): void;
}

interface ActiveResponse {
  info: ResponseInfo;
  timer?: NodeJS.Timeout;
  finished: boolean;
}

type ContentRef = { response_id: string; item_id: string; output_index: number; content_index: number };

export class ResponseRunner {
  private active?: ActiveResponse;
  private autoResponsePending = false;
  private turn = 0;
  pendingToolOutput?: string;

  constructor(private readonly host: ResponseHost) {}

  get isActive(): boolean {
    return !!this.active && !this.active.finished;
  }

  /** Freezes the running response's timer (stall) or ends it (session closed). */
  stop(finish: boolean): void {
    if (this.active?.timer) clearTimeout(this.active.timer);
    if (finish && this.active) this.active.finished = true;
  }

  /** The VAD heard the caller start speaking while this response may be streaming. */
  speechStarted(interrupt: boolean): void {
    const active = this.active;
    if (!active || active.finished) return;
    if (active.info.audioMsSentAtSpeechStarted === undefined) {
      active.info.audioMsSentAtSpeechStarted = active.info.audioMsSent;
    }
    if (interrupt) this.cancelActive('turn_detected');
  }

  cancel(responseId: unknown): void {
    const active = this.active;
    if (!active || active.finished) {
      throw new ClientInputError('response_cancel_not_active', 'Cancellation failed: no active response found');
    }
    if (typeof responseId === 'string' && responseId !== active.info.id) {
      throw new ClientInputError(
        'response_cancel_not_active',
        `Cancellation failed: response '${responseId}' is not active`,
      );
    }
    this.cancelActive('client_cancelled');
  }

  /**
   * An out-of-band text response (`conversation: 'none'`, text only), e.g. a judgement asked at the
   * end of a call. It runs beside the conversation and changes nothing in it. The local server has
   * no language model: asked for sentiment, it answers the JSON a model would, from a word list.
   */
  runOutOfBandText(event: Record<string, unknown>): void {
    const host = this.host;
    const conv = host.conversation;
    const request = (event.response ?? {}) as { metadata?: Record<string, unknown>; instructions?: string };
    const id = newId('resp');
    const itemId = newId('item');
    const wantsSentiment =
      /sentiment/i.test(request.instructions ?? '') || String(request.metadata?.purpose ?? '').includes('sentiment');
    const text = wantsSentiment
      ? localSentimentJson(conv.callerTexts)
      : replyText(
          host.opts,
          { callerText: conv.lastCallerText, turn: this.turn, sessionIndex: host.info.index },
          host.log,
        );
    const metadata = request.metadata ?? null;
    const response = { id, object: 'realtime.response', conversation_id: null, metadata };
    host.send({ type: 'response.created', response: { ...response, status: 'in_progress', output: [], usage: null } });
    const ref = { response_id: id, item_id: itemId, output_index: 0, content_index: 0 };
    host.send({ type: 'response.output_text.delta', ...ref, delta: text });
    host.send({ type: 'response.output_text.done', ...ref, text });
    const item = {
      id: itemId,
      object: 'realtime.item',
      type: 'message',
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text }],
    };
    const textTokens = Math.ceil(text.length / 4);
    host.send({
      type: 'response.done',
      response: {
        ...response,
        status: 'completed',
        output: [item],
        usage: {
          total_tokens: textTokens + 50,
          input_tokens: 50,
          output_tokens: textTokens,
          input_token_details: { audio_tokens: 0, text_tokens: 50, cached_tokens: 0 },
          output_token_details: { audio_tokens: 0, text_tokens: textTokens },
        },
      },
    });
  }

  start(trigger: 'client' | 'vad'): void {
    const host = this.host;
    const conv = host.conversation;
    if (this.active && !this.active.finished) {
      if (trigger === 'client') {
        throw new ClientInputError(
          'conversation_already_has_active_response',
          `Conversation already has an active response in progress: ${this.active.info.id}. Wait until the response is finished before creating a new one.`,
        );
      }
      this.autoResponsePending = true;
      return;
    }
    const turn = this.turn++;
    const ctx: ReplyContext = {
      callerText: conv.callerTurns > 0 ? conv.lastCallerText : '',
      turn,
      sessionIndex: host.info.index,
      toolOutput: this.pendingToolOutput,
    };
    this.pendingToolOutput = undefined;
    const toolCall = host.opts.toolCalls?.({ ...ctx, tools: conv.tools });
    const text = toolCall ? '' : withSupervisorNote(replyText(host.opts, ctx, host.log), conv.supervisorNote);
    if (!toolCall) conv.supervisorNote = undefined;
    const info: ResponseInfo = {
      id: newId('resp'),
      itemId: newId('item'),
      kind: toolCall ? 'function_call' : 'audio',
      text,
      status: 'in_progress',
      audioMsTotal: 0,
      audioMsSent: 0,
    };
    host.info.responses.push(info);
    const active: ActiveResponse = { info, finished: false };
    this.active = active;
    host.send({
      type: 'response.created',
      response: { id: info.id, object: 'realtime.response', status: 'in_progress', output: [], usage: null },
    });
    const run = (): void => {
      if (active.finished) return;
      if (toolCall) this.runFunctionCall(active, toolCall);
      else this.runSpeech(active);
    };
    const delayMs = host.responseDelayMs;
    if (delayMs > 0) active.timer = setTimeout(run, delayMs);
    else run();
  }

  private runFunctionCall(active: ActiveResponse, call: ToolCallRequest): void {
    const host = this.host;
    const info = active.info;
    const callId = call.callId ?? newId('call');
    const args = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
    const item = {
      id: info.itemId,
      object: 'realtime.item',
      type: 'function_call',
      status: 'in_progress',
      call_id: callId,
      name: call.name,
      arguments: '',
    };
    const previous = host.conversation.append(info.itemId);
    host.send({ type: 'response.output_item.added', response_id: info.id, output_index: 0, item });
    host.send({ type: 'conversation.item.added', previous_item_id: previous, item });
    const ref = { response_id: info.id, item_id: info.itemId, output_index: 0, call_id: callId };
    host.send({ type: 'response.function_call_arguments.delta', ...ref, delta: args });
    host.send({ type: 'response.function_call_arguments.done', ...ref, name: call.name, arguments: args });
    host.info.functionCalls.push({ call_id: callId, name: call.name, arguments: args });
    const done = { ...item, status: 'completed', arguments: args };
    host.send({ type: 'response.output_item.done', response_id: info.id, output_index: 0, item: done });
    host.send({ type: 'conversation.item.done', previous_item_id: previous, item: done });
    this.finish(active, 'completed', [done], Math.ceil(args.length / 4), 0);
  }

  private runSpeech(active: ActiveResponse): void {
    const host = this.host;
    const info = active.info;
    const format = host.info.outputFormat;
    const item = {
      id: info.itemId,
      object: 'realtime.item',
      type: 'message',
      role: 'assistant',
      status: 'in_progress',
      content: [] as unknown[],
    };
    const previous = host.conversation.append(info.itemId);
    host.conversation.assistantAudioBytes.set(info.itemId, 0);
    host.send({ type: 'response.output_item.added', response_id: info.id, output_index: 0, item });
    host.send({ type: 'conversation.item.added', previous_item_id: previous, item });
    const ref = { response_id: info.id, item_id: info.itemId, output_index: 0, content_index: 0 };
    host.send({ type: 'response.content_part.added', ...ref, part: { type: 'audio', transcript: '' } });

    synthesize(info.text, { format: format === 'pcmu' ? 'pcmu' : 'pcm16-24k', engine: host.opts.ttsEngine })
      .then((audio) => {
        if (active.finished || host.ended) return;
        this.streamAudio(active, audio, previous, ref);
      })
      .catch((err: unknown) => {
        if (active.finished || host.ended) return;
        host.log.error('local realtime speech synthesis failed', { error: (err as Error).message });
        host.sendError('server_error', 'The server had an error while generating audio.', 'server_error');
        this.finish(active, 'failed', [], 0, 0);
      });
  }

  private streamAudio(active: ActiveResponse, audio: Buffer, previous: string | null, ref: ContentRef): void {
    const host = this.host;
    const info = active.info;
    const bytesPerMs = BYTES_PER_MS[host.info.outputFormat];
    const opts = host.opts;
    const chunkMs = Math.max(10, opts.chunkMs ?? 100);
    const chunkBytes = chunkMs * bytesPerMs;
    const leadMs = opts.leadMs ?? 1000;
    const paced = opts.realtimePace !== false;
    const chunks = Math.max(1, Math.ceil(audio.length / chunkBytes));
    const words = info.text.split(/\s+/).filter(Boolean);
    const sentBytes = host.conversation.assistantAudioBytes;
    info.audioMsTotal = audio.length / bytesPerMs;
    let next = 0;
    let wordsSent = 0;
    const startedAt = Date.now();

    const pump = (): void => {
      active.timer = undefined;
      if (active.finished || !host.canSend) return;
      const elapsed = Date.now() - startedAt;
      while (next < chunks && (!paced || next * chunkMs - leadMs <= elapsed)) {
        let slice = audio.subarray(next * chunkBytes, Math.min(audio.length, (next + 1) * chunkBytes));
        if (opts.audioTap?.output) slice = opts.audioTap.output(slice, next * chunkBytes);
        host.send({ type: 'response.output_audio.delta', ...ref, delta: slice.toString('base64') });
        const sent = (sentBytes.get(info.itemId) ?? 0) + slice.length;
        sentBytes.set(info.itemId, sent);
        info.audioMsSent = sent / bytesPerMs;
        next++;
        const wordsDue = Math.ceil((next / chunks) * words.length);
        if (wordsDue > wordsSent) {
          const delta = (wordsSent > 0 ? ' ' : '') + words.slice(wordsSent, wordsDue).join(' ');
          wordsSent = wordsDue;
          host.send({ type: 'response.output_audio_transcript.delta', ...ref, delta });
        }
      }
      host.notifyChange();
      if (next < chunks) {
        active.timer = setTimeout(pump, Math.max(1, next * chunkMs - leadMs - elapsed));
        return;
      }
      const transcript = info.text;
      host.send({ type: 'response.output_audio.done', ...ref });
      host.send({ type: 'response.output_audio_transcript.done', ...ref, transcript });
      host.send({ type: 'response.content_part.done', ...ref, part: { type: 'audio', transcript } });
      const done = {
        id: info.itemId,
        object: 'realtime.item',
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_audio', transcript }],
      };
      host.send({ type: 'response.output_item.done', response_id: info.id, output_index: 0, item: done });
      host.send({ type: 'conversation.item.done', previous_item_id: previous, item: done });
      this.finish(active, 'completed', [done], Math.ceil(transcript.length / 4), info.audioMsSent);
    };
    pump();
  }

  private cancelActive(reason: 'client_cancelled' | 'turn_detected'): void {
    const active = this.active;
    if (!active || active.finished) return;
    if (active.timer) clearTimeout(active.timer);
    const info = active.info;
    const item =
      info.kind === 'audio'
        ? {
            id: info.itemId,
            object: 'realtime.item',
            type: 'message',
            role: 'assistant',
            status: 'incomplete',
            content: [{ type: 'output_audio', transcript: info.text }],
          }
        : undefined;
    if (item) this.host.send({ type: 'response.output_item.done', response_id: info.id, output_index: 0, item });
    const sentWordsChars = Math.ceil(info.text.length * (info.audioMsTotal ? info.audioMsSent / info.audioMsTotal : 0));
    this.finish(active, 'cancelled', item ? [item] : [], Math.ceil(sentWordsChars / 4), info.audioMsSent, reason);
  }

  private finish(
    active: ActiveResponse,
    status: 'completed' | 'cancelled' | 'failed',
    output: unknown[],
    outputTextTokens: number,
    outputAudioMs: number,
    cancelReason?: string,
  ): void {
    const host = this.host;
    const conv = host.conversation;
    active.finished = true;
    if (active.timer) clearTimeout(active.timer);
    const info = active.info;
    info.status = status === 'failed' ? 'cancelled' : status;
    const usage = conv.usageFor(outputTextTokens, outputAudioMs);
    conv.audioMs += outputAudioMs;
    conv.textChars += outputTextTokens * 4;
    host.send({
      type: 'response.done',
      response: {
        id: info.id,
        object: 'realtime.response',
        status,
        status_details:
          status === 'cancelled' ? { type: 'cancelled', reason: cancelReason ?? 'client_cancelled' } : null,
        output,
        usage,
      },
    });
    host.send({
      type: 'rate_limits.updated',
      rate_limits: [
        { name: 'requests', limit: 5000, remaining: 4999, reset_seconds: 0.012 },
        { name: 'tokens', limit: 4_000_000, remaining: 4_000_000 - usage.total_tokens, reset_seconds: 0.5 },
      ],
    });
    if (this.active === active) this.active = undefined;
    host.notifyChange();
    if (this.autoResponsePending && !host.ended) {
      this.autoResponsePending = false;
      this.start('vad');
    }
  }
}
