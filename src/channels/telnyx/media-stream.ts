/**
 * TelnyxMediaStream: the adapter for one Telnyx media streaming WebSocket. It only translates:
 * inbound frames become typed events, outbound calls become Telnyx frames. No DB, no bus, no AI.
 *
 * Robustness (one bad frame never ends a call): every frame is size-checked, parsed and validated;
 * failures become counted 'protocol-error' events, logged rate-limited; listener exceptions are
 * caught; outbound media is dropped (and counted) while the socket's buffer is above
 * maxBufferedBytes, so a slow reader cannot make us buffer without bound.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { Logger } from '../../logging/logger';
import { Base64AudioFrame } from '../../conversation/channel';
import { TEXT_FRAME } from '../../audio/base64-message';
import { corked } from '../ws-cork';
import { MediaReader, takePayload, type MediaFields } from '../media-bytes';
import {
  MAX_MEDIA_PAYLOAD_BYTES,
  parseTelnyxMessage,
  telnyxClearMessage,
  telnyxMarkMessage,
  telnyxMediaMessage,
  type TelnyxInboundMessage,
  type TelnyxStartMessage,
} from './protocol';

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
/** ~40 s of 8 kHz G.711 as media JSON: far above a healthy reader, far below a memory problem. */
export const DEFAULT_MAX_BUFFERED_BYTES = 512 * 1024;
const PROTOCOL_ERROR_LOG_INTERVAL_MS = 5000;
/** Media in Telnyx's documented layout, read from the frame's bytes (src/channels/media-bytes.ts). */
const TELNYX_MEDIA = new MediaReader({
  sequenceKey: 'sequence_number',
  streamKey: 'stream_id',
  maxPayloadBytes: MAX_MEDIA_PAYLOAD_BYTES,
});

export interface TelnyxMediaStreamEvents {
  start: [start: TelnyxStartMessage];
  /**
   * Caller audio, already as the channel's frame: the base64 exactly as received, its timestamp,
   * and performance.now() when the frame was received (before parsing). One object per frame.
   */
  media: [frame: Base64AudioFrame];
  mark: [name: string];
  dtmf: [digit: string];
  /** Telnyx reported an error on the stream (e.g. 100003 malformed_frame); the stream goes on. */
  'stream-error': [error: { code: number; title: string }];
  stop: [];
  'protocol-error': [error: { reason: string }];
  close: [event: { code: number; reason: string }];
}

export interface TelnyxMediaStreamOptions {
  logger: Logger;
  maxMessageBytes?: number;
  maxBufferedBytes?: number;
}

export interface TelnyxMediaStreamStats {
  messagesIn: number;
  mediaIn: number;
  protocolErrors: number;
  streamErrors: number;
  mediaOut: number;
  marksOut: number;
  clears: number;
  droppedOutbound: number;
  listenerErrors: number;
  /** Media of the outbound track (our own audio, when a stream carries both tracks): not caller audio. */
  outboundTrackIgnored: number;
}

type Phase = 'awaiting-start' | 'streaming' | 'stopped' | 'closed';

export class TelnyxMediaStream extends EventEmitter<TelnyxMediaStreamEvents> {
  readonly stats: TelnyxMediaStreamStats = {
    messagesIn: 0,
    mediaIn: 0,
    protocolErrors: 0,
    streamErrors: 0,
    mediaOut: 0,
    marksOut: 0,
    clears: 0,
    droppedOutbound: 0,
    listenerErrors: 0,
    outboundTrackIgnored: 0,
  };

  private logger: Logger;
  private readonly maxMessageBytes: number;
  private readonly maxBufferedBytes: number;
  private phase: Phase = 'awaiting-start';
  private id: string | undefined;
  private lastProtocolErrorLogAt = -Infinity;
  private suppressedProtocolErrors = 0;
  private dropping = false;
  private frameReceivedAt = 0;
  /** The stream_id's bytes once 'start' has arrived (the media fast path compares them in place). */
  private idBytes: Buffer | undefined;
  /** The media fast path's result, reused frame to frame. */
  private readonly fields: MediaFields = { payload: '', timestampMs: 0, sequenceNumber: 0, outbound: false };

  constructor(
    private readonly ws: WebSocket,
    options: TelnyxMediaStreamOptions,
  ) {
    super();
    this.logger = options.logger;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    if (!(this.maxMessageBytes >= 1024)) throw new RangeError('maxMessageBytes must be at least 1024');
    if (!(this.maxBufferedBytes >= 1)) throw new RangeError('maxBufferedBytes must be positive');
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('close', (code, reason) => {
      this.phase = 'closed';
      this.safeEmit('close', { code, reason: reason.toString('utf8') });
    });
    ws.on('error', (err) => this.logger.warn('telnyx stream socket error', { streamId: this.id, error: err.message }));
  }

