/**
 * Conversation: one call, composed of one caller channel and one agent engine. It never names a
 * provider: the channel and the engine are the seams (channel.ts, engine.ts).
 *
 * It owns the call's state machine (awaiting-channel → attaching → active → closing → closed), the
 * engine from the moment the call is prepared (so a greeting is generated while the channel is still
 * connecting; agent audio that arrives before the channel is held, bounded, and played when it
 * attaches), the audio seam, the recording tap, the agent's turns (heard/unheard), the barge-in
 * policy (driven by the channel's `played` acknowledgements and a generation counter), tool calls,
 * stats, and every timer of the call. `close(reason)` ends it exactly once (ending.ts).
 */
import { performance } from 'node:perf_hooks';
import type { Call } from '../generated/prisma/client';
import type { Config } from '../config';
import type { Logger } from '../logging/logger';
import type { CallManager } from '../calls/call-manager';
import type { CallStatus, EndReason } from '../calls/call-status';
import type { Metrics } from '../observability/metrics';
import { CallToolCalls, type AgentRuntime } from '../agent/tool-calls';
import type { AgentProfile } from '../agent/profiles';
import { bytesPerMs, durationMs, type AudioFormat } from './audio-format';
import { negotiateSeam, type AudioSeam } from './audio-seam';
import {
  frameByteLength,
  type CallerAudioFrame,
  type CallerChannel,
  type ChannelStart,
  type EndAction,
} from './channel';
import type { AgentEngine, ConversationMode, ConversationTurn, EngineFactory } from './engine';
import { AgentTurns } from './agent-turns';
import { AgentPlayout } from './agent-playout';
import { PlaybackTracker } from './playback-tracker';
import { RecordingTap } from './recording-tap';
import { CallStats, type SessionMetrics } from './call-stats';
import { AgentEndings } from './agent-endings';
import { finishCall } from './ending';
import { wireEngine } from './engine-events';
import type { CallConsent } from '../privacy/consent';

/**
 * A live listener's tap on the call's audio (src/supervision/listen.ts), in the channel's format and
 * on the call's clock: what the caller sent (at its timestamp) and what is played to them (at the
 * call time the playout placed it), cut where a barge-in clears the channel. Unset while nobody
 * listens: no per-frame cost.
 */
export interface ConversationAudioTap {
  caller(bytes: Buffer, format: AudioFormat, atMs: number): void;
  agent(bytes: Buffer, format: AudioFormat, playAtMs: number): void;
  cut(atMs: number): void;
}

/** Agent audio held while the channel has not attached yet (60 s). */
const MAX_HELD_AUDIO_MS = 60_000;
/** Caller frames kept while the audio seam is being negotiated (2 s). */
const MAX_QUEUED_FRAMES = 100;

export interface ConversationDeps {
  config: Config;
  callManager: CallManager;
  logger: Logger;
  recordingsDir: string;
  profile: AgentProfile;
  /** Skills and services; without it the agent offers no tools. */
  agent?: AgentRuntime;
  engineFactory: EngineFactory;
  /** Endpoint overrides resolved at start, by engine kind (EngineContext.endpoints). */
  endpoints: Readonly<Record<string, string | undefined>>;
  /** Engine kinds whose usage costs nothing here (answered by the in-process local AI server). */
  freeEngines?: readonly string[];
  mode: ConversationMode;
  metrics?: Metrics;
  /** Recording consent and keypad privacy of the call (src/privacy/consent.ts). */
  consent?: CallConsent;
  /** Called once when the conversation has fully closed (the bridge forgets it). */
  onClosed?: (conversation: Conversation) => void;
}

type State = 'awaiting-channel' | 'attaching' | 'active' | 'closing' | 'closed';

