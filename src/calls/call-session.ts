/**
 * CallSession: one phone call bridged to one Realtime AI session.
 *
 * It owns the call's state machine, both protocol adapters (the Twilio media stream and the
 * Realtime client), the playback tracker (what the caller heard, from marks), the recorder tap, the
 * transcripts and the analytics measurements, and every timer of the call. `close(reason)` is
 * idempotent and is the only way a call ends: AI socket closed, recording finalized, analytics
 * stored, call ended through the CallManager (which publishes call.ended).
 *
 * The AI session is opened as soon as the webhook creates the call (before Twilio opens the media
 * stream), so the greeting is generated while Twilio is still connecting; audio that arrives before
 * the stream is held (bounded) and played when it starts.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Call } from '../generated/prisma/client';
import type { Config } from '../config';
import type { Logger } from '../logging/logger';
import type { CallManager } from './call-manager';
import type { CallStatus, EndReason } from './call-status';
import { PlaybackTracker } from '../conversation/playback-tracker';
import { splitHeardText } from './transcript-split';
import { recordingRelativePath } from './recording-path';
import {
  addUsage,
  computeAnalytics,
  EMPTY_USAGE,
  MODEL_SENTIMENT_INSTRUCTIONS,
  parseModelSentiment,
  type SentimentResult,
  type TalkSegment,
  type TokenUsage,
} from './call-analytics';
import { RealtimeClient } from '../engines/realtime/realtime-client';
import { buildSessionUpdate, type RealtimeClientEvent, type RealtimeServerEvent } from '../engines/realtime/protocol';
import type { TwilioMediaStream } from '../channels/twilio/media-stream';
import { StereoWavRecorder } from '../audio/wav-recorder';
import { MulawFramer } from '../audio/framer';
import { FRAME_BYTES, SAMPLES_PER_MS } from '../audio/pcm';
import { Pcm24kToPcmu, PcmuToPcm24k } from '../audio/resampler';
import type { Metrics } from '../observability/metrics';
import { CallToolCalls, type AgentRuntime, type StreamEndAction } from '../agent/tool-calls';
import { profileByName, type AgentProfile } from '../agent/profiles';

/** Agent audio is sent to Twilio in chunks of at most this many 20 ms frames, each followed by a mark. */
const MAX_FRAMES_PER_CHUNK = 5;
const MAX_CHUNK_BYTES = FRAME_BYTES * MAX_FRAMES_PER_CHUNK;
/** Agent audio held while Twilio has not opened the stream yet (60 s of mu-law). */
const MAX_PRESTREAM_AUDIO_BYTES = 60 * 8000;
/** How long an interrupted agent turn waits for its full transcript (response.done) before it is stored. */
const CUT_TRANSCRIPT_WAIT_MS = 1500;
/** How long the end of a call waits for the model's sentiment judgement (SENTIMENT_ANALYZER=model). */
const MODEL_SENTIMENT_TIMEOUT_MS = 5000;
const SENTIMENT_PURPOSE = 'switchboard.sentiment';
/** Conversation turns re-sent to a new AI session after a reconnect. */
const MAX_CONTEXT_TURNS = 40;

export interface StreamStartInfo {
  streamSid: string;
  callSid: string;
  accountSid: string;
  customParameters: Record<string, string>;
}

export interface SessionMetrics {
  bargeIns: number;
  aiReconnects: number;
  framesIn: number;
  framesOut: number;
  lateAgentDeltas: number;
  aiErrors: number;
}

export interface CallSessionDeps {
  config: Config;
  callManager: CallManager;
  logger: Logger;
  recordingsDir: string;
  /** Realtime endpoint (the local server's URL when running without an API key). */
  realtimeUrl: string;
  /** Called once when the session has fully closed (the bridge forgets it). */
  onClosed?: (session: CallSession) => void;
  /** Bridge-wide Prometheus metrics (per-frame: one histogram observation and one counter increment). */
  metrics?: Metrics;
  /** Skills, profiles and services of the agent; without it the session uses config.agent and offers no tools. */
  agent?: AgentRuntime;
  /** Our side ends the stream to hang up or transfer: the bridge keeps what <Connect action> must answer. */
  onStreamEnding?: (callId: string, action: StreamEndAction) => void;
}

/** Longest wait for the agent's goodbye / transfer announcement to play before the stream is closed anyway. */
const END_AFTER_SPEECH_MAX_MS = 15_000;

interface AgentItem {
  itemId: string;
  responseId: string | undefined;
  partial: string;
  transcript: string | undefined;
  audioDone: boolean;
  sentMs: number;
  firstPlayAtMs: number | undefined;
  finalized: boolean;
  /** Set by a barge-in: what was heard of it then, and the text known at that moment. */
  cut?: { heardMs: number; sentMs: number; textAtCut: string };
}

interface CallerTurn {
  startMs: number;
  endMs: number | undefined;
}

type SessionState = 'awaiting-stream' | 'active' | 'closing' | 'closed';

