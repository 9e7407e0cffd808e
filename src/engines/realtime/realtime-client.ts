/**
 * RealtimeClient: one logical Realtime session over a plain `ws` socket that survives drops.
 *
 * - One writer: every outgoing message goes through `write()` to the current socket. A reconnect or
 *   a planned replacement swaps the socket underneath; callers keep calling send()/appendAudio().
 * - On an unexpected close/error the client reconnects with exponential backoff and full jitter.
 *   Each new socket first gets the messages returned by `onOpen` (session.update + conversation
 *   context), then the queued control events, then the buffered caller audio.
 * - Caller audio while disconnected is buffered up to `maxBufferedAudioMs` (oldest dropped beyond
 *   that, counted). Non-audio events are always kept (bounded generously).
 * - Server `error` events are ordinary events; malformed frames are counted and reported as
 *   'protocol-error'. Nothing here throws out of a socket handler.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { Logger } from '../../logging/logger';
import { TEXT_FRAME } from '../../audio/base64-message';
import { readAudioDelta, type AudioDelta } from './audio-delta-bytes';
import { ResponseIdleWatch } from './idle-watch';
import {
  appendAudioBytes,
  appendAudioMessage,
  parseServerEvent,
  type RealtimeClientEvent,
  type ResponseOutputAudioDeltaEvent,
} from './protocol';
import type {
  RealtimeClientEvents,
  RealtimeClientOptions,
  RealtimeClientState,
  RealtimeClientStats,
  RealtimeOpenInfo,
} from './client-options';
import { backoffDelayMs } from './client-options';
import { Outbox } from './outbox';

export * from './client-options';

/** The audio fast path's buffer between messages. */
const NO_AUDIO = Buffer.alloc(0);

interface Connection {
  ws: WebSocket;
  opened: boolean;
  connectTimer?: NodeJS.Timeout;
  /** WebSocket ping/pong keepalive (see keepaliveMs). */
  keepaliveTimer?: NodeJS.Timeout;
  awaitingPong?: boolean;
  /** Set once this connection stopped counting (closed, replaced, failed). */
  done: boolean;
}

const DEFAULT_KEEPALIVE_MS = 10_000;

export class RealtimeClient extends EventEmitter<RealtimeClientEvents> {
  readonly stats: RealtimeClientStats = {
    reconnects: 0,
    reconnectAttempts: 0,
    replacements: 0,
    audioFramesSent: 0,
    audioFramesBuffered: 0,
    audioFramesDropped: 0,
    eventsDropped: 0,
    protocolErrors: 0,
    messagesIn: 0,
    messagesOut: 0,
  };

  private _state: RealtimeClientState = 'idle';
  private current?: Connection;
  private replacement?: { conn: Connection; reason: string };
  private everOpened = false;
  /** Failed attempts in the current reconnect cycle. */
  private attempt = 0;
  private retryTimer?: NodeJS.Timeout;
  /** What waits for the next socket: control events, then caller audio. */
  private readonly outbox: Outbox;
  private readonly log: Logger;
  private readonly connectTimeoutMs: number;
  private readonly random: () => number;
  private readonly endpoint: string;
  private messageAt = 0;
  /** The audio fast path's result, reused message to message. */
  private readonly delta: AudioDelta = { itemId: '', responseId: '', audio: NO_AUDIO };
  /** A server silent during a response is a drop (idle-watch.ts). */
  private readonly idle: ResponseIdleWatch;

