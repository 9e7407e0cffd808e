/**
 * The browser's side of a call over a WebRTC peer connection, as a CallerChannel.
 *
 * Caller audio: libwebrtc decodes the browser's Opus and hands 10 ms of PCM to an RTCAudioSink;
 * it is mixed to mono, brought to 48 kHz when the decoder runs at another rate (the first frames
 * before any packet arrives come at 16 kHz), and emitted in 20 ms frames of PCM16/48 kHz, the
 * channel's format. Agent audio: whole chunks in the same format are queued and fed to an
 * RTCAudioSource 10 ms at a time by the shared real-time pacer (silence when the queue is empty, so
 * the browser's jitter buffer sees one steady stream); a chunk's marker is acknowledged (`played`)
 * when its last frame has gone to the track. `clear()` drops the queue and its markers.
 *
 * The browser may open a data channel named `control`: `{"type":"hangup"}` on it ends the call at
 * once, and `sendText` shows transcript lines there. Without it, a closed or failed peer connection
 * ends the call (`channel-closed`). `end()` is our side hanging up: it says `{"type":"ended"}` on the
 * control channel, closes the peer connection and emits nothing.
 */
import { EventEmitter } from 'node:events';
import { PCM16_48K, type AudioFormat } from '../../conversation/audio-format';
import type { CallerChannel, CallerChannelEvents, ChannelEndCause } from '../../conversation/channel';
import { CallerFramer, CHANNEL_RATE_HZ } from './caller-framer';
import { sharedPacer, PACER_FRAME_MS, type AudioPacer, type PacedOutput } from './audio-pacer';
import type {
  MediaStreamTrack,
  RtcAudioData,
  RtcAudioSink,
  RtcAudioSource,
  RtcDataChannel,
  RtcPeerConnection,
} from './wrtc';

const OUT_FRAME_SAMPLES = (CHANNEL_RATE_HZ * PACER_FRAME_MS) / 1000;
const OUT_FRAME_BYTES = OUT_FRAME_SAMPLES * 2;
/** Agent audio queued beyond this is dropped (counted): a response far longer than anyone listens to. */
export const DEFAULT_MAX_QUEUED_MS = 120_000;
/** A peer connection `disconnected` this long (ICE lost and not restored) ends the call. */
export const DEFAULT_DISCONNECTED_GRACE_MS = 5_000;
/** Samples within +-this count as silence (-54 dBFS). */
const SILENCE_LEVEL = 64;
/** How long the peer stays open after our `ended` message so it reaches the page. */
const END_MESSAGE_GRACE_MS = 250;
/** Largest control message read from the data channel. */
const MAX_CONTROL_MESSAGE_CHARS = 1024;

export interface WebRtcChannelStats {
  agentFramesPlayed: number;
  silentFrames: number;
  droppedAgentBytes: number;
  badControlMessages: number;
  /** Silent agent frames dropped to make up for stalls. */
  silenceSkippedFrames: number;
}

export interface WebRtcChannelOptions {
  pacer?: AudioPacer;
  maxQueuedMs?: number;
  disconnectedGraceMs?: number;
  /** Called once when the channel closes, whichever side ended it. */
  onClose?: () => void;
}

interface QueuedChunk {
  bytes: Buffer;
  offset: number;
  marker: string;
}

export class WebRtcChannel extends EventEmitter<CallerChannelEvents> implements CallerChannel, PacedOutput {
  readonly provider = 'webrtc';
  readonly format: AudioFormat = PCM16_48K;
  readonly stats: WebRtcChannelStats = {
    agentFramesPlayed: 0,
    silentFrames: 0,
    droppedAgentBytes: 0,
    badControlMessages: 0,
    silenceSkippedFrames: 0,
  };

  private readonly pacer: AudioPacer;
  private readonly maxQueuedBytes: number;
  private readonly disconnectedGraceMs: number;
  private readonly onClose: (() => void) | undefined;
  private readonly queue: QueuedChunk[] = [];
  private queuedBytes = 0;
  private readonly outSamples = new Int16Array(OUT_FRAME_SAMPLES);
  private readonly outBytes = Buffer.from(this.outSamples.buffer);
  private readonly outData: RtcAudioData;
  private readonly framer = new CallerFramer((bytes, timestampMs) =>
    this.emit('audio', { bytes, timestampMs, receivedAt: performance.now() }),
  );
  /** 10 ms frames of real time lost to stalls while agent audio was queued: made up by skipping silence. */
  private lagFrames = 0;
  /** Markers whose last frame went out in the current pump (reused). */
  private readonly donePlaying: string[] = [];
  private startedAt = 0;
  private sink: RtcAudioSink | undefined;
  /** Tracks to stop at close (a live native track keeps the process from exiting). */
  private readonly tracks: MediaStreamTrack[] = [];
  private control: RtcDataChannel | undefined;
  private disconnectedTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  /** Set by begin(): the call exists, audio flows. */
  private live = false;
  private closed = false;
  /** whenConnected() promises not yet settled. */
  private connectedWaiters: ((connected: boolean) => void)[] = [];