export class CallSession {
  readonly callId: string;
  readonly metrics: SessionMetrics = {
    bargeIns: 0,
    aiReconnects: 0,
    framesIn: 0,
    framesOut: 0,
    lateAgentDeltas: 0,
    aiErrors: 0,
  };
  private state: SessionState = 'awaiting-stream';
  private readonly log: Logger;
  private readonly ai: RealtimeClient;
  private stream: TwilioMediaStream | undefined;
  private streamSid: string | undefined;
  private recorder: StereoWavRecorder | undefined;
  private recordingRelPath: string | undefined;
  private readonly playback = new PlaybackTracker();
  private readonly framer = new MulawFramer();
  private toPcm24k: PcmuToPcm24k | undefined;
  private fromPcm24k: Pcm24kToPcmu | undefined;
  private closePromise: Promise<void> | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sessionOpenedAt = performance.now();
  private aiSessionStartedAt = performance.now();

  /** End of the latest caller frame, in ms since the stream started (Twilio's media timestamps). */
  private callerClockMs = 0;
  /** Where the next agent chunk starts playing, in the same clock (Twilio plays queued audio back to back). */
  private agentQueueEndMs = 0;
  /** Caller audio ms appended to the current AI socket when it opened: maps the AI's audio_start_ms to call time. */
  private aiAudioBaseMs = 0;
  private readonly preStreamAudio: { itemId: string; responseId: string | undefined; bytes: Buffer }[] = [];
  private preStreamBytes = 0;

  private readonly agentItems = new Map<string, AgentItem>();
  private currentResponseId: string | undefined;
  private responseActive = false;
  private readonly cancelledResponses = new Set<string>();
  private readonly callerTurns = new Map<string, CallerTurn>();
  private readonly context: { role: 'user' | 'assistant'; text: string }[] = [];
  private readonly callerSegments: TalkSegment[] = [];
  private readonly agentSegments: TalkSegment[] = [];
  private readonly callerTexts: string[] = [];
  private readonly latenciesMs: number[] = [];
  private readonly interruptionsAtMs: number[] = [];
  private awaitingResponseSince: number | undefined;
  private agentTurns = 0;
  private readonly usage: TokenUsage = { ...EMPTY_USAGE };
  private replacePending = false;
  private sentimentAnswer: ((text: string | undefined) => void) | undefined;

  /** The agent profile of this call (instructions, voice, greeting, VAD). */
  private readonly profile: Pick<AgentProfile, 'instructions' | 'voice' | 'greeting' | 'greetsFirst' | 'vad'>;
  private readonly tools: CallToolCalls | undefined;
  private lastAudioResponseId: string | undefined;
  /** A hang-up or transfer waiting for the agent's last words to play. */
  private pendingEnd: { action: StreamEndAction; awaitingSpeech: boolean; responseId?: string } | undefined;

  constructor(
    private readonly deps: CallSessionDeps,
    readonly call: Call,
  ) {
    this.callId = call.id;
    this.log = deps.logger.child({ callId: call.id });
    const { config } = deps;
    this.profile = deps.agent ? profileByName(deps.agent.settings, call.agent) : config.agent;
    this.tools = deps.agent ? new CallToolCalls(deps.agent, this.profile as AgentProfile, this.toolHost()) : undefined;
    this.ai = new RealtimeClient({
      url: deps.realtimeUrl,
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
      onOpen: (info) => this.onAiOpen(info.reconnect, info.replacement),
    });
    this.ai.on('event', (event: RealtimeServerEvent) => this.safely('ai event', () => this.onAiEvent(event)));
    this.ai.on('reconnecting', (info: { attempt: number; delayMs: number; reason: string }) =>
      this.safely('ai reconnecting', () => this.onAiReconnecting(info)),
    );
    this.ai.on('failed', (info: { reason: string; attempts: number }) => {
      this.log.error('AI connection lost for good; ending the stream so the fallback plays', info);
      this.deps.callManager.addEvent(this.callId, 'ai.failed', info, this.callerClockMs);
      void this.close('ai-unavailable');
    });
  }

  get active(): boolean {
    return this.state === 'awaiting-stream' || this.state === 'active';
  }

  /** True until a stream has attached: a call takes exactly one stream. */
  get awaitingStream(): boolean {
    return this.state === 'awaiting-stream';
  }

  /** Opens the AI session (called from the webhook, before Twilio opens the stream). */
  async start(): Promise<void> {
    // Its token expires then: a stream that has not started by now never will.
    const timer = setTimeout(() => {
      if (this.state === 'awaiting-stream') {
        this.log.warn('the media stream never started; ending the call');
        void this.close('stream-timeout', 'failed');
      }
    }, this.deps.config.twilio.streamTokenTtlMs);
    timer.unref();
    this.timers.add(timer);
    if (this.deps.config.openai.audioFormat === 'pcm16') {
      // Endpoints without G.711: resample 8 kHz mu-law <-> 24 kHz PCM16 (the audio normalizer).
      [this.toPcm24k, this.fromPcm24k] = await Promise.all([PcmuToPcm24k.create(), Pcm24kToPcmu.create()]);
    }
    this.ai.connect();
  }