  constructor(private readonly opts: RealtimeClientOptions) {
    super();
    const { attempts, baseMs, maxMs } = opts.reconnect;
    if (!Number.isInteger(attempts) || attempts < 0) throw new Error('reconnect.attempts must be an integer >= 0');
    if (!(baseMs >= 0) || !(maxMs >= 0)) throw new Error('reconnect.baseMs and reconnect.maxMs must be >= 0');
    let parsed: URL;
    try {
      parsed = new URL(opts.url);
    } catch {
      throw new Error(`invalid Realtime URL: ${opts.url}`);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
      throw new Error('Realtime URL must be ws:// or wss://');
    if (!opts.model) throw new Error('model is required');
    if (opts.idleTimeoutMs !== undefined && !(opts.idleTimeoutMs > 0)) throw new Error('idleTimeoutMs must be > 0');
    if (opts.keepaliveMs !== undefined && !(opts.keepaliveMs >= 0)) throw new Error('keepaliveMs must be >= 0');
    parsed.searchParams.set('model', opts.model);
    this.endpoint = parsed.toString();
    this.log = opts.logger;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.outbox = new Outbox(
      this.stats,
      opts.maxQueuedEvents ?? 1000,
      opts.maxBufferedAudioMs ?? 2000,
      opts.audioFormat ?? 'pcmu',
    );
    this.random = opts.random ?? Math.random;
    this.idle = new ResponseIdleWatch(opts.idleTimeoutMs, (silentMs) => {
      if (this._state !== 'open' || !this.current) return;
      this.log.warn('realtime server stalled', { silentMs });
      this.connectionLost(this.current, `no server message for ${silentMs} ms during a response`, false);
    });
  }

  get state(): RealtimeClientState {
    return this._state;
  }

  /** The full URL connected to (with ?model=). */
  get url(): string {
    return this.endpoint;
  }

  /** Milliseconds of caller audio currently buffered while disconnected. */
  get bufferedAudioMs(): number {
    return this.outbox.audioMs;
  }

  /** performance.now() when the server message being dispatched was received (before parsing). */
  get messageReceivedAt(): number {
    return this.messageAt;
  }

  connect(): void {
    if (this._state !== 'idle') return;
    this._state = 'connecting';
    this.current = this.openConnection(false);
  }

  /** Sends now when open; otherwise queues (sent after onOpen's messages on the next socket). */
  send(event: RealtimeClientEvent): void {
    if (this._state === 'closed' || this._state === 'failed') return;
    this.idle.sent(event);
    const data = JSON.stringify(event);
    if (this._state === 'open' && this.write(data)) return;
    this.outbox.queueEvent(data);
  }

  /**
   * Sends only if a socket is open right now; returns false otherwise. For events that only make
   * sense in the current server session (response.cancel, conversation.item.truncate).
   */
  sendIfOpen(event: RealtimeClientEvent): boolean {
    if (this._state !== 'open') return false;
    this.idle.sent(event);
    return this.write(JSON.stringify(event));
  }

  /** Hot path: one caller audio frame (base64 in the session's input format). */
  appendAudio(base64: string): void {
    if (this._state === 'open' && this.current && this.writeAppend(this.current, base64)) {
      this.stats.audioFramesSent++;
      return;
    }
    if (this._state === 'closed' || this._state === 'failed' || this._state === 'idle') {
      this.stats.audioFramesDropped++;
      return;
    }
    this.outbox.queueAudio(appendAudioMessage(base64), base64);
  }

  /**
   * Planned replacement (the 60-minute session limit): opens a new socket, runs onOpen on it, then
   * closes the old one. Call it at a turn boundary. If the new socket fails, the old one is kept
   * and 'replace-failed' is emitted.
   */
  replaceSession(reason: string): void {
    if (this._state !== 'open' || this.replacement) return;
    this.log.info('realtime session replacement started', { reason });
    this.replacement = { conn: this.openConnection(true), reason };
  }

  /** Closes for good (no reconnect). Idempotent. */
  close(): void {
    if (this._state === 'closed' || this._state === 'failed') return;
    const wasIdle = this._state === 'idle';
    this._state = 'closed';
    this.teardown();
    if (!wasIdle) this.log.info('realtime client closed', { stats: this.stats });
    this.safeEmit('closed');
  }

  // -------------------------------------------------------------------------------------------

  private openConnection(forReplacement: boolean): Connection {
    const headers: Record<string, string> = {};
    if (this.opts.apiKey) headers.Authorization = `Bearer ${this.opts.apiKey}`;
    const ws = new WebSocket(this.endpoint, { headers, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    const conn: Connection = { ws, opened: false, done: false };
    conn.connectTimer = setTimeout(() => {
      if (conn.done || conn.opened) return;
      this.log.warn('realtime connect timed out', { timeoutMs: this.connectTimeoutMs });
      this.connectionLost(conn, `connect timeout after ${this.connectTimeoutMs} ms`, forReplacement);
    }, this.connectTimeoutMs);

    ws.on('open', () => {
      if (conn.done) return;
      conn.opened = true;
      clearTimeout(conn.connectTimer);
      this.startKeepalive(conn, forReplacement);
      if (forReplacement) this.finishReplacement(conn);
      else this.onConnectionOpen(conn);
    });
    ws.on('message', (data, isBinary) => {
      if (conn.done || !conn.opened) return;
      this.onMessage(conn, data, isBinary);
    });
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      const fatal = status === 401 || status === 403;
      this.connectionLost(conn, `handshake rejected with HTTP ${status}`, forReplacement, fatal);
    });
    ws.on('error', (err) => {
      this.connectionLost(conn, `socket error: ${err.message}`, forReplacement);
    });
    ws.on('close', (code, reason) => {
      const text = reason.toString('utf8').slice(0, 200);
      this.connectionLost(conn, `socket closed (${code}${text ? ` ${text}` : ''})`, forReplacement);
    });
    return conn;
  }

  private onConnectionOpen(conn: Connection): void {
    const reconnect = this.everOpened;
    const attempt = this.attempt;
    this.everOpened = true;
    this.attempt = 0;
    this._state = 'open';
    if (reconnect) this.stats.reconnects++;
    this.idle.reset();
    this.log.info('realtime socket open', { reconnect, attempt });
    this.sendOpeningMessages(conn, { reconnect, attempt, replacement: false });
    this.flushQueues();
    this.safeEmit('open', { reconnect, attempt, replacement: false });
  }

  private finishReplacement(conn: Connection): void {
    const pending = this.replacement;
    const old = this.current;
    this.replacement = undefined;
    if (!pending || this._state === 'closed' || this._state === 'failed') {
      this.discard(conn, 1000, 'not needed');
      return;
    }
    this.current = conn;
    this.everOpened = true;
    this.attempt = 0;
    this._state = 'open';
    this.stats.replacements++;
    this.idle.reset();
    this.sendOpeningMessages(conn, { reconnect: true, attempt: 0, replacement: true });
    this.flushQueues();
    if (old) this.discard(old, 1000, 'session replaced');
    this.log.info('realtime session replaced', { reason: pending.reason });
    this.safeEmit('open', { reconnect: true, attempt: 0, replacement: true });
    this.safeEmit('replaced', { reason: pending.reason });
  }

  private sendOpeningMessages(conn: Connection, info: RealtimeOpenInfo): void {
    let first: RealtimeClientEvent[] = [];
    try {
      first = this.opts.onOpen(info);
    } catch (err) {
      this.log.error('realtime onOpen failed', { error: (err as Error).message });
    }
    for (const event of first) {
      this.idle.sent(event);
      this.writeTo(conn, JSON.stringify(event));
    }
  }

  private flushQueues(): void {
    const conn = this.current;
    if (!conn) return;
    const flushed = this.outbox.drain((data) => this.writeTo(conn, data));
    if (flushed.frames > 0) this.log.info('realtime buffered audio flushed', flushed);
  }

  private onMessage(conn: Connection, data: WebSocket.RawData, isBinary: boolean): void {
    this.messageAt = performance.now();
    this.stats.messagesIn++;
    this.idle.messageReceived();
    if (isBinary) {
      this.protocolError('binary frame from server');
      return;
    }
    // The hot event, agent audio, read from the bytes (audio-delta-bytes.ts); the rest parsed.
    if (readAudioDelta(data, this.delta)) {
      const audio = this.delta.audio;
      // Not kept past the message: it would pin its 8 KB Buffer-pool slab until the next one.
      this.delta.audio = NO_AUDIO;
      if (conn === this.current) this.emitAudio(this.delta.itemId, this.delta.responseId, audio);
      return;
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString('utf8');
    const parsed = parseServerEvent(text);
    if (!parsed.ok) {
      this.protocolError(parsed.reason);
      return;
    }
    const event = parsed.event;
    if (event.type === 'response.output_audio.delta') {
      const delta = event as ResponseOutputAudioDeltaEvent;
      if (conn === this.current) this.emitAudio(delta.item_id, delta.response_id, Buffer.from(delta.delta, 'base64'));
      return;
    }
    this.idle.serverEvent(event.type);
    if (conn !== this.current) return;
    this.safeEmit('event', event);
  }

  private protocolError(reason: string): void {
    this.stats.protocolErrors++;
    if (this.stats.protocolErrors <= 5 || this.stats.protocolErrors % 100 === 0) {
      this.log.warn('realtime protocol error', { reason, count: this.stats.protocolErrors });
    }
    this.safeEmit('protocol-error', { reason });
  }

  /** A socket closed, errored, timed out or was refused. Runs once per connection. */
  private connectionLost(conn: Connection, reason: string, forReplacement: boolean, fatal = false): void {
    if (conn.done) return;
    conn.done = true;
    clearTimeout(conn.connectTimer);
    clearInterval(conn.keepaliveTimer);
    this.killSocket(conn);

    if (forReplacement) {
      if (this.replacement?.conn === conn) {
        this.replacement = undefined;
        this.log.warn('realtime session replacement failed', { reason });
        this.safeEmit('replace-failed', { reason: 'connect failed', error: reason });
        // The old connection may have dropped meanwhile; if so, recover through the normal path.
        if (this._state === 'reconnecting' && !this.retryTimer) this.scheduleRetry(reason);
      }
      return;
    }
    if (conn !== this.current) return;
    if (this._state === 'closed' || this._state === 'failed') return;
    this.idle.stop();
    this.idle.reset();
    if (fatal) {
      this.fail(reason);
      return;
    }
    if (conn.opened) {
      this.log.warn('realtime socket lost', { reason });
      this.attempt = 0;
    }
    this._state = 'reconnecting';
    // A replacement in flight becomes the recovery: wait for it.
    if (this.replacement) return;
    this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: string): void {
    const { attempts, baseMs, maxMs } = this.opts.reconnect;
    if (this.attempt >= attempts) {
      this.fail(reason);
      return;
    }
    this.attempt++;
    const delayMs = backoffDelayMs(this.attempt, baseMs, maxMs, this.random);
    this.log.info('realtime reconnect scheduled', { attempt: this.attempt, delayMs, reason });
    this.safeEmit('reconnecting', { attempt: this.attempt, delayMs, reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this._state !== 'reconnecting') return;
      this.stats.reconnectAttempts++;
      this.current = this.openConnection(false);
    }, delayMs);
  }

  private fail(reason: string): void {
    const attempts = this.attempt;
    this._state = 'failed';
    this.teardown();
    this.log.error('realtime connection failed', { reason, attempts });
    this.safeEmit('failed', { reason, attempts });
  }

  private teardown(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.idle.stop();
    if (this.current) this.discard(this.current, 1000, 'client closed');
    if (this.replacement) this.discard(this.replacement.conn, 1000, 'client closed');
    this.replacement = undefined;
    this.outbox.discard();
  }

  private discard(conn: Connection, code: number, reason: string): void {
    conn.done = true;
    clearTimeout(conn.connectTimer);
    clearInterval(conn.keepaliveTimer);
    try {
      if (conn.ws.readyState === WebSocket.OPEN) conn.ws.close(code, reason);
      else this.killSocket(conn);
    } catch {
      this.killSocket(conn);
    }
  }

  private killSocket(conn: Connection): void {
    try {
      if (conn.ws.readyState !== WebSocket.CLOSED) conn.ws.terminate();
    } catch {
      // terminate() on a socket that never connected can throw in some ws versions; nothing to free.
    }
  }

  private write(data: string): boolean {
    return this.current ? this.writeTo(this.current, data) : false;
  }

  /** The hot path's write: the append as bytes, sent as a text frame (appendAudioBytes). */
  private writeAppend(conn: Connection, base64: string): boolean {
    if (conn.done || conn.ws.readyState !== WebSocket.OPEN) return false;
    conn.ws.send(appendAudioBytes(base64), TEXT_FRAME);
    this.stats.messagesOut++;
    return true;
  }

  private writeTo(conn: Connection, data: string): boolean {
    if (conn.done || conn.ws.readyState !== WebSocket.OPEN) return false;
    conn.ws.send(data);
    this.stats.messagesOut++;
    return true;
  }

  // ---- keepalive ---------------------------------------------------------------------------

  /** Pings the server every keepaliveMs; a ping still unanswered at the next tick drops the connection. */
  private startKeepalive(conn: Connection, forReplacement: boolean): void {
    const everyMs = this.opts.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    if (everyMs <= 0) return;
    conn.ws.on('pong', () => {
      conn.awaitingPong = false;
    });
    conn.keepaliveTimer = setInterval(() => {
      if (conn.done) return;
      if (conn.awaitingPong) {
        this.log.warn('realtime server stopped answering pings', { keepaliveMs: everyMs });
        this.connectionLost(conn, `no pong within ${everyMs} ms`, forReplacement && this.replacement?.conn === conn);
        return;
      }
      conn.awaitingPong = true;
      try {
        conn.ws.ping();
      } catch {
        // The socket is closing; its close event ends the connection.
      }
    }, everyMs);
    conn.keepaliveTimer.unref();
  }

  /** Agent audio, emitted directly (safeEmit's rest arrays cost two allocations a chunk). */
  private emitAudio(itemId: string, responseId: string, audio: Buffer): void {
    try {
      this.emit('audio', itemId, responseId, audio);
    } catch (err) {
      this.log.error('realtime client listener failed', { listenerEvent: 'audio', error: (err as Error).message });
    }
  }

  private safeEmit<K extends keyof RealtimeClientEvents>(name: K, ...args: RealtimeClientEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: RealtimeClientEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      this.log.error('realtime client listener failed', { listenerEvent: name, error: (err as Error).message });
    }
  }
}
