/**
 * One accepted socket of the local Realtime server: parses client events, keeps the session's
 * configuration, input buffer and conversation, and hands turns to the VAD and the response runner.
 * It never throws on client input: bad input gets an `error` event like the real API's.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { Logger } from '../../logging/logger';
import type { TurnDetection } from '../../engines/realtime/protocol';
import { BYTES_PER_MS, ClientInputError, isObject, isOutOfBandText, newId, validateItem } from './client-input';
import { describeSession, parseSessionUpdate } from './session-config';
import { ConversationState } from './conversation';
import { callerTranscript, supervisorNoteOf } from './replies';
import { ResponseRunner, type ResponseHost } from './responses';
import type { LocalRealtimeServerOptions, SessionInfo } from './types';
import { EnergyVad, type VadListener } from './vad';
import { recognizeTurn, TurnAudio } from './recognizer';

/** What a session needs of its server. */
export interface SessionServer {
  readonly opts: LocalRealtimeServerOptions;
  readonly logger: Logger;
  readonly responseDelayMs: number;
  notifyChange(): void;
  sessionEnded(session: LocalSession): void;
}

const SUPPORTED_TYPES =
  "'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', 'conversation.item.truncate', 'conversation.item.delete', 'conversation.item.retrieve', 'response.create', and 'response.cancel'";

export class LocalSession implements ResponseHost, VadListener {
  readonly log: Logger;
  readonly conversation = new ConversationState();
  private readonly responses = new ResponseRunner(this);
  private readonly vad = new EnergyVad(this);
  private stalled = false;
  ended = false;
  private eventCounter = 0;
  private transcription: { model: string } | null = null;
  private maxSessionTimer?: NodeJS.Timeout;
  private uncommittedMs = 0;
  private speechItemId = '';
  /** The caller's audio since the last commit, when the local recognizer transcribes it. */
  private readonly turnAudio = new TurnAudio();

  constructor(
    private readonly server: SessionServer,
    private readonly ws: WebSocket,
    readonly info: SessionInfo,
  ) {
    this.log = server.logger.child({ realtimeSession: info.id });
  }

  get opts(): LocalRealtimeServerOptions {
    return this.server.opts;
  }

  get responseDelayMs(): number {
    return this.server.responseDelayMs;
  }

  get canSend(): boolean {
    return !this.ended && !this.stalled;
  }

  notifyChange(): void {
    this.server.notifyChange();
  }

  begin(): void {
    this.ws.on('message', (data, isBinary) => {
      try {
        this.onMessage(data, isBinary);
      } catch (err) {
        this.log.error('local realtime handler failed', { error: (err as Error).message });
        this.sendError('server_error', 'The server had an error while processing your request.', 'server_error');
      }
    });
    this.ws.on('close', (code) => this.end(code));
    this.ws.on('error', (err) => {
      this.log.debug('local realtime socket error', { error: err.message });
    });
    this.log.info('local realtime session opened', { model: this.info.model, index: this.info.index });
    if (this.server.opts.rejectBetaHeader !== false && this.info.openaiBeta?.includes('realtime=v1')) {
      this.sendError('beta_not_supported', 'The Realtime API beta is no longer available; remove OpenAI-Beta.');
      this.ws.close(4000, 'beta api shape not supported');
      return;
    }
    this.send({ type: 'session.created', session: this.sessionObject() });
    const maxMs = this.server.opts.maxSessionMs;
    if (maxMs) {
      this.maxSessionTimer = setTimeout(() => {
        this.sendError(
          'session_expired',
          `Your session hit the maximum duration of ${Math.round(maxMs / 1000)} seconds.`,
        );
        this.ws.close(1000, 'session expired');
      }, maxMs);
    }
  }

  drop(code?: number): void {
    if (this.ended) return;
    if (code === undefined) this.ws.terminate();
    else this.ws.close(code, 'dropped by test');
    this.end(code ?? 1006);
  }