  /** Twilio's media stream started for this call. */
  async attachStream(stream: TwilioMediaStream, start: StreamStartInfo): Promise<void> {
    if (this.state !== 'awaiting-stream') {
      stream.close(1008, 'call already has a stream');
      return;
    }
    const answeredAt = new Date();
    // The recorder exists before the session is active: every byte sent to the caller from here on,
    // greeting included, is also in the recording (the file itself opens in the background).
    this.recordingRelPath = recordingRelativePath(this.callId, answeredAt);
    try {
      this.recorder = StereoWavRecorder.create(path.join(this.deps.recordingsDir, this.recordingRelPath));
      this.recorder.ready().catch((err: unknown) => {
        this.log.error('could not open the recording file; the call goes on without it', {
          error: (err as Error).message,
        });
      });
    } catch (err) {
      this.log.error('could not start the recording; the call goes on without it', { error: (err as Error).message });
    }
    this.state = 'active';
    this.stream = stream;
    this.streamSid = start.streamSid;
    stream.on('media', (m) => this.onCallerMedia(m.payload, m.timestampMs, m.receivedAt));
    stream.on('mark', (name) => this.safely('mark', () => this.onMark(name)));
    stream.on('dtmf', (digit) => this.safely('dtmf', () => this.onDtmf(digit)));
    stream.on('stop', () => void this.close('caller-hangup'));
    stream.on('close', () => void this.close('twilio-socket-closed'));
    // Greeting audio generated while Twilio was connecting plays now, before any await.
    const held = this.preStreamAudio.splice(0);
    this.preStreamBytes = 0;
    for (const h of held) this.playAgentAudio(h.itemId, h.responseId, h.bytes);

    try {
      await this.deps.callManager.updateCall(this.callId, {
        streamSid: start.streamSid,
        answeredAt,
        status: this.ai.state === 'reconnecting' ? 'reconnecting' : 'streaming',
      });
    } catch (err) {
      // The database is failing beyond the CallManager's retries: the caller is still served.
      this.log.error('could not store the stream start; the call goes on', { error: (err as Error).message });
    }
    this.log.info('media stream started', { streamSid: start.streamSid });
  }

  // ---------------------------------------------------------------- caller -> AI (hot path)

  /** receivedAt: when the Twilio frame arrived (performance.now(), before parsing): latency starts there. */
  private onCallerMedia(payload: string, timestampMs: number, receivedAt: number): void {
    if (this.state !== 'active') return;
    const t0 = receivedAt;
    this.metrics.framesIn++;
    this.callerClockMs = timestampMs + 20;
    const bytes = Buffer.from(payload, 'base64');
    this.recorder?.writeCaller(bytes, timestampMs);
    if (this.toPcm24k) this.ai.appendAudio(this.toPcm24k.process(bytes).toString('base64'));
    else this.ai.appendAudio(payload);
    const m = this.deps.metrics;
    if (m) {
      m.uplinkLatency.observe(performance.now() - t0);
      m.framesIn.inc();
    }
  }

  // ---------------------------------------------------------------- AI -> caller

  private onAiOpen(reconnect: boolean, replacement = false): RealtimeClientEvent[] {
    const { config } = this.deps;
    this.aiSessionStartedAt = performance.now();
    this.aiAudioBaseMs = this.callerClockMs;
    const events: RealtimeClientEvent[] = [
      buildSessionUpdate({
        model: config.openai.model,
        instructions: this.profile.instructions,
        voice: this.profile.voice,
        audioFormat: config.openai.audioFormat,
        vad: this.profile.vad,
        transcriptionModel: config.agent.transcriptionModel,
        tools: this.tools?.definitions(),
      }),
    ];
    if (reconnect) {
      // A new session knows nothing: give it the conversation so far.
      for (const turn of this.context.slice(-MAX_CONTEXT_TURNS)) {
        events.push({
          type: 'conversation.item.create',
          item: {
            type: 'message',
            role: turn.role,
            content: [{ type: turn.role === 'user' ? 'input_text' : 'output_text', text: turn.text }],
          },
        } as RealtimeClientEvent);
      }
      this.responseActive = false;
      this.tools?.reset();
      if (
        this.profile.greetsFirst &&
        this.context.length === 0 &&
        this.metrics.framesOut === 0 &&
        this.preStreamBytes === 0
      ) {
        // The first connection failed before any greeting audio came: greet on this one.
        events.push({
          type: 'response.create',
          response: { instructions: `${this.profile.instructions}\n\n${this.profile.greeting}` },
        } as RealtimeClientEvent);
      }
      if (!replacement && this.state !== 'closing' && this.state !== 'closed') {
        this.metrics.aiReconnects++;
        this.deps.metrics?.aiReconnects.inc();
        this.publishStats(); // the board's reconnect count now, not at the next turn
        this.updateCallQuietly({ status: 'streaming' });
        this.log.info('AI session restored', { contextTurns: Math.min(this.context.length, MAX_CONTEXT_TURNS) });
        this.deps.callManager.addEvent(
          this.callId,
          'ai.reconnected',
          { contextTurns: this.context.length },
          this.callerClockMs,
        );
      }
    } else if (this.profile.greetsFirst) {
      events.push({
        type: 'response.create',
        response: { instructions: `${this.profile.instructions}\n\n${this.profile.greeting}` },
      } as RealtimeClientEvent);
    }
    return events;
  }