export class Conversation {
  readonly callId: string;
  readonly log: Logger;
  readonly stats: CallStats;
  readonly tools: CallToolCalls | undefined;
  readonly tracker = new PlaybackTracker();
  readonly turns: AgentTurns;
  readonly endings: AgentEndings;
  /** The conversation so far (what the caller said, and heard of the agent). */
  readonly context: ConversationTurn[] = [];
  /** End of the latest caller audio, in call time (ms since the channel's media started). */
  callerClockMs = 0;
  channel: CallerChannel | undefined;
  playout: AgentPlayout | undefined;
  /** The response being generated, whether it is still running, and responses whose audio is dropped. */
  currentResponseId: string | undefined;
  responseActive = false;
  readonly cancelledResponses = new Set<string>();
  lastAudioResponseId: string | undefined;
  readonly callerTurns = new Map<string, { startMs: number; endMs: number | undefined }>();
  private state: State = 'awaiting-channel';
  private seam: AudioSeam | undefined;
  private tap: RecordingTap | undefined;
  private readonly held: { itemId: string; responseId: string | undefined; bytes: Buffer }[] = [];
  private heldBytes = 0;
  private queuedFrames: CallerAudioFrame[] | undefined;
  private audioReady: Promise<unknown> | undefined;
  private closePromise: Promise<void> | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** How our side ends the call (hang-up, transfer), handed to the channel when it ends. */
  endAction: EndAction | undefined;
  /** Supervisors listening in (set by src/supervision/listen.ts; undefined when nobody listens). */
  audioTap: ConversationAudioTap | undefined;
  /** The agent's side: the profile's engine, until replaceEngine() hands the call to another one. */
  private currentEngine: AgentEngine;

  constructor(
    readonly deps: ConversationDeps,
    readonly call: Call,
  ) {
    this.callId = call.id;
    this.log = deps.logger.child({ callId: call.id });
    this.stats = new CallStats(call.id, deps.callManager);
    const { agent, profile } = deps;
    this.tools = agent
      ? new CallToolCalls(agent, profile, {
          logger: this.log,
          call: () => deps.callManager.getActive(this.callId) ?? this.call,
          sendToolResult: (id, output) => this.engine.sendToolResult(id, output),
          createResponse: (instructions) => this.engine.createResponse(instructions),
          record: (data) => this.addEvent('tool.call', data),
          responseHadAudio: (responseId) => responseId !== undefined && responseId === this.lastAudioResponseId,
          endAfterSpeech: (action, expectSpeech) => this.endings.endAfterSpeech(action, expectSpeech),
        })
      : undefined;
    this.turns = new AgentTurns({
      callId: call.id,
      callManager: deps.callManager,
      log: this.log,
      tracker: this.tracker,
      stats: this.stats,
      context: this.context,
      clock: () => this.callerClockMs,
      later: (ms, fn) => this.later(ms, 'finalize cut item', fn),
      onTurn: (text) => this.channel?.sendText?.(text, 'agent'),
      textOnly: deps.mode === 'text',
    });
    this.endings = new AgentEndings(this);
    this.currentEngine = deps.engineFactory({
      callId: call.id,
      mode: deps.mode,
      endpoints: deps.endpoints,
      logger: this.log,
      config: deps.config,
      profile,
      tools: this.tools?.definitions() ?? [],
      host: {
        turns: () => this.context,
        nothingSaidYet: () => this.context.length === 0 && this.stats.counts.framesOut === 0 && this.heldBytes === 0,
      },
    });
    wireEngine(this);
  }

  get engine(): AgentEngine {
    return this.currentEngine;
  }

  /**
   * Another engine takes the agent's side from now on (a supervisor's softphone taking the call over,
   * src/supervision/take-over-softphone.ts): the seam is renegotiated for its formats, the current
   * engine is closed and no longer heard (a response in flight is dropped, a held partial frame
   * too), and the new one is wired like the first. Only while the call is streaming.
   */
  async replaceEngine(next: AgentEngine): Promise<void> {
    const format = this.channel?.format;
    if (this.state !== 'active' || !format) throw new Error('the call is not streaming');
    const seam = await negotiateSeam(format, next);
    if (this.state !== 'active') {
      seam.close();
      throw new Error('the call ended while its new engine was being set up');
    }
    const old = this.currentEngine;
    old.removeAllListeners();
    old.on('error', () => undefined);
    old.close();
    if (this.currentResponseId) this.cancelledResponses.add(this.currentResponseId);
    this.responseActive = false;
    this.currentResponseId = undefined;
    this.playout?.dropPartial();
    const oldSeam = this.seam;
    this.seam = seam;
    oldSeam?.close();
    this.currentEngine = next;
    wireEngine(this);
    this.log.info('the agent engine was replaced', { from: old.kind, to: next.kind });
  }

  /** Frame counters and the like (tests, logs). */
  get metrics(): SessionMetrics {
    return this.stats.counts;
  }

  get active(): boolean {
    return this.state === 'awaiting-channel' || this.state === 'attaching' || this.state === 'active';
  }

