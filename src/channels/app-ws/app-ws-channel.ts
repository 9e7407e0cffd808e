/**
 * An app's side of a conversation as a CallerChannel, whatever its wire protocol (the protocol
 * handlers feed it caller audio/text and give it a sink for what goes back).
 *
 * Caller audio (PCM16 16 kHz) is emitted in whole 20 ms frames on the channel's own clock. Agent
 * audio goes to the sink; its marker is acknowledged (`played`) when the client has had time to play
 * it at real-time pace (streaming clients), or at once (clients that receive the reply as a file).
 * A text-only conversation (chat) has `format: undefined` and uses `text` / `sendText` only.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { durationMs, frameBytes, type AudioFormat } from '../../conversation/audio-format';
import type { CallerChannel, CallerChannelEvents } from '../../conversation/channel';

/** Where the channel's output goes (the protocol handler's socket). */
export interface AppWsSink {
  audio(chunk: Buffer): void;
  /** Barge-in: the client should drop agent audio it has not played yet. */
  clear(): void;
  text(text: string, role: 'agent' | 'caller'): void;
  /** Our side ended the conversation. */
  end(reason: string): void;
}

export interface AppWsChannelOptions {
  provider: string;
  format: AudioFormat | undefined;
  sink: AppWsSink;
  /** `realtime`: acknowledge agent audio at playback pace; `immediate`: on delivery. */
  acks: 'realtime' | 'immediate';
}

const FRAME_MS = 20;

export class AppWsChannel extends EventEmitter<CallerChannelEvents> implements CallerChannel {
  readonly provider: string;
  readonly format: AudioFormat | undefined;
  private readonly sink: AppWsSink;
  private readonly acks: 'realtime' | 'immediate';
  private readonly frameSize: number;
  private remainder: Buffer | undefined;
  private callerMs = 0;
  private closed = false;
  /** Markers waiting for their audio to have played, with the time it will have (performance.now()). */
  private readonly pending: { marker: string; dueAt: number }[] = [];
  private playEndAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: AppWsChannelOptions) {
    super();
    this.provider = opts.provider;
    this.format = opts.format;
    this.sink = opts.sink;
    this.acks = opts.acks;
    this.frameSize = opts.format ? frameBytes(opts.format, FRAME_MS) : 0;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Caller audio from the client, any length (a whole number of samples): emitted as 20 ms frames. */
  pushCallerAudio(bytes: Buffer, receivedAt = performance.now()): void {
    if (this.closed || !this.format) return;
    let data = bytes;
    if (this.remainder) {
      data = Buffer.concat([this.remainder, bytes]);
      this.remainder = undefined;
    }
    let offset = 0;
    for (; offset + this.frameSize <= data.length; offset += this.frameSize) {
      const frame = data.subarray(offset, offset + this.frameSize);
      this.emit('audio', { bytes: frame, timestampMs: this.callerMs, receivedAt });
      this.callerMs += FRAME_MS;
    }
    if (offset < data.length) this.remainder = Buffer.from(data.subarray(offset));
  }

  pushCallerText(text: string): void {
    if (!this.closed) this.emit('text', text);
  }

  /** The client went away (socket closed): the conversation ends. */
  callerGone(): void {
    if (this.closed) return;
    this.stop();
    this.emit('end', 'channel-closed');
  }

  sendAudio(chunk: Buffer, marker: string): void {
    if (this.closed) return;
    this.sink.audio(chunk);
    if (this.acks === 'immediate' || !this.format) {
      this.emit('played', marker);
      return;
    }
    const now = performance.now();
    this.playEndAt = Math.max(now, this.playEndAt) + durationMs(this.format, chunk.length);
    this.pending.push({ marker, dueAt: this.playEndAt });
    this.schedule();
  }

  clear(): void {
    if (this.closed) return;
    this.pending.length = 0;
    this.playEndAt = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sink.clear();
  }

  sendText(text: string, role: 'agent' | 'caller'): void {
    if (!this.closed) this.sink.text(text, role);
  }

  end(reason: string): void {
    if (this.closed) return;
    this.stop();
    this.sink.end(reason);
  }

  private stop(): void {
    this.closed = true;
    this.pending.length = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer || this.pending.length === 0) return;
    const delay = Math.max(0, this.pending[0].dueAt - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = performance.now();
      while (this.pending.length && this.pending[0].dueAt <= now + 1) {
        const { marker } = this.pending.shift()!;
        this.emit('played', marker);
        if (this.closed) return;
      }
      this.schedule();
    }, delay);
  }
}