  private onAiReconnecting(info: { attempt: number; delayMs: number; reason: string }): void {
    if (!this.active) return;
    this.log.warn('AI connection dropped; reconnecting', info);
    this.deps.callManager.addEvent(this.callId, 'ai.reconnecting', info, this.callerClockMs);
    // The response in flight is lost with its socket: settle what the caller heard of it.
    if (this.currentResponseId) this.cancelledResponses.add(this.currentResponseId);
    this.responseActive = false;
    this.framer.reset();
    if (this.state === 'active') this.updateCallQuietly({ status: 'reconnecting' });
  }

  private onAiEvent(event: RealtimeServerEvent): void {
    const e = event as { type: string } & Record<string, unknown>;
    switch (e.type) {
      case 'input_audio_buffer.speech_started':
        this.onSpeechStarted(String(e.item_id ?? ''), Number(e.audio_start_ms));
        break;
      case 'input_audio_buffer.speech_stopped':
        this.onSpeechStopped(String(e.item_id ?? ''), Number(e.audio_end_ms));
        break;
      case 'conversation.item.input_audio_transcription.completed':
        this.onCallerTranscript(String(e.item_id ?? ''), String(e.transcript ?? ''));
        break;
      case 'conversation.item.input_audio_transcription.failed':
        this.deps.callManager.addEvent(this.callId, 'transcription.failed', { itemId: e.item_id }, this.callerClockMs);
        break;
      case 'response.created': {
        const response = (e.response ?? {}) as { id?: string; metadata?: { purpose?: unknown } | null };
        if (response.metadata?.purpose === SENTIMENT_PURPOSE) break;
        this.currentResponseId = response.id;
        this.responseActive = true;
        if (this.pendingEnd?.awaitingSpeech && !this.pendingEnd.responseId) this.pendingEnd.responseId = response.id;
        break;
      }
      case 'response.output_audio.delta':
        this.onAgentAudioDelta(String(e.item_id ?? ''), e.response_id as string | undefined, String(e.delta ?? ''));
        break;
      case 'response.output_audio.done':
        this.lastAudioResponseId = e.response_id as string | undefined;
        this.onAgentAudioDone(String(e.item_id ?? ''), e.response_id as string | undefined);
        break;
      case 'response.function_call_arguments.done':
        this.tools?.onFunctionCall({
          responseId: e.response_id as string | undefined,
          toolCallId: String(e.call_id ?? ''),
          name: String(e.name ?? ''),
          arguments: typeof e.arguments === 'string' ? e.arguments : '',
        });
        break;
      case 'response.output_audio_transcript.delta': {
        const item = this.agentItem(String(e.item_id ?? ''), e.response_id as string | undefined);
        if (!item.finalized) item.partial += String(e.delta ?? '');
        break;
      }
      case 'response.output_audio_transcript.done': {
        const item = this.agentItem(String(e.item_id ?? ''), e.response_id as string | undefined);
        item.transcript = String(e.transcript ?? item.partial);
        this.maybeFinalizeAgentItem(item);
        break;
      }
      case 'response.done': {
        const response = (e.response ?? {}) as Parameters<CallSession['onResponseDone']>[0];
        this.onResponseDone(response);
        this.tools?.onResponseDone(response.id);
        if (this.pendingEnd?.awaitingSpeech && this.pendingEnd.responseId === response.id) {
          this.pendingEnd.awaitingSpeech = false;
        }
        this.maybeEndAfterSpeech();
        break;
      }
      case 'error': {
        const error = (e.error ?? {}) as { type?: string; code?: string; message?: string };
        this.metrics.aiErrors++;
        // Cancelling a response that just finished is a benign race.
        const benign = error.code === 'response_cancel_not_active';
        if (!benign) {
          this.log.warn('AI reported an error', { type: error.type, code: error.code, message: error.message });
          this.deps.callManager.addEvent(this.callId, 'ai.error', { ...error }, this.callerClockMs);
        }
        break;
      }
      default:
        break;
    }
  }

  private agentItem(itemId: string, responseId: string | undefined): AgentItem {
    let item = this.agentItems.get(itemId);
    if (!item) {
      item = {
        itemId,
        responseId,
        partial: '',
        transcript: undefined,
        audioDone: false,
        sentMs: 0,
        firstPlayAtMs: undefined,
        finalized: false,
      };
      this.agentItems.set(itemId, item);
    }
    return item;
  }