  /** True until a channel has attached: a call takes exactly one. */
  get awaitingChannel(): boolean {
    return this.state === 'awaiting-channel';
  }

  /** True while the channel carries the call (agent audio goes out, caller audio comes in). */
  get streaming(): boolean {
    return this.state === 'active';
  }

  /** Starts the engine (from the webhook, before the channel connects). */
  async start(): Promise<void> {
    // The channel's token expires then: a channel that has not started by now never will.
    this.later(this.deps.config.twilio.streamTokenTtlMs, 'channel timeout', () => {
      if (this.state !== 'awaiting-channel') return;
      this.log.warn('the media stream never started; ending the call');
      void this.close('stream-timeout', 'failed');
    });
    await this.engine.start();
  }

  /** The caller's channel started for this call. */
  async attach(channel: CallerChannel, start: ChannelStart): Promise<void> {
    if (this.state !== 'awaiting-channel') {
      channel.end('call already has a channel');
      return;
    }
    this.state = 'attaching';
    this.channel = channel;
    const answeredAt = new Date();
    const format = channel.format;
    this.queuedFrames = [];
    channel.on('audio', (frame) => this.onCallerAudio(frame));
    channel.on('played', (marker) => this.safely('played', () => this.onPlayed(marker)));
    channel.on('dtmf', (digit) => this.safely('dtmf', () => this.onDtmf(digit)));
    channel.on('text', (text) => this.safely('text', () => this.onCallerText(text)));
    channel.on('end', (cause) => {
      void this.close(cause === 'caller-hangup' ? 'caller-hangup' : `${channel.provider}-socket-closed`);
    });
    if (format && this.deps.mode === 'voice') {
      // The recording exists before the call is active: every byte sent to the caller from here on,
      // greeting included, is in it (the file itself opens in the background).
      const ready = Promise.all([
        negotiateSeam(format, this.engine).catch((err: unknown) => {
          this.log.error('no audio conversion between channel and engine', { error: (err as Error).message });
          return undefined;
        }),
        this.deps.consent?.recording === false
          ? undefined
          : RecordingTap.open(this.deps.recordingsDir, this.callId, answeredAt, format, this.log),
      ]);
      // A call that ends meanwhile waits for these, so it closes the seam and finishes the recording.
      this.audioReady = ready;
      const [seam, tap] = await ready;
      this.seam = seam;
      this.tap = tap;
      // A caller's opt-out stops the recording and deletes it.
      this.deps.consent?.onStopRecording(() => this.tap?.discard(this.log));
      if (this.state !== 'attaching') return;
      if (!seam) {
        void this.close('error');
        return;
      }
      this.playout = new AgentPlayout(
        channel,
        format,
        this.tracker,
        this.turns,
        this.stats,
        tap,
        this.deps.metrics,
        () => this.audioTap,
      );
    }
    this.state = 'active';
    // Greeting audio generated while the channel was connecting plays now, then the caller's first frames.
    for (const h of this.held.splice(0)) this.playAgentAudio(h.itemId, h.responseId, h.bytes);
    this.heldBytes = 0;
    const queued = this.queuedFrames;
    this.queuedFrames = undefined;
    for (const frame of queued) this.onCallerAudio(frame);
    try {
      await this.deps.callManager.updateCall(this.callId, {
        streamSid: start.streamId,
        answeredAt,
        status: this.engine.reconnecting ? 'reconnecting' : 'streaming',
      });
    } catch (err) {
      // The database is failing beyond the CallManager's retries: the caller is still served.
      this.log.error('could not store the stream start; the call goes on', { error: (err as Error).message });
    }
    this.log.info('media stream started', { streamSid: start.streamId, provider: start.provider });
  }

  // ---------------------------------------------------------------- caller → engine (hot path)

  private onCallerAudio(frame: CallerAudioFrame): void {
    if (this.state !== 'active') {
      if (this.queuedFrames && this.queuedFrames.length < MAX_QUEUED_FRAMES) this.queuedFrames.push(frame);
      return;
    }
    const format = this.channel!.format;
    if (!format || !this.seam) return;
    this.stats.counts.framesIn++;
    this.callerClockMs = frame.timestampMs + durationMs(format, frameByteLength(frame));
    this.playout?.callerClock.frame(this.callerClockMs, frame.receivedAt);
    this.tap?.writeCallerFrame(frame);
    this.audioTap?.caller(frame.bytes, format, frame.timestampMs);
    const up = this.seam.up;
    if (up) this.engine.appendAudio(up.process(frame.bytes), undefined, this.callerClockMs);
    else if (frame.base64 !== undefined && this.engine.appendBase64)
      this.engine.appendBase64(frame.base64, this.callerClockMs);
    else this.engine.appendAudio(frame.bytes, frame.base64, this.callerClockMs);
    const m = this.deps.metrics;
    if (m) {
      m.uplinkLatency.observe(performance.now() - frame.receivedAt);
      m.framesIn.inc();
    }
  }