  /** The stream_id once `start` has arrived. */
  get streamId(): string | undefined {
    return this.id;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  setLogger(logger: Logger): void {
    this.logger = logger;
  }

  /** Sends base64 audio in the stream's codec; false when dropped (not started, closed, or the reader is too slow). */
  sendMedia(payloadBase64: string): boolean {
    if (!this.canSend() || this.ws.bufferedAmount > this.maxBufferedBytes) {
      this.stats.droppedOutbound++;
      if (!this.dropping && this.canSend()) {
        this.dropping = true;
        this.logger.warn('telnyx stream reader too slow, dropping outbound media', {
          streamId: this.id,
          bufferedBytes: this.ws.bufferedAmount,
        });
      }
      return false;
    }
    this.dropping = false;
    this.ws.send(telnyxMediaMessage(payloadBase64), TEXT_FRAME);
    this.stats.mediaOut++;
    return true;
  }

  /** Marks are tiny and always sent while open (even while media is dropped), so playback tracking never stalls. */
  sendMark(name: string): boolean {
    if (!this.canSend()) return false;
    this.ws.send(telnyxMarkMessage(name));
    this.stats.marksOut++;
    return true;
  }

  /**
   * Agent audio and the mark that follows it, written to the socket together (one system call, not
   * two). The media may be dropped as by sendMedia; returns whether the mark went out (sendMark).
   */
  sendMediaAndMark(payloadBase64: string, name: string): boolean {
    return corked(this.ws, () => {
      this.sendMedia(payloadBase64);
      return this.sendMark(name);
    });
  }

  clear(): boolean {
    if (!this.canSend()) return false;
    this.ws.send(telnyxClearMessage());
    this.stats.clears++;
    return true;
  }

  /** Closes the socket (Telnyx then runs the TeXML after <Connect>). Idempotent. */
  close(code = 1000, reason = ''): void {
    if (this.ws.readyState === WebSocket.CLOSING || this.ws.readyState === WebSocket.CLOSED) return;
    const valid = [1000, 1001, 1008, 1009, 1011].includes(code) || (code >= 3000 && code <= 4999) ? code : 1000;
    try {
      this.ws.close(valid, Buffer.from(reason).subarray(0, 123).toString());
    } catch {
      this.ws.terminate();
    }
  }

  private canSend(): boolean {
    return this.id !== undefined && this.ws.readyState === WebSocket.OPEN;
  }

  private onFrame(data: WebSocket.RawData, isBinary: boolean): void {
    this.frameReceivedAt = performance.now();
    this.stats.messagesIn++;
    if (isBinary) return this.protocolError('binary frame');
    // The hot path: this stream's media in the documented layout, read from the bytes.
    if (
      this.idBytes !== undefined &&
      this.phase === 'streaming' &&
      TELNYX_MEDIA.read(data, this.idBytes, this.maxMessageBytes, this.fields)
    ) {
      this.onMedia(takePayload(this.fields), this.fields.timestampMs, this.fields.outbound);
      return;
    }
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (size > this.maxMessageBytes) return this.protocolError('message too large');
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Buffer.from(data).toString('utf8');
    const parsed = parseTelnyxMessage(text);
    if (!parsed.ok) return this.protocolError(parsed.reason);
    this.dispatch(parsed.message);
  }

  private dispatch(message: TelnyxInboundMessage): void {
    if (message.event === 'connected') {
      if (this.phase !== 'awaiting-start') this.protocolError('connected after start');
      return;
    }
    if (message.event === 'start') {
      if (this.phase !== 'awaiting-start') return this.protocolError('duplicate start');
      this.phase = 'streaming';
      this.id = message.stream_id;
      this.idBytes = MediaReader.streamId(message.stream_id);
      this.safeEmit('start', message);
      return;
    }
    if (this.phase === 'awaiting-start') return this.protocolError(`${message.event} before start`);
    if (message.stream_id !== this.id) return this.protocolError('stream_id mismatch');
    if (message.event === 'error') {
      this.stats.streamErrors++;
      this.logger.warn('telnyx reported a stream error', {
        streamId: this.id,
        code: message.payload.code,
        title: message.payload.title,
      });
      this.safeEmit('stream-error', { code: message.payload.code, title: message.payload.title });
      return;
    }
    if (this.phase !== 'streaming') return this.protocolError(`${message.event} after stop`);
    switch (message.event) {
      case 'media':
        this.onMedia(message.media.payload, message.media.timestamp, message.media.track === 'outbound');
        return;
      case 'mark':
        this.safeEmit('mark', message.mark.name);
        return;
      case 'dtmf':
        this.safeEmit('dtmf', message.dtmf.digit);
        return;
      case 'stop':
        this.phase = 'stopped';
        this.safeEmit('stop');
        return;
    }
  }

  private onMedia(payload: string, timestampMs: number, outbound: boolean): void {
    // Our TeXML asks for the inbound track only; a stream with both tracks also sends ours back.
    if (outbound) {
      this.stats.outboundTrackIgnored++;
      return;
    }
    this.stats.mediaIn++;
    // Emitted directly: safeEmit's rest arrays would cost two allocations a frame.
    const frame = new Base64AudioFrame(payload, timestampMs, this.frameReceivedAt);
    try {
      this.emit('media', frame);
    } catch (err) {
      this.listenerFailed('media', err);
    }
  }

  private protocolError(reason: string): void {
    this.stats.protocolErrors++;
    const now = Date.now();
    if (now - this.lastProtocolErrorLogAt >= PROTOCOL_ERROR_LOG_INTERVAL_MS) {
      this.logger.warn('telnyx stream protocol error', {
        streamId: this.id,
        reason,
        protocolErrors: this.stats.protocolErrors,
        suppressed: this.suppressedProtocolErrors,
      });
      this.lastProtocolErrorLogAt = now;
      this.suppressedProtocolErrors = 0;
    } else {
      this.suppressedProtocolErrors++;
    }
    this.safeEmit('protocol-error', { reason });
  }

  private safeEmit<K extends keyof TelnyxMediaStreamEvents>(event: K, ...args: TelnyxMediaStreamEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: TelnyxMediaStreamEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.listenerFailed(event, err);
    }
  }

  private listenerFailed(event: keyof TelnyxMediaStreamEvents, err: unknown): void {
    this.stats.listenerErrors++;
    this.logger.error('telnyx stream listener failed', { streamId: this.id, event, error: (err as Error).message });
  }
}
