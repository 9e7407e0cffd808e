/**
 * TwilioMediaStream: the adapter for one Twilio Media Streams WebSocket. It only translates:
 * inbound frames become typed events, outbound calls become Twilio messages. No DB, no bus, no AI.
 *
 * Robustness rules (one bad message must never end another call, or even this one):
 * - every inbound frame is size-checked, parsed and validated; failures become 'protocol-error'
 *   events, are counted, and logged rate-limited (never per frame);
 * - listener exceptions are caught and logged, never thrown back into the ws receiver;
 * - outbound media is dropped (and counted) while the socket's buffer is above maxBufferedBytes,
 *   so a slow reader cannot make us buffer without bound.
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
  clearMessage,
  markMessage,
  mediaMessageBytes,
  mediaMessagePrefix,
  parseTwilioMessage,
  type TwilioInboundMessage,
  type TwilioMediaFormat,
} from './protocol';

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
/** ~40 s of 8 kHz mu-law as Twilio media JSON: far above a healthy reader, far below a memory problem. */
export const DEFAULT_MAX_BUFFERED_BYTES = 512 * 1024;
const PROTOCOL_ERROR_LOG_INTERVAL_MS = 5000;
/** Media in Twilio's own layout, read from the frame's bytes (src/channels/media-bytes.ts). */
const TWILIO_MEDIA = new MediaReader({
  sequenceKey: 'sequenceNumber',
  streamKey: 'streamSid',
  maxPayloadBytes: MAX_MEDIA_PAYLOAD_BYTES,
});

export interface TwilioStreamStart {
  streamSid: string;
  callSid: string;
  accountSid: string;
  customParameters: Record<string, string>;
  mediaFormat: TwilioMediaFormat;
  tracks: string[];
}

export interface TwilioMediaStreamEvents {
  start: [start: TwilioStreamStart];
  /**
   * Caller audio, already as the channel's frame: the base64 mu-law exactly as received, its
   * timestamp, and performance.now() when the WebSocket frame was received (before parsing: bridge
   * latency starts there). The channel hands the object on as it is: one object per frame.
   */
  media: [frame: Base64AudioFrame];
  mark: [name: string];
  dtmf: [digit: string];
  stop: [];
  'protocol-error': [error: { reason: string }];
  close: [event: { code: number; reason: string }];
}

export interface TwilioMediaStreamOptions {
  logger: Logger;
  /** Inbound frames larger than this are rejected as protocol errors (the socket stays open). */
  maxMessageBytes?: number;
  /** Outbound media is dropped while ws.bufferedAmount is above this. */
  maxBufferedBytes?: number;
}

export interface TwilioMediaStreamStats {
  messagesIn: number;
  mediaIn: number;
  protocolErrors: number;
  mediaOut: number;
  marksOut: number;
  clears: number;
  droppedOutbound: number;
  listenerErrors: number;
}

type Phase = 'awaiting-start' | 'streaming' | 'stopped' | 'closed';

export class TwilioMediaStream extends EventEmitter<TwilioMediaStreamEvents> {
  readonly stats: TwilioMediaStreamStats = {
    messagesIn: 0,
    mediaIn: 0,
    protocolErrors: 0,
    mediaOut: 0,
    marksOut: 0,
    clears: 0,
    droppedOutbound: 0,
    listenerErrors: 0,
  };

  private readonly ws: WebSocket;
  private logger: Logger;
  private readonly maxMessageBytes: number;
  private readonly maxBufferedBytes: number;
  private phase: Phase = 'awaiting-start';
  private sid: string | undefined;
  private lastProtocolErrorLogAt = -Infinity;
  private suppressedProtocolErrors = 0;
  private droppingSince = 0;
  /** performance.now() at the start of the frame being handled. */
  private frameReceivedAt = 0;
  /** The streamSid's bytes once 'start' has arrived (the media fast path compares them in place). */
  private sidBytes: Buffer | undefined;
  /** The bytes before the payload of each media message we send (once 'start' has arrived). */
  private mediaPrefix: Buffer | undefined;
  /** The media fast path's result, reused frame to frame. */
  private readonly fields: MediaFields = { payload: '', timestampMs: 0, sequenceNumber: 0, outbound: false };

  constructor(ws: WebSocket, options: TwilioMediaStreamOptions) {
    super();
    const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    if (!Number.isFinite(maxMessageBytes) || maxMessageBytes < 1024) {
      throw new RangeError('maxMessageBytes must be at least 1024');
    }
    if (!Number.isFinite(maxBufferedBytes) || maxBufferedBytes < 1) {
      throw new RangeError('maxBufferedBytes must be positive');
    }
    this.ws = ws;
    this.logger = options.logger;
    this.maxMessageBytes = maxMessageBytes;
    this.maxBufferedBytes = maxBufferedBytes;

    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('close', (code, reason) => {
      this.phase = 'closed';
      this.safeEmit('close', { code, reason: reason.toString('utf8') });
    });
    ws.on('error', (err) => {
      // ws closes the socket after an error (e.g. a frame above the server's maxPayload); 'close' follows.
      this.logger.warn('twilio stream socket error', { streamSid: this.sid, error: err.message });
    });
  }

  /** The stream SID once 'start' has arrived. */
  get streamSid(): string | undefined {
    return this.sid;
  }

  /** True while the socket is open and outbound messages can be sent. */
  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Replace the logger, e.g. with a child carrying callId once the call is known. */
  setLogger(logger: Logger): void {
    this.logger = logger;
  }