  private onAgentAudioDelta(itemId: string, responseId: string | undefined, deltaB64: string): void {
    if (responseId && this.cancelledResponses.has(responseId)) {
      this.metrics.lateAgentDeltas++;
      return;
    }
    const t0 = this.ai.messageReceivedAt; // when the AI message arrived, before parsing
    const decoded = Buffer.from(deltaB64, 'base64');
    const bytes: Buffer = this.fromPcm24k ? this.fromPcm24k.process(decoded) : decoded;
    if (this.state === 'awaiting-stream') {
      if (this.preStreamBytes + bytes.length <= MAX_PRESTREAM_AUDIO_BYTES) {
        this.preStreamAudio.push({ itemId, responseId, bytes });
        this.preStreamBytes += bytes.length;
      }
      return;
    }
    this.playAgentAudio(itemId, responseId, bytes);
    this.deps.metrics?.downlinkLatency.observe(performance.now() - t0);
  }

  private onAgentAudioDone(itemId: string, responseId: string | undefined): void {
    if (responseId && this.cancelledResponses.has(responseId)) return;
    if (this.state === 'active') {
      const rest = this.framer.flush();
      if (rest) this.sendAgentChunks(itemId, responseId, rest);
    }
    const item = this.agentItem(itemId, responseId);
    item.audioDone = true;
    this.maybeFinalizeAgentItem(item);
  }

  /** Sends agent audio to Twilio in whole 20 ms frames (the framer keeps the remainder). */
  private playAgentAudio(itemId: string, responseId: string | undefined, bytes: Buffer): void {
    if (this.state !== 'active') return;
    const frames = this.framer.push(bytes);
    if (frames) this.sendAgentChunks(itemId, responseId, frames);
  }

  private sendAgentChunks(itemId: string, responseId: string | undefined, frames: Buffer): void {
    const stream = this.stream!;
    const item = this.agentItem(itemId, responseId);
    if (this.awaitingResponseSince !== undefined) {
      this.latenciesMs.push(performance.now() - this.awaitingResponseSince);
      this.awaitingResponseSince = undefined;
      this.publishStats();
    }
    for (let offset = 0; offset < frames.length; offset += MAX_CHUNK_BYTES) {
      const chunk = frames.subarray(offset, Math.min(frames.length, offset + MAX_CHUNK_BYTES));
      const chunkMs = chunk.length / SAMPLES_PER_MS;
      const playAtMs = Math.max(this.callerClockMs, this.agentQueueEndMs);
      this.agentQueueEndMs = playAtMs + chunkMs;
      item.firstPlayAtMs ??= playAtMs;
      item.sentMs += chunkMs;
      this.recorder?.writeAgent(chunk, playAtMs);
      stream.sendMedia(chunk.toString('base64'));
      stream.sendMark(this.playback.sent(itemId, chunkMs));
      this.metrics.framesOut += chunk.length / FRAME_BYTES;
    }
    this.deps.metrics?.framesOut.inc(frames.length / FRAME_BYTES);
  }

  private onMark(name: string): void {
    const ack = this.playback.acknowledge(name);
    if (!ack) return;
    const item = this.agentItems.get(ack.itemId);
    if (item) this.maybeFinalizeAgentItem(item);
    if (this.pendingEnd) this.maybeEndAfterSpeech();
  }

  private onResponseDone(response: {
    id?: string;
    status?: string;
    usage?: unknown;
    output?: unknown;
    metadata?: { purpose?: unknown } | null;
  }): void {
    addUsage(this.usage, response.usage);
    if (response.metadata?.purpose === SENTIMENT_PURPOSE) {
      const out = Array.isArray(response.output) ? (response.output as { content?: { text?: unknown }[] }[]) : [];
      const text = out.flatMap((o) => o.content ?? []).find((c) => typeof c.text === 'string')?.text as
        string | undefined;
      this.sentimentAnswer?.(text);
      return;
    }
    // A cancelled response's items carry the transcript of everything generated: complete cut turns with it.
    if (Array.isArray(response.output)) {
      for (const out of response.output as { id?: string; content?: { transcript?: unknown }[] }[]) {
        const item = out?.id ? this.agentItems.get(out.id) : undefined;
        if (!item || item.finalized) continue;
        const transcript = out.content?.find((c) => typeof c?.transcript === 'string')?.transcript as
          string | undefined;
        if (transcript !== undefined && item.transcript === undefined) item.transcript = transcript;
        if (item.cut) this.finalizeAgentItem(item, true);
      }
    }
    if (response.id === this.currentResponseId) this.responseActive = false;
    if (response.status === 'failed') {
      this.deps.callManager.addEvent(
        this.callId,
        'ai.response_failed',
        { responseId: response.id },
        this.callerClockMs,
      );
    }
    this.maybeReplaceAgedSession();
  }

  // ---------------------------------------------------------------- caller speech, barge-in