  private onPlayed(marker: string): void {
    const itemId = this.playout?.acknowledge(marker);
    if (itemId === undefined) return;
    this.turns.played(itemId);
    this.endings.maybeEnd();
  }

  private onDtmf(digit: string): void {
    // Opt-out and "sensitive entry" (src/privacy/consent.ts): the digit is then neither stored nor told.
    const decision = this.deps.consent?.dtmf(digit);
    if (decision) this.addEvent(decision.event.type, decision.event.data);
    else this.addEvent('dtmf', { digit });
    const text = decision ? decision.tellAgent : `[The caller pressed ${digit} on the keypad]`;
    if (!text) return;
    // Kept in the context too, so a re-made engine session still knows what was keyed in.
    this.context.push({ role: 'user', text });
    this.engine.sendText(text);
  }

  /** A text message from the person (chat, SMS, an app): stored as their turn, answered by the agent. */
  private onCallerText(text: string): void {
    const clean = text.trim();
    if (!clean) return;
    this.stats.callerTexts.push(clean);
    this.context.push({ role: 'user', text: clean });
    this.deps.callManager.addTranscript(this.callId, {
      speaker: 'caller',
      text: clean,
      startMs: this.callerClockMs,
      endMs: null,
      itemId: null,
    });
    this.stats.callerStopped(performance.now());
    this.engine.sendText(clean, { respond: true });
  }

  // ---------------------------------------------------------------- engine → caller

  /** Agent audio in the engine's format: held before the channel, converted once, played. */
  playAgentAudio(itemId: string, responseId: string | undefined, bytes: Buffer): void {
    if (this.state === 'awaiting-channel' || this.state === 'attaching') {
      const max = MAX_HELD_AUDIO_MS * bytesPerMs(this.engine.outputFormat);
      if (this.heldBytes + bytes.length <= max) {
        this.held.push({ itemId, responseId, bytes });
        this.heldBytes += bytes.length;
      }
      return;
    }
    if (this.state !== 'active' || !this.playout) return;
    const down = this.seam?.down;
    const out = down ? down.process(bytes) : bytes;
    this.playout.play(itemId, responseId, out, this.callerClockMs);
  }

  /** Stores an event on the call's timeline, at the current call time. */
  addEvent(type: string, data: Record<string, unknown>): void {
    this.deps.callManager.addEvent(this.callId, type, data, this.callerClockMs);
  }

  /** A status update from an event handler: a database failure is logged, never thrown into the call. */
  updateStatusQuietly(status: CallStatus): void {
    this.deps.callManager.updateCall(this.callId, { status }).catch((err: unknown) => {
      this.log.error('could not store a call status update', { error: (err as Error).message });
    });
  }

  /** Runs fn after ms unless the call ends first. */
  later(ms: number, what: string, fn: () => void): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.safely(what, fn);
    }, ms);
    timer.unref();
    this.timers.add(timer);
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
    this.endings.cancel();
    // Our side ends the channel (hang-up, transfer, AI gone, shutdown); not when the caller's side did.
    if (this.channel && reason !== 'caller-hangup' && !reason.endsWith('-socket-closed')) {
      this.channel.end(reason, this.endAction);
    }
    await this.audioReady;
    await finishCall(this, {
      reason,
      status: reason === 'ai-unavailable' && wasState === 'awaiting-channel' ? 'failed' : status,
      durationMs: wasState === 'awaiting-channel' ? 0 : this.callerClockMs,
      tap: this.tap,
      closeAudio: () => {
        this.seam?.close();
        this.playout?.close();
      },
    });
    this.state = 'closed';
    this.deps.onClosed?.(this);
  }

  /** Runs a handler; an exception ends nothing but is logged (socket handlers never throw out). */
  safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error('call handler failed', { what, error: (err as Error).message, stack: (err as Error).stack });
    }
  }
}