  /** The native objects, dropped once closed (a channel kept in a record holds no peer connection). */
  private pc: RtcPeerConnection | undefined;
  private source: RtcAudioSource | undefined;

  constructor(pc: RtcPeerConnection, source: RtcAudioSource, options: WebRtcChannelOptions = {}) {
    super();
    this.pc = pc;
    this.source = source;
    this.pacer = options.pacer ?? sharedPacer;
    this.maxQueuedBytes = ((options.maxQueuedMs ?? DEFAULT_MAX_QUEUED_MS) * CHANNEL_RATE_HZ * 2) / 1000;
    this.disconnectedGraceMs = options.disconnectedGraceMs ?? DEFAULT_DISCONNECTED_GRACE_MS;
    this.onClose = options.onClose;
    this.outData = {
      samples: this.outSamples,
      sampleRate: CHANNEL_RATE_HZ,
      bitsPerSample: 16,
      channelCount: 1,
      numberOfFrames: OUT_FRAME_SAMPLES,
    };
    pc.onconnectionstatechange = () => this.onConnectionState();
    pc.ondatachannel = (event) => this.attachControl(event.channel);
  }

  /** Caller frames emitted so far (20 ms each). */
  get callerFrames(): number {
    return this.framer.frames;
  }

  /** True while the page's control data channel is open (hang-up and transcript lines travel on it). */
  get controlOpen(): boolean {
    return this.control?.readyState === 'open';
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Milliseconds of agent audio waiting to be played. */
  get queuedMs(): number {
    return this.queuedBytes / ((CHANNEL_RATE_HZ * 2) / 1000);
  }

  /** Resolves true once the peer connection is connected, false if the channel closes first. */
  whenConnected(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.pc?.connectionState === 'connected') return Promise.resolve(true);
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  private settleWaiters(connected: boolean): void {
    const waiters = this.connectedWaiters;
    this.connectedWaiters = [];
    for (const resolve of waiters) resolve(connected);
  }

  /** Ends the call (`channel-closed`) unless the peer connection is connected within `timeoutMs`. */
  expectConnection(timeoutMs: number): void {
    if (this.closed || this.pc?.connectionState === 'connected') return;
    this.connectTimer ??= setTimeout(() => this.remoteEnded('channel-closed'), timeoutMs);
  }

  /** The browser's audio track: read (and agent audio played) once `begin()` says the call is set up. */
  start(sink: RtcAudioSink, tracks: MediaStreamTrack[] = []): void {
    this.tracks.push(...tracks);
    if (this.closed) {
      sink.stop();
      for (const track of tracks) track.stop();
      return;
    }
    this.sink = sink;
    if (this.live) this.flow();
  }

  /**
   * The call is set up (its record, its engine): audio starts flowing both ways. Until then the
   * decoder's frames are not read, so the event-loop stalls of call set-up never reach the agent
   * as a burst of stale caller audio (which an echo would play back as lasting delay).
   */
  begin(): void {
    if (this.closed || this.live) return;
    this.live = true;
    if (this.sink) this.flow();
  }

  private flow(): void {
    this.startedAt = performance.now();
    this.sink!.ondata = (data) => this.onCallerAudio(data);
    this.pacer.add(this);
  }

  sendAudio(chunk: Buffer, marker: string): void {
    if (this.closed) return;
    const bytes = chunk.length & ~1;
    if (this.queuedBytes + bytes > this.maxQueuedBytes) {
      this.stats.droppedAgentBytes += bytes;
      return;
    }
    this.queue.push({ bytes: chunk, offset: 0, marker });
    this.queuedBytes += bytes;
  }

  clear(): void {
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  sendText(text: string, role: 'agent' | 'caller'): void {
    const control = this.control;
    if (control?.readyState !== 'open') return;
    try {
      control.send(JSON.stringify({ type: 'transcript', role, text }));
    } catch {
      // A closing data channel: the transcript also reaches the page over SSE.
    }
  }

  /** Our side hangs up: the page hears of it on the control channel (`{"type":"ended"}`), then the peer closes. */
  end(_reason: string): void {
    let told = false;
    if (this.control?.readyState === 'open') {
      try {
        this.control.send(JSON.stringify({ type: 'ended' }));
        told = true;
      } catch {
        // closing anyway
      }
    }
    // Closing the peer at once would drop the message still in the data channel's buffer.
    this.close(told ? END_MESSAGE_GRACE_MS : 0);
  }

  /** A stall of the event loop: the queued agent audio is now late by `frames` x 10 ms. */
  skipped(frames: number): void {
    if (this.queuedBytes > 0) this.lagFrames = Math.min(this.lagFrames + frames, 1000);
  }

  /** The pacer's 10 ms tick: the next frame of agent audio, or silence. */
  pump(): void {
    if (this.closed) return;
    // Late after a stall: drop silent frames at the head of the queue until the lag is made up, so
    // that a stall never adds lasting delay to a stream that keeps playing (an echo, long answers).
    while (this.lagFrames > 0 && this.queuedBytes >= OUT_FRAME_BYTES && this.headIsSilent()) {
      this.lagFrames--;
      this.stats.silenceSkippedFrames++;
      this.take(null);
    }
    if (this.queuedBytes === 0) this.lagFrames = 0;
    const filled = this.take(this.outBytes);
    if (filled === 0) this.stats.silentFrames++;
    else this.stats.agentFramesPlayed++;
    if (filled < OUT_FRAME_BYTES) this.outBytes.fill(0, filled);
    this.source?.onData(this.outData);
    if (this.donePlaying.length === 0) return;
    for (const marker of this.donePlaying) {
      if (this.closed) break;
      this.emit('played', marker);
    }
    this.donePlaying.length = 0;
  }

  /** Moves the next 10 ms of queued audio into `into` (or drops it); returns the bytes taken. */
  private take(into: Buffer | null): number {
    let filled = 0;
    while (filled < OUT_FRAME_BYTES && this.queue.length > 0) {
      const head = this.queue[0];
      const take = Math.min(OUT_FRAME_BYTES - filled, (head.bytes.length & ~1) - head.offset);
      if (into) head.bytes.copy(into, filled, head.offset, head.offset + take);
      head.offset += take;
      filled += take;
      this.queuedBytes -= take;
      if (head.offset >= (head.bytes.length & ~1)) {
        this.queue.shift();
        this.donePlaying.push(head.marker);
      }
    }
    return filled;
  }

  /** True when the next 10 ms of queued audio is silence (every sample within +-64). */
  private headIsSilent(): boolean {
    let checked = 0;
    for (const chunk of this.queue) {
      for (let i = chunk.offset; i + 1 < (chunk.bytes.length & ~1) && checked < OUT_FRAME_SAMPLES; i += 2, checked++) {
        const v = chunk.bytes.readInt16LE(i);
        if (v > SILENCE_LEVEL || v < -SILENCE_LEVEL) return false;
      }
      if (checked >= OUT_FRAME_SAMPLES) break;
    }
    return true;
  }

  private onCallerAudio(data: RtcAudioData): void {
    if (!this.closed) this.framer.push(data);
  }

  private attachControl(channel: RtcDataChannel): void {
    if (channel.label !== 'control' || this.control) {
      channel.close();
      return;
    }
    this.control = channel;
    // The browser closing its peer connection closes the data channel at once (SCTP), long before
    // ICE notices the peer is gone.
    channel.onclose = () => this.remoteEnded('channel-closed');
    channel.onmessage = (event) => {
      const data = event.data;
      if (typeof data !== 'string' || data.length > MAX_CONTROL_MESSAGE_CHARS) {
        this.stats.badControlMessages++;
        return;
      }
      let message: unknown;
      try {
        message = JSON.parse(data);
      } catch {
        this.stats.badControlMessages++;
        return;
      }
      const type = (message as { type?: unknown } | null)?.type;
      if (type === 'hangup') this.remoteEnded('caller-hangup');
      else if (type === 'dtmf') {
        const digit = (message as { digit?: unknown }).digit;
        if (typeof digit === 'string' && /^[0-9*#A-D]$/.test(digit)) this.emit('dtmf', digit);
        else this.stats.badControlMessages++;
      } else this.stats.badControlMessages++;
    };
  }

  private onConnectionState(): void {
    const state = this.pc?.connectionState;
    if (state === 'failed' || state === 'closed') {
      this.remoteEnded('channel-closed');
    } else if (state === 'disconnected') {
      this.disconnectedTimer ??= setTimeout(() => this.remoteEnded('channel-closed'), this.disconnectedGraceMs);
    } else if (state === 'connected') {
      clearTimeout(this.connectTimer);
      clearTimeout(this.disconnectedTimer);
      this.connectTimer = this.disconnectedTimer = undefined;
      this.settleWaiters(true);
    }
  }

  /** The browser went away or hung up: close everything and tell the core. */
  remoteEnded(cause: ChannelEndCause): void {
    if (this.closed) return;
    this.close();
    this.emit('end', cause);
  }

  /** Milliseconds since caller audio started (0 before). */
  get mediaMs(): number {
    return this.startedAt ? performance.now() - this.startedAt : 0;
  }

  private close(peerCloseDelayMs = 0): void {
    if (this.closed) return;
    this.closed = true;
    this.clear();
    this.pacer.remove(this);
    clearTimeout(this.disconnectedTimer);
    clearTimeout(this.connectTimer);
    this.disconnectedTimer = this.connectTimer = undefined;
    this.settleWaiters(false);
    if (this.sink) {
      this.sink.ondata = null;
      this.sink.stop();
    }
    if (this.pc) {
      this.pc.onconnectionstatechange = null;
      this.pc.ondatachannel = null;
    }
    if (this.control) {
      this.control.onclose = null;
      this.control.onmessage = null;
    }
    this.onClose?.();
    if (peerCloseDelayMs > 0) setTimeout(() => this.closePeer(), peerCloseDelayMs);
    else this.closePeer();
  }

  private closePeer(): void {
    const { pc, control } = this;
    this.pc = this.source = this.sink = this.control = undefined;
    try {
      control?.close();
    } catch {
      // already closed
    }
    for (const track of this.tracks.splice(0)) track.stop();
    pc?.close();
  }
}