  private toCallMs(aiAudioMs: number): number {
    return Number.isFinite(aiAudioMs) ? this.aiAudioBaseMs + aiAudioMs : this.callerClockMs;
  }

  private onSpeechStarted(itemId: string, audioStartMs: number): void {
    const receivedAt = this.ai.messageReceivedAt; // when speech_started arrived, before parsing
    const startMs = Math.min(this.toCallMs(audioStartMs), this.callerClockMs);
    this.callerTurns.set(itemId, { startMs, endMs: undefined });
    this.awaitingResponseSince = undefined;
    if (this.state === 'active' && (this.playback.hasUnplayedAudio() || this.framer.pendingBytes > 0))
      this.bargeIn(receivedAt);
    else if (this.responseActive && this.currentResponseId) {
      // The model is still thinking and nothing was played: drop that answer too.
      this.ai.sendIfOpen({ type: 'response.cancel' } as RealtimeClientEvent);
      this.cancelledResponses.add(this.currentResponseId);
      this.responseActive = false;
    }
  }

  private onSpeechStopped(itemId: string, audioEndMs: number): void {
    const turn = this.callerTurns.get(itemId) ?? { startMs: this.callerClockMs, endMs: undefined };
    turn.endMs = Math.max(turn.startMs, Math.min(this.toCallMs(audioEndMs), this.callerClockMs));
    this.callerTurns.set(itemId, turn);
    this.callerSegments.push({ startMs: turn.startMs, endMs: turn.endMs });
    this.awaitingResponseSince = performance.now();
  }

  private onCallerTranscript(itemId: string, text: string): void {
    const clean = text.trim();
    if (!clean) return;
    const turn = this.callerTurns.get(itemId);
    this.callerTurns.delete(itemId);
    this.callerTexts.push(clean);
    this.context.push({ role: 'user', text: clean });
    this.deps.callManager.addTranscript(this.callId, {
      speaker: 'caller',
      text: clean,
      startMs: turn?.startMs ?? this.callerClockMs,
      endMs: turn?.endMs ?? null,
      itemId,
    });
  }

