/**
 * What both app protocols do with a socket: read text frames with a message-rate limit, answer every
 * bad message with an `error` (counted), close a client that keeps misbehaving, and write with a
 * bound on what a slow reader may hold (agent audio beyond it is dropped and counted).
 */
import type { WebSocket } from 'ws';
import type { Logger } from '../../logging/logger';
import { ProtocolError } from './protocol';
import type { AppWsCounters } from './types';

/** Messages a client may send per second (audio at 50 frames/s fits many times over). */
export const MAX_MESSAGES_PER_SECOND = 200;
/** Bad messages tolerated on one socket before it is closed (1008). */
export const MAX_BAD_MESSAGES = 20;
/** Bytes a slow reader may leave unread before agent audio to it is dropped. */
export const MAX_BUFFERED_BYTES = 2 * 1024 * 1024;
/** A socket whose client sends nothing for this long is closed (it holds one of the capped slots). */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
/** WebSocket ping interval; a peer that has not answered the previous ping is dropped. */
export const DEFAULT_HEARTBEAT_MS = 30_000;
/** Distinct error codes counted (bounds the counters' memory). */
const MAX_ERROR_CODES = 64;

export interface SocketTiming {
  idleTimeoutMs?: number;
  heartbeatMs?: number;
}

export abstract class SocketSession {
  protected closed = false;
  private badMessages = 0;
  private windowStart = 0;
  private windowCount = 0;
  private lastMessageAt = Date.now();
  private alive = true;
  private readonly idleMs: number;
  private idleTimer?: NodeJS.Timeout;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    protected readonly ws: WebSocket,
    protected readonly log: Logger,
    protected readonly counters: AppWsCounters,
    private readonly errorMessage: (code: string, message: string) => string,
    timing: SocketTiming = {},
  ) {
    this.idleMs = timing.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    ws.on('message', (data, isBinary) => this.onRaw(data as Buffer | Buffer[] | ArrayBuffer, isBinary));
    ws.on('pong', () => (this.alive = true));
    ws.on('close', () => {
      clearInterval(this.heartbeat);
      clearTimeout(this.idleTimer);
      if (this.closed) return;
      this.closed = true;
      this.onClose();
    });
    ws.on('error', (err) => this.log.debug('app websocket error', { error: err.message }));
    this.heartbeat = setInterval(() => {
      if (!this.alive) {
        this.counters.protocolErrors.heartbeat = (this.counters.protocolErrors.heartbeat ?? 0) + 1;
        this.ws.terminate();
        return;
      }
      this.alive = false;
      this.ws.ping();
    }, timing.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.armIdle(this.idleMs);
  }

  /** Re-armed lazily (never per message): on expiry it checks the time of the last message. */
  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => {
      const quietMs = Date.now() - this.lastMessageAt;
      if (quietMs < this.idleMs) return this.armIdle(this.idleMs - quietMs);
      this.fail('idle_timeout', `nothing received for ${Math.round(this.idleMs / 1000)} s`);
      this.close(1000, 'idle');
    }, ms);
  }

  protected abstract onMessage(data: Buffer): void;
  protected abstract onClose(): void;

  /** Sends a message unless the socket is gone; `droppable` messages are skipped for a slow reader. */
  protected send(message: string, droppable = false): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (droppable && this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.counters.droppedAudioChunks++;
      return;
    }
    this.ws.send(message);
  }

  protected fail(code: string, message: string): void {
    const counts = this.counters.protocolErrors;
    if (counts[code] !== undefined || Object.keys(counts).length < MAX_ERROR_CODES)
      counts[code] = (counts[code] ?? 0) + 1;
    this.send(this.errorMessage(code, message));
  }

  protected close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason);
  }

  private onRaw(data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean): void {
    if (this.closed) return;
    const now = Date.now();
    this.lastMessageAt = now;
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (++this.windowCount > MAX_MESSAGES_PER_SECOND) {
      if (this.windowCount === MAX_MESSAGES_PER_SECOND + 1) {
        this.fail('rate_limited', `at most ${MAX_MESSAGES_PER_SECOND} messages per second`);
        this.close(1008, 'message flood');
      }
      return;
    }
    try {
      if (isBinary) throw new ProtocolError('binary_not_supported', 'send JSON text messages, not binary frames');
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      this.onMessage(buf);
    } catch (err) {
      if (!(err instanceof ProtocolError)) {
        this.log.error('app websocket handler failed', { error: (err as Error).message });
        this.fail('internal', 'the server could not handle this message');
        return;
      }
      this.fail(err.code, err.message);
      if (++this.badMessages >= MAX_BAD_MESSAGES) this.close(1008, 'too many bad messages');
    }
  }
}
