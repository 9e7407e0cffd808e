/**
 * LocalRealtimeServer: a stand-in for the OpenAI Realtime API over a real WebSocket, for tests, demos
 * and running without an API key. It speaks the GA protocol (and accepts the beta session fields),
 * runs an energy VAD over the audio it receives, reports a "transcript" for each caller turn, and
 * answers with spoken audio (espeak-ng when installed) streamed at real-time pace. Cancel and
 * truncate behave like the real API, including its "already shorter than" error.
 *
 * Fault injection for tests: drop, refuse, hold (TCP accepted, handshake never completed), stall,
 * error events, slow answers, a session-length limit. A `toolCalls` hook makes the server ask for a
 * function call (response.function_call_arguments.done), then wait for the client's
 * function_call_output + response.create.
 *
 * This file owns the HTTP server, the handshake and the fault injection; one LocalSession
 * (session.ts) serves each accepted socket.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { WebSocketServer } from 'ws';
import { createLogger, type Logger } from '../../logging/logger';
import { REALTIME_PATH } from '../../engines/realtime/protocol';
import { newId } from './client-input';
import { LocalSession, type SessionServer } from './session';
import { addSessionTotals, emptyStats } from './stats';
import type { LocalRealtimeServerOptions, LocalRealtimeStats, SessionInfo } from './types';

export class LocalRealtimeServer implements SessionServer {
  readonly url: string;
  private readonly sessionsList: SessionInfo[] = [];
  private readonly live = new Set<LocalSession>();
  private readonly held = new Set<Socket>();
  private readonly changes = new EventEmitter();
  private sessionCount = 0;
  private readonly closedTotals: LocalRealtimeStats = emptyStats();
  private refuseCount: number | 'all' = 0;
  private holdCount: number | 'all' = 0;
  private closing?: Promise<void>;
  responseDelayMs: number;

  private constructor(
    private readonly http: http.Server,
    private readonly wss: WebSocketServer,
    readonly port: number,
    readonly host: string,
    readonly opts: LocalRealtimeServerOptions,
    readonly logger: Logger,
  ) {
    this.url = `ws://${host.includes(':') ? `[${host}]` : host}:${port}${REALTIME_PATH}`;
    this.responseDelayMs = opts.responseDelayMs ?? 0;
    this.changes.setMaxListeners(0);
  }

  static async start(opts: LocalRealtimeServerOptions = {}): Promise<LocalRealtimeServer> {
    const host = opts.host ?? '127.0.0.1';
    const logger = opts.logger ?? createLogger({ level: 'error', json: false, silent: true });
    const ref: { instance?: LocalRealtimeServer } = {};
    const server = http.createServer((req, res) => {
      if (opts.statsEndpoint && ref.instance && req.method === 'GET' && req.url === '/stats') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ref.instance.stats()));
        return;
      }
      res.writeHead(426, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'WebSocket upgrade required' } }));
    });
    const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const started = new LocalRealtimeServer(server, wss, port, host, opts, logger);
    ref.instance = started;
    server.on('upgrade', (req, socket: Socket, head) => started.onUpgrade(req, socket, head));
    server.on('clientError', (_err, socket) => socket.destroy());
    logger.info('local realtime server listening', { url: started.url });
    return started;
  }

  /** Totals over every session so far (closed ones included, even when their details are not kept). */
  stats(): LocalRealtimeStats {
    const totals: LocalRealtimeStats = { ...this.closedTotals, openSessions: this.live.size };
    totals.sessions = this.sessionCount;
    for (const session of this.live) addSessionTotals(totals, session.info);
    return totals;
  }

  get sessions(): ReadonlyArray<SessionInfo> {
    return this.sessionsList;
  }

  /** Sockets currently open. */
  get openConnections(): number {
    return this.live.size;
  }

  /** Fault injection: end every open socket abruptly (TCP reset), or with a close code if given. */
  dropAllConnections(code?: number): void {
    for (const s of [...this.live]) s.drop(code);
  }

  /** The next `count` handshakes (or all) get HTTP 503. */
  refuseConnections(count: number | 'all'): void {
    this.refuseCount = count;
  }

  /** The next `count` handshakes (or all) are accepted at TCP level and never answered. */
  holdConnections(count: number | 'all'): void {
    this.holdCount = count;
  }

  /** Undo refuseConnections/holdConnections. */
  acceptConnections(): void {
    this.refuseCount = 0;
    this.holdCount = 0;
  }

  /** Open sockets stop sending anything (responses freeze) but stay open. */
  /**
   * The network path goes dead: the server stops reading its sockets (no events, no pong) without
   * closing them, as a broken NAT or a black-holed route looks to the client.
   */
  blackholeConnections(): void {
    for (const s of this.live) s.blackhole();
  }

  stallConnections(): void {
    for (const s of this.live) s.stall();
  }

  /** Sends an `error` event (server_error) on every open socket; the sockets stay open. */
  sendErrorEvent(message: string, code = 'server_error'): void {
    for (const s of this.live) s.sendError(code, message, 'server_error');
  }

  /** Resolves with the predicate's first truthy result, re-checked on every server-side change. */
  waitFor<T>(predicate: (server: LocalRealtimeServer) => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): boolean => {
        let value: T | undefined | null | false;
        try {
          value = predicate(this);
        } catch (err) {
          cleanup();
          reject(err as Error);
          return true;
        }
        if (value) {
          cleanup();
          resolve(value);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`waitFor timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const poll = setInterval(check, 25);
      const onChange = (): void => {
        check();
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.changes.off('change', onChange);
      };
      if (check()) return;
      this.changes.on('change', onChange);
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const s of [...this.live]) s.drop();
      for (const socket of this.held) socket.destroy();
      this.held.clear();
      await new Promise<void>((resolve) => this.wss.close(() => resolve()));
      await new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.logger.info('local realtime server closed', { url: this.url });
    })();
    return this.closing;
  }

  /** @internal */
  notifyChange(): void {
    this.changes.emit('change');
  }

  /** @internal */
  sessionEnded(session: LocalSession): void {
    if (!this.live.delete(session)) return;
    addSessionTotals(this.closedTotals, session.info);
    if (this.opts.keepClosedSessions === false) {
      const index = this.sessionsList.indexOf(session.info);
      if (index >= 0) this.sessionsList.splice(index, 1);
    }
    this.notifyChange();
  }

  private onUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => undefined);
    if (this.closing) {
      socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== REALTIME_PATH) {
      this.reject(socket, 404, { message: `no Realtime endpoint at ${url.pathname}` });
      return;
    }
    if (this.takeOne('hold')) {
      this.held.add(socket);
      socket.on('close', () => this.held.delete(socket));
      this.logger.info('local realtime handshake held', {});
      return;
    }
    if (this.takeOne('refuse')) {
      this.reject(socket, 503, { message: 'service unavailable (refused by test)' });
      this.logger.info('local realtime handshake refused', {});
      return;
    }
    const authorization = req.headers.authorization ?? null;
    if (this.opts.requireApiKey && authorization !== `Bearer ${this.opts.requireApiKey}`) {
      this.reject(socket, 401, { message: 'Incorrect API key provided', type: 'invalid_request_error' });
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const betaHeader = req.headers['openai-beta'];
      const info = this.newSessionInfo(
        url.searchParams.get('model'),
        authorization,
        Array.isArray(betaHeader) ? betaHeader.join(',') : (betaHeader ?? null),
      );
      const session = new LocalSession(this, ws, info);
      this.live.add(session);
      session.begin();
      this.notifyChange();
    });
  }

  private takeOne(kind: 'hold' | 'refuse'): boolean {
    const current = kind === 'hold' ? this.holdCount : this.refuseCount;
    if (current === 0) return false;
    if (current !== 'all') {
      if (kind === 'hold') this.holdCount = current - 1;
      else this.refuseCount = current - 1;
    }
    return true;
  }

  private reject(socket: Socket, status: number, error: Record<string, string>): void {
    const body = JSON.stringify({ error });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }

  private newSessionInfo(model: string | null, authorization: string | null, openaiBeta: string | null): SessionInfo {
    const vad = this.opts.vad ?? { threshold: 0.5, silenceMs: 500 };
    const info: SessionInfo = {
      index: this.sessionCount++,
      id: newId('sess'),
      model,
      authorization,
      openaiBeta,
      connectedAt: Date.now(),
      closedAt: null,
      sessionUpdates: [],
      inputFormat: 'pcm16',
      outputFormat: 'pcm16',
      instructions: '',
      voice: 'marin',
      turnDetection: {
        type: 'server_vad',
        threshold: vad.threshold,
        prefix_padding_ms: 300,
        silence_duration_ms: vad.silenceMs,
        create_response: true,
        // The real API's default is true; this server leaves barge-in to the client unless asked.
        interrupt_response: false,
      },
      appends: 0,
      audioMsIn: 0,
      commits: 0,
      clears: 0,
      speechTurns: [],
      responses: [],
      responseCreates: 0,
      cancels: 0,
      truncates: [],
      contextItems: [],
      functionCalls: [],
      errorsSent: [],
      received: {},
    };
    this.sessionsList.push(info);
    return info;
  }
}