  /**
   * The caller started speaking while agent audio was unplayed: clear Twilio's buffer, cancel the
   * response, truncate the item where the caller stopped hearing it (last acknowledged mark), and
   * start a new generation so late marks and late audio of the old response are ignored.
   */
  private bargeIn(speechStartedAt: number): void {
    this.stream!.clear();
    this.deps.metrics?.bargeInReaction.observe(performance.now() - speechStartedAt);
    this.deps.metrics?.bargeIns.inc();
    const cut = this.playback.cut();
    if (this.responseActive && this.currentResponseId) {
      this.ai.sendIfOpen({ type: 'response.cancel' } as RealtimeClientEvent);
      this.responseActive = false;
    }
    if (this.currentResponseId) this.cancelledResponses.add(this.currentResponseId);
    this.framer.reset();
    const atMs = this.callerClockMs;
    this.recorder?.cutAgentAfter(atMs);
    this.agentQueueEndMs = atMs;
    this.metrics.bargeIns++;
    this.interruptionsAtMs.push(atMs);
    if (cut) {
      this.ai.sendIfOpen({
        type: 'conversation.item.truncate',
        item_id: cut.itemId,
        content_index: 0,
        audio_end_ms: Math.round(cut.audioEndMs),
      } as RealtimeClientEvent);
    }
    this.log.info('caller barged in', { itemId: cut?.itemId, heardMs: cut?.audioEndMs, sentMs: cut?.msSent, atMs });
    this.deps.callManager.addEvent(
      this.callId,
      'barge-in',
      { itemId: cut?.itemId ?? null, heardMs: cut?.audioEndMs ?? null, sentMs: cut?.msSent ?? null },
      atMs,
    );
    // The full text of a cut turn arrives with the cancelled response's response.done; store it then.
    for (const item of this.agentItems.values()) {
      if (item.finalized || item.sentMs === 0 || item.cut) continue;
      const heardMs = Math.min(this.playback.item(item.itemId)?.msPlayed ?? 0, item.sentMs);
      item.cut = { heardMs, sentMs: item.sentMs, textAtCut: item.transcript ?? item.partial };
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.safely('finalize cut item', () => this.finalizeAgentItem(item, true));
      }, CUT_TRANSCRIPT_WAIT_MS);
      timer.unref();
      this.timers.add(timer);
    }
    this.publishStats();
  }

  private maybeFinalizeAgentItem(item: AgentItem): void {
    if (item.finalized || item.transcript === undefined) return;
    if (item.cut) {
      this.finalizeAgentItem(item, true);
      return;
    }
    const played = this.playback.item(item.itemId);
    const fullyPlayed =
      item.audioDone && (item.sentMs === 0 || (played !== undefined && played.msPlayed >= played.msSent));
    if (fullyPlayed) this.finalizeAgentItem(item, false);
  }

  /** Stores the agent turn as the caller heard it; the cut-off part is kept apart and marked. */
  private finalizeAgentItem(item: AgentItem, interrupted: boolean): void {
    if (item.finalized) return;
    item.finalized = true;
    const text = (item.transcript ?? item.partial).trim();
    const heardMs = item.cut?.heardMs ?? Math.min(this.playback.item(item.itemId)?.msPlayed ?? 0, item.sentMs);
    let split = { heard: text, unheard: '' };
    if (interrupted) {
      // The text known at the cut covers about the audio sent by then: split it by what was heard,
      // and everything after the heard words (including text that came later) is the unheard part.
      const known = item.cut?.textAtCut.trim() || text;
      const heard = splitHeardText(known, heardMs, item.cut?.sentMs ?? item.sentMs).heard;
      split = text.startsWith(heard)
        ? { heard, unheard: text.slice(heard.length).trim() }
        : splitHeardText(text, heardMs, item.sentMs);
    }
    const startMs = item.firstPlayAtMs ?? this.callerClockMs;
    const endMs = startMs + (interrupted ? heardMs : item.sentMs);
    if (endMs > startMs) this.agentSegments.push({ startMs, endMs });
    if (split.heard || split.unheard) {
      this.agentTurns++;
      if (split.heard) this.context.push({ role: 'assistant', text: split.heard });
      this.deps.callManager.addTranscript(this.callId, {
        speaker: 'agent',
        text: split.heard,
        unheardText: split.unheard || null,
        interrupted: interrupted && split.unheard.length > 0,
        startMs,
        endMs,
        itemId: item.itemId,
      });
    }
    this.agentItems.delete(item.itemId);
    this.playback.forget(item.itemId);
  }

  private onDtmf(digit: string): void {
    this.deps.callManager.addEvent(this.callId, 'dtmf', { digit }, this.callerClockMs);
    const text = `[The caller pressed ${digit} on the keypad]`;
    // Kept in the context too, so a re-made AI session still knows what was keyed in.
    this.context.push({ role: 'user', text });
    this.ai.send({
      type: 'conversation.item.create',
      item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] },
    } as RealtimeClientEvent);
  }

  // ---------------------------------------------------------------- agent actions (tools)

  private toolHost(): ConstructorParameters<typeof CallToolCalls>[2] {
    return {
      logger: this.log,
      call: () => this.deps.callManager.getActive(this.callId) ?? this.call,
      send: (event) => this.ai.sendIfOpen(event),
      record: (data) => this.deps.callManager.addEvent(this.callId, 'tool.call', data, this.callerClockMs),
      responseHadAudio: (responseId) => responseId !== undefined && responseId === this.lastAudioResponseId,
      endAfterSpeech: (action, expectSpeech) => this.endAfterSpeech(action, expectSpeech),
    };
  }

  /** Hang up / transfer once the agent's last words have played (marks), or after a safety delay. */
  private endAfterSpeech(action: StreamEndAction, expectSpeech: boolean): void {
    if (!this.active || this.pendingEnd) return;
    this.pendingEnd = { action, awaitingSpeech: expectSpeech };
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.log.warn('the agent did not finish speaking in time; ending the stream anyway', { action: action.kind });
      this.safely('end after speech', () => this.executeEnd());
    }, END_AFTER_SPEECH_MAX_MS);
    timer.unref();
    this.timers.add(timer);
    this.maybeEndAfterSpeech();
  }

  private maybeEndAfterSpeech(): void {
    const pending = this.pendingEnd;
    if (!pending || pending.awaitingSpeech) return;
    if (this.responseActive || this.playback.hasUnplayedAudio() || this.framer.pendingBytes > 0) return;
    this.executeEnd();
  }

  private executeEnd(): void {
    const pending = this.pendingEnd;
    if (!pending || !this.active) return;
    this.pendingEnd = undefined;
    this.deps.onStreamEnding?.(this.callId, pending.action);
    this.log.info(pending.action.kind === 'transfer' ? 'transferring the call' : 'agent hangs up');
    void this.close(pending.action.kind === 'transfer' ? 'transferred' : 'agent-hangup');
  }

  /** Realtime sessions end at 60 minutes: replace an old one at a turn boundary. */
  private maybeReplaceAgedSession(): void {
    if (this.replacePending || this.responseActive) return;
    if (performance.now() - this.aiSessionStartedAt < this.deps.config.openai.sessionMaxMs) return;
    this.replacePending = true;
    this.log.info('replacing the AI session before its time limit');
    this.deps.callManager.addEvent(this.callId, 'ai.session_replaced', {}, this.callerClockMs);
    this.ai.replaceSession('session-age');
    this.replacePending = false;
  }

  private publishStats(): void {
    const n = this.latenciesMs.length;
    this.deps.callManager.publishStats(this.callId, {
      interruptions: this.interruptionsAtMs.length,
      latencyLastMs: n ? Math.round(this.latenciesMs[n - 1]) : null,
      latencyAvgMs: n ? Math.round(this.latenciesMs.reduce((a, b) => a + b, 0) / n) : null,
      aiReconnects: this.metrics.aiReconnects,
    });
  }

  // ---------------------------------------------------------------- ending

  /** Ends the call exactly once. Safe to call from any handler, any number of times. */
  close(reason: EndReason, status: CallStatus = 'completed'): Promise<void> {
    this.closePromise ??= this.doClose(reason, status);
    return this.closePromise;
  }

  private async doClose(reason: EndReason, status: CallStatus): Promise<void> {
    const wasState = this.state;
    this.state = 'closing';
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.tools?.close();
    this.pendingEnd = undefined;
    // Our side ends the stream (AI gone, shutdown): Twilio then runs the fallback TwiML after <Connect>.
    if (this.stream && reason !== 'caller-hangup' && reason !== 'twilio-socket-closed') {
      this.stream.close(1000, reason);
    }
    const modelSentiment = await this.askModelSentiment();
    this.ai.close();
    this.toPcm24k?.close();
    this.fromPcm24k?.close();
    this.log.info('call ending', { reason, framesIn: this.metrics.framesIn, framesOut: this.metrics.framesOut });
    for (const item of [...this.agentItems.values()]) {
      if (item.finalized) continue;
      const played = this.playback.item(item.itemId);
      const interrupted =
        Boolean(item.cut) || !item.audioDone || (played !== undefined && played.msPlayed < played.msSent);
      if (item.sentMs > 0 || item.transcript) this.finalizeAgentItem(item, interrupted);
    }
    const durationMs = wasState === 'awaiting-stream' ? 0 : this.callerClockMs;

    if (this.recorder) {
      try {
        const rec = await this.recorder.close(durationMs);
        if (!rec.created) throw rec.error ?? new Error('the recording file was never created');
        await this.deps.callManager.addRecording({
          callId: this.callId,
          path: this.recordingRelPath!,
          container: 'wav',
          codec: 'pcm_s16le',
          sampleRateHz: 8000,
          channels: 2,
          durationMs: Math.round(rec.durationMs),
          sizeBytes: rec.sizeBytes,
        });
      } catch (err) {
        this.log.error('could not finalize the recording', { error: (err as Error).message });
      }
    }
    try {
      const analytics = computeAnalytics(
        {
          durationMs,
          callerSegments: this.callerSegments,
          agentSegments: this.agentSegments,
          latenciesMs: this.latenciesMs,
          interruptions: this.interruptionsAtMs.length,
          callerTurns: this.callerSegments.length,
          agentTurns: this.agentTurns,
          usage: this.usage,
          callerTexts: this.callerTexts,
        },
        this.deps.config.pricing,
        modelSentiment,
      );
      await this.deps.callManager.saveAnalytics({
        callId: this.callId,
        ...analytics,
        latenciesMs: analytics.latenciesMs,
      });
    } catch (err) {
      this.log.error('could not store analytics', { error: (err as Error).message });
    }
    try {
      await this.deps.callManager.endCall(this.callId, {
        reason,
        status: reason === 'ai-unavailable' && wasState === 'awaiting-stream' ? 'failed' : status,
      });
    } catch (err) {
      this.log.error('could not end the call record', { error: (err as Error).message });
    }
    this.state = 'closed';
    this.deps.onClosed?.(this);
  }

  /** A status update from an event handler: a database failure is logged, never thrown into the call. */
  private updateCallQuietly(patch: Parameters<CallManager['updateCall']>[1]): void {
    this.deps.callManager.updateCall(this.callId, patch).catch((err: unknown) => {
      this.log.error('could not store a call status update', { error: (err as Error).message });
    });
  }

  /**
   * SENTIMENT_ANALYZER=model: asks the call's own AI session, out of band (outside the conversation,
   * text only), for the caller's sentiment over the whole conversation. Undefined (→ the local
   * analyzer) when not configured, when the AI is not connected, or on a timeout or a bad answer.
   */
  private async askModelSentiment(): Promise<SentimentResult | undefined> {
    if (this.deps.config.sentimentAnalyzer !== 'model' || this.callerTexts.length === 0) return undefined;
    const answer = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), MODEL_SENTIMENT_TIMEOUT_MS);
      this.sentimentAnswer = (text) => {
        clearTimeout(timer);
        resolve(text);
      };
    });
    const sent = this.ai.sendIfOpen({
      type: 'response.create',
      response: {
        conversation: 'none',
        output_modalities: ['text'],
        metadata: { purpose: SENTIMENT_PURPOSE },
        instructions: MODEL_SENTIMENT_INSTRUCTIONS,
      },
    } as RealtimeClientEvent);
    if (!sent) {
      this.sentimentAnswer?.(undefined);
      return undefined;
    }
    const result = parseModelSentiment((await answer) ?? '');
    if (!result) this.log.warn('no usable sentiment from the model; using the local analyzer');
    return result;
  }

  /** Runs a handler; an exception ends nothing but is logged (socket handlers never throw out). */
  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error('call handler failed', { what, error: (err as Error).message, stack: (err as Error).stack });
    }
  }
}