  blackhole(): void {
    this.stall();
    (this.ws as unknown as { _socket?: { pause(): void } })._socket?.pause();
    this.log.info('local realtime session black-holed', {});
  }

  stall(): void {
    this.stalled = true;
    this.responses.stop(false);
    this.log.info('local realtime session stalled', {});
  }

  sendError(code: string, message: string, type = 'invalid_request_error', eventId?: string): void {
    this.info.errorsSent.push({ code, message });
    this.send({ type: 'error', error: { type, code, message, param: null, event_id: eventId ?? null } });
    this.server.notifyChange();
  }

  send(event: Record<string, unknown>): void {
    if (this.stalled || this.ended || this.ws.readyState !== WebSocket.OPEN) return;
    event.event_id = `event_${this.info.index}_${++this.eventCounter}`;
    this.ws.send(JSON.stringify(event));
  }

  private end(code: number): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.maxSessionTimer);
    this.responses.stop(true);
    this.info.closedAt = Date.now();
    this.log.info('local realtime session closed', { code });
    this.server.sessionEnded(this);
  }

  // ---- input ---------------------------------------------------------------------------------

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.ended) return;
    if (isBinary) {
      this.sendError('invalid_request_error', 'Binary frames are not supported; send JSON text events.');
      return;
    }
    const arrivedAt = this.server.opts.audioTap?.input ? performance.now() : 0;
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString('utf8');
    let event: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (!isObject(parsed)) throw new Error('not an object');
      event = parsed;
    } catch {
      this.sendError('invalid_json', 'We could not parse the JSON body of your request.');
      return;
    }
    const type = event.type;
    const eventId = typeof event.event_id === 'string' ? event.event_id : undefined;
    if (typeof type !== 'string') {
      this.sendError('missing_required_parameter', "Missing required parameter: 'type'.", undefined, eventId);
      return;
    }
    this.info.received[type] = (this.info.received[type] ?? 0) + 1;
    try {
      this.dispatch(type, event, arrivedAt);
    } catch (err) {
      if (err instanceof ClientInputError) this.sendError(err.code, err.message, undefined, eventId);
      else throw err;
    }
    if (type !== 'input_audio_buffer.append') this.server.notifyChange();
  }

  private dispatch(type: string, event: Record<string, unknown>, arrivedAt = 0): void {
    switch (type) {
      case 'input_audio_buffer.append':
        return this.onAppend(event, arrivedAt);
      case 'session.update':
        return this.onSessionUpdate(event);
      case 'input_audio_buffer.commit':
        return this.onCommit();
      case 'input_audio_buffer.clear':
        return this.onClear();
      case 'conversation.item.create':
        return this.onItemCreate(event);
      case 'conversation.item.truncate':
        return this.onTruncate(event);
      case 'response.create':
        this.info.responseCreates++;
        if (isOutOfBandText(event)) return this.responses.runOutOfBandText(event);
        return this.responses.start('client');
      case 'response.cancel':
        this.info.cancels++;
        return this.responses.cancel(event.response_id);
      default:
        throw new ClientInputError(
          'invalid_value',
          `Invalid value: '${type.slice(0, 100)}'. Supported values are: ${SUPPORTED_TYPES}.`,
        );
    }
  }

  private onSessionUpdate(event: Record<string, unknown>): void {
    // Validated whole first, so a bad update changes nothing.
    const update = parseSessionUpdate(event);
    this.info.sessionUpdates.push(update.raw);
    if (update.inputFormat && update.inputFormat !== this.info.inputFormat) this.vad.resetWindow();
    if (update.inputFormat) this.info.inputFormat = update.inputFormat;
    if (update.outputFormat) this.info.outputFormat = update.outputFormat;
    if (update.turnDetection !== undefined) this.info.turnDetection = update.turnDetection;
    if (update.transcription !== undefined) this.transcription = update.transcription;
    if (update.instructions !== undefined) {
      this.conversation.textChars += update.instructions.length - this.info.instructions.length;
      this.info.instructions = update.instructions;
    }
    if (update.voice !== undefined) this.info.voice = update.voice;
    if (update.tools) this.conversation.tools = update.tools;
    this.send({ type: 'session.updated', session: this.sessionObject() });
  }

  private sessionObject(): ReturnType<typeof describeSession> {
    return describeSession(this.info, this.transcription, this.conversation.tools);
  }

  private onAppend(event: Record<string, unknown>, arrivedAt = 0): void {
    const audio = event.audio;
    if (typeof audio !== 'string') {
      throw new ClientInputError('missing_required_parameter', "Missing required parameter: 'audio'.");
    }
    const bytes = Buffer.from(audio, 'base64');
    this.server.opts.audioTap?.input?.(bytes, arrivedAt);
    this.info.appends++;
    const format = this.info.inputFormat;
    const ms = bytes.length / BYTES_PER_MS[format];
    this.info.audioMsIn += ms;
    this.uncommittedMs += ms;
    if (this.server.opts.recognizer) this.turnAudio.push(bytes, format);
    const td = this.info.turnDetection;
    if (td) this.vad.feed(bytes, format, td);
    else this.vad.count(bytes, format);
  }

  /** VadListener: the caller started speaking. */
  speechStarted(audioStartMs: number, td: TurnDetection): void {
    this.speechItemId = newId('item');
    this.turnAudio.keepLastMs(300);
    this.info.speechTurns.push({ itemId: this.speechItemId, audioStartMs });
    this.responses.speechStarted(false);
    this.send({ type: 'input_audio_buffer.speech_started', audio_start_ms: audioStartMs, item_id: this.speechItemId });
    if (td.interrupt_response === true) this.responses.speechStarted(true);
    this.server.notifyChange();
  }

  /** VadListener: the caller stopped speaking: commit the turn and answer it. */
  speechStopped(audioEndMs: number, spokenMs: number, td: TurnDetection): void {
    const turnInfo = this.info.speechTurns[this.info.speechTurns.length - 1];
    turnInfo.audioEndMs = audioEndMs;
    this.send({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: audioEndMs, item_id: this.speechItemId });
    this.commitUserTurn(this.speechItemId, spokenMs);
    if (td.create_response !== false) this.responses.start('vad');
    this.server.notifyChange();
  }

  private onCommit(): void {
    if (this.uncommittedMs < 100) {
      throw new ClientInputError(
        'input_audio_buffer_commit_empty',
        `Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has ${this.uncommittedMs.toFixed(2)}ms of audio.`,
      );
    }
    const itemId = this.vad.speaking ? this.speechItemId : newId('item');
    this.vad.endTurn();
    this.commitUserTurn(itemId, this.uncommittedMs);
  }

  private onClear(): void {
    this.info.clears++;
    this.uncommittedMs = 0;
    this.turnAudio.clear();
    this.vad.endTurn();
    this.send({ type: 'input_audio_buffer.cleared' });
  }

  private commitUserTurn(itemId: string, spokenMs: number): void {
    const conv = this.conversation;
    this.info.commits++;
    conv.audioMs += this.uncommittedMs;
    this.uncommittedMs = 0;
    const previous = conv.append(itemId);
    this.send({ type: 'input_audio_buffer.committed', item_id: itemId, previous_item_id: previous });
    const item = {
      id: itemId,
      object: 'realtime.item',
      type: 'message',
      role: 'user',
      status: 'completed',
      content: [{ type: 'input_audio', transcript: null }],
    };
    this.send({ type: 'conversation.item.added', previous_item_id: previous, item });
    this.send({ type: 'conversation.item.done', previous_item_id: previous, item });
    const opts = this.server.opts;
    const turnAudio = this.turnAudio.take();
    if (opts.recognizer && opts.callerTranscripts?.[conv.callerTurns] === undefined) {
      conv.callerTurns++;
      // The recognizer takes a moment: the transcript follows, as the real API's does.
      void recognizeTurn(turnAudio.audio, turnAudio.format, opts.recognizer.words)
        .catch((err: Error) => {
          this.log.warn('local recognizer failed', { error: err.message });
          return '';
        })
        .then((text) => this.reportCallerTranscript(itemId, text, spokenMs));
      return;
    }
    const transcript = callerTranscript(opts, conv.callerTurns, spokenMs);
    conv.callerTurns++;
    this.reportCallerTranscript(itemId, transcript, spokenMs);
  }

  private reportCallerTranscript(itemId: string, transcript: string, spokenMs: number): void {
    const conv = this.conversation;
    conv.lastCallerText = transcript;
    conv.callerTexts.push(transcript);
    const turnInfo = this.info.speechTurns.find((t) => t.itemId === itemId);
    if (turnInfo) turnInfo.transcript = transcript;
    if (this.transcription) {
      conv.textChars += transcript.length;
      const ref = { item_id: itemId, content_index: 0 };
      this.send({ type: 'conversation.item.input_audio_transcription.delta', ...ref, delta: transcript });
      this.send({
        type: 'conversation.item.input_audio_transcription.completed',
        ...ref,
        transcript,
        usage: { type: 'duration', seconds: Math.round(spokenMs / 100) / 10 },
      });
    }
  }

  private onItemCreate(event: Record<string, unknown>): void {
    const conv = this.conversation;
    const item = validateItem(event.item);
    if (item.id && conv.knownItems.has(item.id)) {
      throw new ClientInputError('item_already_exists', `Item with id '${item.id}' already exists.`);
    }
    const stored = { ...item, id: item.id ?? newId('item'), object: 'realtime.item' as const };
    if (stored.type === 'message') (stored as { status?: string }).status = 'completed';
    this.info.contextItems.push(stored);
    if (stored.type === 'function_call_output') this.responses.pendingToolOutput = stored.output;
    if (stored.type === 'message') {
      for (const part of stored.content) {
        if (!('text' in part)) continue;
        conv.textChars += part.text.length;
        if (stored.role === 'system') conv.supervisorNote = supervisorNoteOf(part.text) ?? conv.supervisorNote;
      }
    }
    const previous = conv.append(stored.id);
    this.send({ type: 'conversation.item.added', previous_item_id: previous, item: stored });
    this.send({ type: 'conversation.item.done', previous_item_id: previous, item: stored });
  }

  private onTruncate(event: Record<string, unknown>): void {
    const itemId = event.item_id;
    const contentIndex = event.content_index;
    const audioEndMs = event.audio_end_ms;
    if (typeof itemId !== 'string') {
      throw new ClientInputError('missing_required_parameter', "Missing required parameter: 'item_id'.");
    }
    if (typeof audioEndMs !== 'number' || !Number.isInteger(audioEndMs) || audioEndMs < 0) {
      throw new ClientInputError('invalid_value', "Invalid 'audio_end_ms': expected a non-negative integer.");
    }
    const record = (ok: boolean): void => {
      this.info.truncates.push({
        item_id: itemId,
        content_index: typeof contentIndex === 'number' ? contentIndex : -1,
        audio_end_ms: audioEndMs,
        ok,
      });
    };
    const sentBytes = this.conversation.assistantAudioBytes.get(itemId);
    if (sentBytes === undefined) {
      record(false);
      throw new ClientInputError('item_truncate_invalid_item_id', `Item with item_id '${itemId}' not found.`);
    }
    if (contentIndex !== 0) {
      record(false);
      throw new ClientInputError('invalid_value', `Invalid 'content_index': audio content is at index 0.`);
    }
    const sentMs = Math.floor(sentBytes / BYTES_PER_MS[this.info.outputFormat]);
    if (audioEndMs > sentMs) {
      record(false);
      throw new ClientInputError(
        'invalid_value',
        `Audio content of ${sentMs}ms is already shorter than ${audioEndMs}ms`,
      );
    }
    record(true);
    this.send({ type: 'conversation.item.truncated', item_id: itemId, content_index: 0, audio_end_ms: audioEndMs });
  }
}