  /**
   * Sends base64 mu-law (whole 20 ms frames: multiples of 160 bytes). Returns false when the
   * message was dropped: no stream yet, socket not open, or the reader is too slow.
   */
  sendMedia(payloadBase64: string): boolean {
    if (!this.canSend()) {
      this.stats.droppedOutbound++;
      return false;
    }
    if (this.ws.bufferedAmount > this.maxBufferedBytes) {
      this.stats.droppedOutbound++;
      if (this.droppingSince === 0) {
        this.droppingSince = Date.now();
        this.logger.warn('twilio stream reader too slow, dropping outbound media', {
          streamSid: this.sid,
          bufferedBytes: this.ws.bufferedAmount,
        });
      }
      return false;
    }
    if (this.droppingSince !== 0) {
      this.logger.info('twilio stream reader caught up', {
        streamSid: this.sid,
        droppedMs: Date.now() - this.droppingSince,
        droppedOutbound: this.stats.droppedOutbound,
      });
      this.droppingSince = 0;
    }
    this.ws.send(mediaMessageBytes(this.mediaPrefix as Buffer, payloadBase64), TEXT_FRAME);
    this.stats.mediaOut++;
    return true;
  }

  /**
   * Sends a named mark; Twilio echoes it once all audio sent before it has played (or at once on
   * clear). Marks are tiny and always sent while the socket is open, even when media is being
   * dropped, so playback tracking never stalls.
   */
  sendMark(name: string): boolean {
    if (!this.canSend()) return false;
    this.ws.send(markMessage(this.sid as string, name));
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

  /** Barge-in: Twilio drops its queued audio and echoes every pending mark. */
  clear(): boolean {
    if (!this.canSend()) return false;
    this.ws.send(clearMessage(this.sid as string));
    this.stats.clears++;
    return true;
  }

  /** Closes the socket (Twilio then runs the TwiML after <Connect>). Idempotent. */
  close(code = 1000, reason = ''): void {
    if (this.ws.readyState === WebSocket.CLOSING || this.ws.readyState === WebSocket.CLOSED) return;
    // Codes a server may send (RFC 6455 7.4.1: normal, going away, policy violation, too big, internal
    // error) and the application range; anything else becomes a normal closure.
    const validCode = [1000, 1001, 1008, 1009, 1011].includes(code) || (code >= 3000 && code <= 4999) ? code : 1000;
    try {
      // A close reason is limited to 123 bytes.
      this.ws.close(validCode, Buffer.from(reason).subarray(0, 123).toString());
    } catch (err) {
      this.logger.warn('twilio stream close failed', { streamSid: this.sid, error: (err as Error).message });
      this.ws.terminate();
    }
  }

  /** Drops the TCP connection without a closing handshake (for a peer that stopped answering). */
  terminate(): void {
    this.ws.terminate();
  }

  private canSend(): boolean {
    return this.sid !== undefined && this.ws.readyState === WebSocket.OPEN;
  }

  private onFrame(data: WebSocket.RawData, isBinary: boolean): void {
    this.frameReceivedAt = performance.now();
    this.stats.messagesIn++;
    if (isBinary) return this.protocolError('binary frame');
    // The hot path: this stream's media in Twilio's own layout, read from the bytes.
    if (
      this.sidBytes !== undefined &&
      this.phase === 'streaming' &&
      TWILIO_MEDIA.read(data, this.sidBytes, this.maxMessageBytes, this.fields)
    ) {
      this.emitMedia(takePayload(this.fields), this.fields.timestampMs);
      return;
    }
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (size > this.maxMessageBytes) return this.protocolError('message too large');
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Buffer.from(data).toString('utf8');
    const parsed = parseTwilioMessage(text);
    if (!parsed.ok) return this.protocolError(parsed.reason);
    this.dispatch(parsed.message);
  }

  private dispatch(message: TwilioInboundMessage): void {
    if (message.event === 'connected') {
      if (this.phase !== 'awaiting-start') this.protocolError('connected after start');
      return;
    }
    if (message.event === 'start') {
      if (this.phase !== 'awaiting-start') return this.protocolError('duplicate start');
      this.phase = 'streaming';
      this.sid = message.streamSid;
      this.mediaPrefix = mediaMessagePrefix(message.streamSid);
      this.sidBytes = MediaReader.streamId(message.streamSid);
      const { start } = message;
      this.safeEmit('start', {
        streamSid: message.streamSid,
        callSid: start.callSid,
        accountSid: start.accountSid,
        customParameters: start.customParameters,
        mediaFormat: start.mediaFormat,
        tracks: start.tracks,
      });
      return;
    }
    if (this.phase === 'awaiting-start') return this.protocolError(`${message.event} before start`);
    if (this.phase !== 'streaming') return this.protocolError(`${message.event} after stop`);
    if (message.streamSid !== this.sid) return this.protocolError('streamSid mismatch');

    switch (message.event) {
      case 'media':
        this.emitMedia(message.media.payload, message.media.timestamp);
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

  /** The hot path's event: emitted directly (safeEmit's rest arrays cost two allocations a frame). */
  private emitMedia(payload: string, timestampMs: number): void {
    this.stats.mediaIn++;
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
      this.logger.warn('twilio stream protocol error', {
        streamSid: this.sid,
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

  private safeEmit<K extends keyof TwilioMediaStreamEvents>(event: K, ...args: TwilioMediaStreamEvents[K]): void {
    try {
      // The generic EventEmitter signature cannot follow K through the rest tuple.
      (this.emit as (e: K, ...a: TwilioMediaStreamEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.listenerFailed(event, err);
    }
  }

  private listenerFailed(event: keyof TwilioMediaStreamEvents, err: unknown): void {
    this.stats.listenerErrors++;
    this.logger.error('twilio stream listener failed', {
      streamSid: this.sid,
      event,
      error: (err as Error).message,
      stack: (err as Error).stack,
    });
  }
}
