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
 * The server never throws on client input: bad input gets an `error` event like the real API's
 * ({type:'error', error:{type:'invalid_request_error', code, message}}).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import WebSocket, { WebSocketServer } from 'ws';
import { mulaw } from 'alawmulaw';
import Sentiment from 'sentiment';
import { createLogger, type Logger } from '../logging/logger';
import {
  REALTIME_PATH,
  type AudioFormatName,
  type ConversationItem,
  type RealtimeAudioFormat,
  type RealtimeSessionConfig,
  type RealtimeUsage,
  type ToolDefinition,
  type TurnDetection,
} from '../engines/realtime/protocol';
import { synthesize, type TtsEngine } from './tts';

export interface ReplyContext {
  /** The caller's last transcript ('' for a greeting). */
  callerText: string;
  /** Index of this response in the session (0 = first; a greeting when no caller spoke yet). */
  turn: number;
  /** Index of the connection (0 = first session the server accepted). */
  sessionIndex: number;
  /** Output of the last function call the client returned, if any since the previous response. */
  toolOutput?: string;
}

export interface ToolCallRequest {
  name: string;
  arguments: Record<string, unknown> | string;
  callId?: string;
}

/** Return a request to make this response a function call instead of speech; undefined to speak. */
export type ToolCallHook = (ctx: ReplyContext & { tools: ToolDefinition[] }) => ToolCallRequest | undefined;

export interface LocalRealtimeServerOptions {
  port?: number;
  host?: string;
  logger?: Logger;
  /** What the agent says: by response index (the last entry repeats), or computed. */
  replies?: string[] | ((ctx: ReplyContext) => string);
  /** The transcript reported for each caller utterance, in order (default: a description). */
  callerTranscripts?: string[];
  ttsEngine?: TtsEngine;
  /** Stream output audio at real-time pace (default true); false sends it as fast as possible. */
  realtimePace?: boolean;
  /** How far ahead of real time audio may run (default 1000 ms, like the real API's bursts). */
  leadMs?: number;
  /** Size of each response.output_audio.delta (default 100 ms). */
  chunkMs?: number;
  /** Energy VAD defaults when the session does not set server_vad values. threshold in 0..1. */
  vad?: { threshold: number; silenceMs: number };
  toolCalls?: ToolCallHook;
  /** Delay between response.created and the first output (slow-server tests). */
  responseDelayMs?: number;
  /** When set, handshakes without `Authorization: Bearer <key>` get HTTP 401. */
  requireApiKey?: string;
  /** Close the session with an error after this long (the real API's limit is 60 minutes). */
  maxSessionMs?: number;
  /** Close sockets that send `OpenAI-Beta: realtime=v1` with code 4000, like the real API. Default true. */
  rejectBetaHeader?: boolean;
  /** Serve `stats()` as JSON at GET /stats on the same port (benchmarks read frame counts there). */
  statsEndpoint?: boolean;
  /** Keep per-session details (SessionInfo) of closed sessions. Default true; benchmarks keep only totals. */
  keepClosedSessions?: boolean;
  /** Benchmark taps (npm run bench times tagged frames across a bridge); unset costs nothing. */
  audioTap?: AudioTap;
}

export interface AudioTap {
  /** Each input_audio_buffer.append's decoded audio, with its arrival time (performance.now(), before parsing). */
  input?(audio: Buffer, arrivedAtMs: number): void;
  /**
   * Called just before each response.output_audio.delta is sent, with its audio and its byte offset
   * in the response's audio; returns the audio to send (a copy when changed: the input may be a
   * shared cache).
   */
  output?(audio: Buffer, offset: number): Buffer;
}

/** Totals over every session this server accepted (benchmarks: frames in and out). */
export interface LocalRealtimeStats {
  sessions: number;
  openSessions: number;
  /** input_audio_buffer.append events received (one per caller frame from a bridge). */
  appends: number;
  audioMsIn: number;
  responses: number;
  cancelledResponses: number;
  speechStarted: number;
  /** Output audio sent in response.output_audio.delta events, in bytes of the output format. */
  audioBytesOut: number;
  /** Of audioBytesOut, bytes sent after speech_started interrupted their response (a bridge drops these). */
  audioBytesOutAfterSpeechStarted: number;
}

export interface SpeechTurnInfo {
  itemId: string;
  audioStartMs: number;
  audioEndMs?: number;
  transcript?: string;
}

export interface ResponseInfo {
  id: string;
  itemId: string;
  kind: 'audio' | 'function_call';
  text: string;
  status: 'in_progress' | 'completed' | 'cancelled';
  audioMsTotal: number;
  audioMsSent: number;
  /**
   * audioMsSent when this server reported speech_started while the response was streaming (a
   * barge-in): a bridge drops what follows it, so benchmarks count it apart. Undefined otherwise.
   */
  audioMsSentAtSpeechStarted?: number;
}

export interface TruncateInfo {
  item_id: string;
  content_index: number;
  audio_end_ms: number;
  ok: boolean;
}

export interface SessionInfo {
  readonly index: number;
  readonly id: string;
  readonly model: string | null;
  readonly authorization: string | null;
  readonly openaiBeta: string | null;
  readonly connectedAt: number;
  closedAt: number | null;
  /** Raw `session` objects of the session.update events received. */
  readonly sessionUpdates: Record<string, unknown>[];
  inputFormat: AudioFormatName;
  outputFormat: AudioFormatName;
  instructions: string;
  voice: string;
  turnDetection: TurnDetection | null;
  appends: number;
  audioMsIn: number;
  commits: number;
  clears: number;
  readonly speechTurns: SpeechTurnInfo[];
  /** One entry per response started (client- or VAD-triggered), in order. */
  readonly responses: ResponseInfo[];
  responseCreates: number;
  cancels: number;
  readonly truncates: TruncateInfo[];
  /** Items received with conversation.item.create (context re-created after a reconnect, tool outputs). */
  readonly contextItems: ConversationItem[];
  readonly functionCalls: Array<{ call_id: string; name: string; arguments: string }>;
  readonly errorsSent: Array<{ code: string; message: string }>;
  /** Count of each client event type received. */
  readonly received: Record<string, number>;
}

const DEFAULT_REPLIES_GREETING = 'Hello, thanks for calling Switchboard. How can I help you today?';
const MU_LAW_TABLE: Int16Array = (() => {
  const table = new Int16Array(256);
  for (let i = 0; i < 256; i++) table[i] = mulaw.decodeSample(i);
  return table;
})();
const BYTES_PER_MS: Record<AudioFormatName, number> = { pcmu: 8, pcm16: 48 };
const SAMPLE_RATE: Record<AudioFormatName, number> = { pcmu: 8000, pcm16: 24000 };
const VAD_WINDOW_MS = 10;
const VAD_MIN_SPEECH_MS = 60;
const SEMANTIC_SILENCE_MS: Record<string, number> = { low: 1200, medium: 700, high: 350, auto: 700 };

/** Maps a 0..1 VAD threshold to an RMS level: 0 → -60 dBFS, 0.5 → -35 dBFS, 1 → -10 dBFS. */
export function vadThresholdToRms(threshold: number): number {
  const t = Math.min(1, Math.max(0, threshold));
  return 10 ** ((-60 + 50 * t) / 20);
}

function newId(prefix: string): string {
  return `${prefix}_${randomBytes(9).toString('base64url')}`;
}

function formatOf(name: AudioFormatName): RealtimeAudioFormat {
  return name === 'pcmu' ? { type: 'audio/pcmu' } : { type: 'audio/pcm', rate: 24000 };
}

class ClientInputError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class LocalRealtimeServer {
  readonly url: string;
  private readonly sessionsList: SessionInfo[] = [];
  private readonly live = new Set<LocalSession>();
  private readonly held = new Set<Socket>();
  private readonly changes = new EventEmitter();
  private sessionCount = 0;
  private readonly closedTotals: LocalRealtimeStats = {
    sessions: 0,
    openSessions: 0,
    appends: 0,
    audioMsIn: 0,
    responses: 0,
    cancelledResponses: 0,
    speechStarted: 0,
    audioBytesOut: 0,
    audioBytesOutAfterSpeechStarted: 0,
  };
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

interface ActiveResponse {
  info: ResponseInfo;
  timer?: NodeJS.Timeout;
  finished: boolean;
}

/** One accepted socket: the session state machine. */
class LocalSession {
  private readonly log: Logger;
  private stalled = false;
  private ended = false;
  private eventCounter = 0;
  private transcription: { model: string } | null = null;
  private tools: ToolDefinition[] = [];
  private lastItemId: string | null = null;
  /** Bytes of audio sent per assistant item (truncate checks). */
  private readonly assistantAudioBytes = new Map<string, number>();
  private readonly knownItems = new Set<string>();
  private active?: ActiveResponse;
  private autoResponsePending = false;
  private turn = 0;
  private callerTurns = 0;
  private lastCallerText = '';
  /** Everything the caller said in this session (transcripts and user text items), for out-of-band answers. */
  private readonly callerTexts: string[] = [];
  private pendingToolOutput?: string;
  private maxSessionTimer?: NodeJS.Timeout;
  // VAD
  private inputSamples = 0;
  private uncommittedMs = 0;
  private windowSum = 0;
  private windowCount = 0;
  private speaking = false;
  private voicedRunMs = 0;
  private silenceRunMs = 0;
  private speechItemId = '';
  private speechStartMs = 0;
  // usage
  private conversationAudioMs = 0;
  private conversationTextChars = 0;
  private lastInputTokens = 0;

  constructor(
    private readonly server: LocalRealtimeServer,
    private readonly ws: WebSocket,
    readonly info: SessionInfo,
  ) {
    this.log = server.logger.child({ realtimeSession: info.id });
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
    if (this.active?.timer) clearTimeout(this.active.timer);
    this.log.info('local realtime session stalled', {});
  }

  sendError(code: string, message: string, type = 'invalid_request_error', eventId?: string): void {
    this.info.errorsSent.push({ code, message });
    this.send({ type: 'error', error: { type, code, message, param: null, event_id: eventId ?? null } });
    this.server.notifyChange();
  }

  private end(code: number): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.maxSessionTimer);
    if (this.active?.timer) clearTimeout(this.active.timer);
    if (this.active) this.active.finished = true;
    this.info.closedAt = Date.now();
    this.log.info('local realtime session closed', { code });
    this.server.sessionEnded(this);
  }

  private send(event: Record<string, unknown>): void {
    if (this.stalled || this.ended || this.ws.readyState !== WebSocket.OPEN) return;
    event.event_id = `event_${this.info.index}_${++this.eventCounter}`;
    this.ws.send(JSON.stringify(event));
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
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      event = parsed as Record<string, unknown>;
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
        if (isOutOfBandText(event)) return this.runOutOfBandText(event);
        return this.startResponse('client');
      case 'response.cancel':
        return this.onCancel(event);
      default:
        throw new ClientInputError(
          'invalid_value',
          `Invalid value: '${type.slice(0, 100)}'. Supported values are: 'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', 'conversation.item.truncate', 'conversation.item.delete', 'conversation.item.retrieve', 'response.create', and 'response.cancel'.`,
        );
    }
  }

  private onSessionUpdate(event: Record<string, unknown>): void {
    const s = event.session;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) {
      throw new ClientInputError('missing_required_parameter', "Missing required parameter: 'session'.");
    }
    const session = s as Record<string, unknown>;
    if (session.type !== undefined && session.type !== 'realtime') {
      throw new ClientInputError('invalid_value', "Invalid value: 'session.type'. Supported values are: 'realtime'.");
    }
    const audio = (isObject(session.audio) ? session.audio : {}) as Record<string, unknown>;
    const input = (isObject(audio.input) ? audio.input : {}) as Record<string, unknown>;
    const output = (isObject(audio.output) ? audio.output : {}) as Record<string, unknown>;
    // Validate everything first so a bad update changes nothing.
    const inputFormat = parseFormat(input.format ?? session.input_audio_format, 'audio.input.format');
    const outputFormat = parseFormat(output.format ?? session.output_audio_format, 'audio.output.format');
    const hasTurnDetection = 'turn_detection' in input || 'turn_detection' in session;
    const turnDetection = hasTurnDetection
      ? parseTurnDetection('turn_detection' in input ? input.turn_detection : session.turn_detection)
      : undefined;
    const transcriptionRaw = 'transcription' in input ? input.transcription : session.input_audio_transcription;
    if (session.tools !== undefined && !Array.isArray(session.tools)) {
      throw new ClientInputError('invalid_type', "Invalid type for 'session.tools': expected an array.");
    }
    if (session.instructions !== undefined && typeof session.instructions !== 'string') {
      throw new ClientInputError('invalid_type', "Invalid type for 'session.instructions': expected a string.");
    }

    this.info.sessionUpdates.push(session);
    if (inputFormat && inputFormat !== this.info.inputFormat) {
      // A VAD window half-filled in the old format would never complete in the new one (its size changes).
      this.windowSum = 0;
      this.windowCount = 0;
    }
    if (inputFormat) this.info.inputFormat = inputFormat;
    if (outputFormat) this.info.outputFormat = outputFormat;
    if (turnDetection !== undefined) this.info.turnDetection = turnDetection;
    if (transcriptionRaw !== undefined) {
      this.transcription =
        isObject(transcriptionRaw) && typeof transcriptionRaw.model === 'string'
          ? { model: transcriptionRaw.model }
          : null;
    }
    if (typeof session.instructions === 'string') {
      this.conversationTextChars += session.instructions.length - this.info.instructions.length;
      this.info.instructions = session.instructions;
    }
    const voice = output.voice ?? session.voice;
    if (typeof voice === 'string') this.info.voice = voice;
    if (Array.isArray(session.tools)) this.tools = session.tools as ToolDefinition[];
    this.send({ type: 'session.updated', session: this.sessionObject() });
  }

  private sessionObject(): RealtimeSessionConfig & { id: string; object: string } {
    return {
      id: this.info.id,
      object: 'realtime.session',
      type: 'realtime',
      model: this.info.model ?? 'gpt-realtime',
      output_modalities: ['audio'],
      instructions: this.info.instructions,
      audio: {
        input: {
          format: formatOf(this.info.inputFormat),
          transcription: this.transcription,
          noise_reduction: null,
          turn_detection: this.info.turnDetection,
        },
        output: { format: formatOf(this.info.outputFormat), voice: this.info.voice, speed: 1 },
      },
      tools: this.tools,
      tool_choice: 'auto',
      max_output_tokens: 'inf',
    };
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
    const td = this.info.turnDetection;
    if (td) this.runVad(bytes, format, td);
    else this.inputSamples += format === 'pcmu' ? bytes.length : bytes.length >> 1;
  }

  private runVad(bytes: Buffer, format: AudioFormatName, td: TurnDetection): void {
    const rate = SAMPLE_RATE[format];
    const windowSamples = (rate * VAD_WINDOW_MS) / 1000;
    const thresholdRms = vadThresholdToRms(td.type === 'server_vad' ? (td.threshold ?? 0.5) : 0.5) * 32768;
    const thresholdSquares = thresholdRms * thresholdRms;
    const n = format === 'pcmu' ? bytes.length : bytes.length >> 1;
    for (let i = 0; i < n; i++) {
      const sample = format === 'pcmu' ? MU_LAW_TABLE[bytes[i]] : bytes.readInt16LE(i * 2);
      this.windowSum += sample * sample;
      this.windowCount++;
      this.inputSamples++;
      if (this.windowCount === windowSamples) {
        const voiced = this.windowSum / windowSamples >= thresholdSquares;
        this.windowSum = 0;
        this.windowCount = 0;
        this.onVadWindow(voiced, (this.inputSamples * 1000) / rate, td);
      }
    }
  }

  private onVadWindow(voiced: boolean, windowEndMs: number, td: TurnDetection): void {
    if (!this.speaking) {
      this.voicedRunMs = voiced ? this.voicedRunMs + VAD_WINDOW_MS : 0;
      if (this.voicedRunMs >= VAD_MIN_SPEECH_MS) {
        this.speaking = true;
        this.silenceRunMs = 0;
        this.speechStartMs = Math.round(windowEndMs - this.voicedRunMs);
        this.speechItemId = newId('item');
        this.info.speechTurns.push({ itemId: this.speechItemId, audioStartMs: this.speechStartMs });
        if (this.active && !this.active.finished && this.active.info.audioMsSentAtSpeechStarted === undefined) {
          this.active.info.audioMsSentAtSpeechStarted = this.active.info.audioMsSent;
        }
        this.send({
          type: 'input_audio_buffer.speech_started',
          audio_start_ms: this.speechStartMs,
          item_id: this.speechItemId,
        });
        if (td.interrupt_response === true && this.active && !this.active.finished) {
          this.cancelActive('turn_detected');
        }
        this.server.notifyChange();
      }
      return;
    }
    this.silenceRunMs = voiced ? 0 : this.silenceRunMs + VAD_WINDOW_MS;
    const silenceMs =
      td.type === 'server_vad' ? (td.silence_duration_ms ?? 500) : SEMANTIC_SILENCE_MS[td.eagerness ?? 'auto'];
    if (this.silenceRunMs >= silenceMs) {
      this.speaking = false;
      this.voicedRunMs = 0;
      const endMs = Math.round(windowEndMs);
      const turnInfo = this.info.speechTurns[this.info.speechTurns.length - 1];
      turnInfo.audioEndMs = endMs;
      this.send({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: endMs, item_id: this.speechItemId });
      const spokenMs = Math.max(0, endMs - this.silenceRunMs - this.speechStartMs);
      this.commitUserTurn(this.speechItemId, spokenMs);
      if (td.create_response !== false) this.startResponse('vad');
      this.server.notifyChange();
    }
  }

  private onCommit(): void {
    if (this.uncommittedMs < 100) {
      throw new ClientInputError(
        'input_audio_buffer_commit_empty',
        `Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has ${this.uncommittedMs.toFixed(2)}ms of audio.`,
      );
    }
    const itemId = this.speaking ? this.speechItemId : newId('item');
    this.speaking = false;
    this.voicedRunMs = 0;
    this.commitUserTurn(itemId, this.uncommittedMs);
  }

  private onClear(): void {
    this.info.clears++;
    this.uncommittedMs = 0;
    this.speaking = false;
    this.voicedRunMs = 0;
    this.send({ type: 'input_audio_buffer.cleared' });
  }

  private commitUserTurn(itemId: string, spokenMs: number): void {
    this.info.commits++;
    this.conversationAudioMs += this.uncommittedMs;
    this.uncommittedMs = 0;
    const previous = this.lastItemId;
    this.lastItemId = itemId;
    this.knownItems.add(itemId);
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
    const transcripts = this.server.opts.callerTranscripts;
    const transcript =
      transcripts?.[this.callerTurns] ?? `(caller spoke for ${(Math.round(spokenMs / 100) / 10).toFixed(1)} s)`;
    this.callerTurns++;
    this.lastCallerText = transcript;
    this.callerTexts.push(transcript);
    const turnInfo = this.info.speechTurns.find((t) => t.itemId === itemId);
    if (turnInfo) turnInfo.transcript = transcript;
    if (this.transcription) {
      this.conversationTextChars += transcript.length;
      this.send({
        type: 'conversation.item.input_audio_transcription.delta',
        item_id: itemId,
        content_index: 0,
        delta: transcript,
      });
      this.send({
        type: 'conversation.item.input_audio_transcription.completed',
        item_id: itemId,
        content_index: 0,
        transcript,
        usage: { type: 'duration', seconds: Math.round(spokenMs / 100) / 10 },
      });
    }
  }

  private onItemCreate(event: Record<string, unknown>): void {
    const item = validateItem(event.item);
    if (item.id && this.knownItems.has(item.id)) {
      throw new ClientInputError('item_already_exists', `Item with id '${item.id}' already exists.`);
    }
    const stored = { ...item, id: item.id ?? newId('item'), object: 'realtime.item' as const };
    if (stored.type === 'message') (stored as { status?: string }).status = 'completed';
    this.knownItems.add(stored.id);
    this.info.contextItems.push(stored);
    if (stored.type === 'function_call_output') this.pendingToolOutput = stored.output;
    if (stored.type === 'message') {
      for (const part of stored.content) {
        if ('text' in part) this.conversationTextChars += part.text.length;
      }
    }
    const previous = this.lastItemId;
    this.lastItemId = stored.id;
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
    const sentBytes = this.assistantAudioBytes.get(itemId);
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

  private onCancel(event: Record<string, unknown>): void {
    this.info.cancels++;
    const active = this.active;
    if (!active || active.finished) {
      throw new ClientInputError('response_cancel_not_active', 'Cancellation failed: no active response found');
    }
    if (typeof event.response_id === 'string' && event.response_id !== active.info.id) {
      throw new ClientInputError(
        'response_cancel_not_active',
        `Cancellation failed: response '${event.response_id}' is not active`,
      );
    }
    this.cancelActive('client_cancelled');
  }

  // ---- output --------------------------------------------------------------------------------

  /**
   * An out-of-band text response (`conversation: 'none'`, text only), e.g. a judgement asked at the
   * end of a call. It runs beside the conversation and changes nothing in it. The local server has
   * no language model: asked for sentiment, it answers the JSON a model would, from a word list.
   */
  private runOutOfBandText(event: Record<string, unknown>): void {
    const request = (event.response ?? {}) as { metadata?: Record<string, unknown>; instructions?: string };
    const id = newId('resp');
    const itemId = newId('item');
    const wantsSentiment =
      /sentiment/i.test(request.instructions ?? '') || String(request.metadata?.purpose ?? '').includes('sentiment');
    const text = wantsSentiment
      ? localSentimentJson(this.callerTexts)
      : this.replyText({ callerText: this.lastCallerText, turn: this.turn, sessionIndex: this.info.index });
    const metadata = request.metadata ?? null;
    this.send({
      type: 'response.created',
      response: {
        id,
        object: 'realtime.response',
        status: 'in_progress',
        conversation_id: null,
        metadata,
        output: [],
        usage: null,
      },
    });
    const ref = { response_id: id, item_id: itemId, output_index: 0, content_index: 0 };
    this.send({ type: 'response.output_text.delta', ...ref, delta: text });
    this.send({ type: 'response.output_text.done', ...ref, text });
    const item = {
      id: itemId,
      object: 'realtime.item',
      type: 'message',
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text }],
    };
    const textTokens = Math.ceil(text.length / 4);
    this.send({
      type: 'response.done',
      response: {
        id,
        object: 'realtime.response',
        status: 'completed',
        conversation_id: null,
        metadata,
        output: [item],
        usage: {
          total_tokens: textTokens + 50,
          input_tokens: 50,
          output_tokens: textTokens,
          input_token_details: { audio_tokens: 0, text_tokens: 50, cached_tokens: 0 },
          output_token_details: { audio_tokens: 0, text_tokens: textTokens },
        },
      },
    });
  }

  private startResponse(trigger: 'client' | 'vad'): void {
    if (this.active && !this.active.finished) {
      if (trigger === 'client') {
        throw new ClientInputError(
          'conversation_already_has_active_response',
          `Conversation already has an active response in progress: ${this.active.info.id}. Wait until the response is finished before creating a new one.`,
        );
      }
      this.autoResponsePending = true;
      return;
    }
    const turn = this.turn++;
    const ctx: ReplyContext = {
      callerText: this.callerTurns > 0 ? this.lastCallerText : '',
      turn,
      sessionIndex: this.info.index,
      toolOutput: this.pendingToolOutput,
    };
    this.pendingToolOutput = undefined;
    const toolCall = this.server.opts.toolCalls?.({ ...ctx, tools: this.tools });
    const text = toolCall ? '' : this.replyText(ctx);
    const info: ResponseInfo = {
      id: newId('resp'),
      itemId: newId('item'),
      kind: toolCall ? 'function_call' : 'audio',
      text,
      status: 'in_progress',
      audioMsTotal: 0,
      audioMsSent: 0,
    };
    this.info.responses.push(info);
    const active: ActiveResponse = { info, finished: false };
    this.active = active;
    this.send({
      type: 'response.created',
      response: { id: info.id, object: 'realtime.response', status: 'in_progress', output: [], usage: null },
    });
    const run = (): void => {
      if (active.finished) return;
      if (toolCall) this.runFunctionCall(active, toolCall);
      else this.runSpeech(active);
    };
    const delayMs = this.server.responseDelayMs;
    if (delayMs > 0) active.timer = setTimeout(run, delayMs);
    else run();
  }

  private replyText(ctx: ReplyContext): string {
    const replies = this.server.opts.replies;
    let text: string | undefined;
    if (typeof replies === 'function') {
      try {
        text = replies(ctx);
      } catch (err) {
        this.log.error('local realtime replies hook failed', { error: (err as Error).message });
      }
    } else if (replies && replies.length > 0) {
      text = replies[Math.min(ctx.turn, replies.length - 1)];
    }
    if (text && text.trim()) return text;
    if (ctx.toolOutput !== undefined) return 'Thanks, I have the result. Is there anything else?';
    if (!ctx.callerText) return DEFAULT_REPLIES_GREETING;
    return 'I hear you. Could you tell me a little more about that?';
  }

  private runFunctionCall(active: ActiveResponse, call: ToolCallRequest): void {
    const info = active.info;
    const callId = call.callId ?? newId('call');
    const args = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
    const item = {
      id: info.itemId,
      object: 'realtime.item',
      type: 'function_call',
      status: 'in_progress',
      call_id: callId,
      name: call.name,
      arguments: '',
    };
    const previous = this.lastItemId;
    this.lastItemId = info.itemId;
    this.knownItems.add(info.itemId);
    this.send({ type: 'response.output_item.added', response_id: info.id, output_index: 0, item });
    this.send({ type: 'conversation.item.added', previous_item_id: previous, item });
    const ref = { response_id: info.id, item_id: info.itemId, output_index: 0, call_id: callId };
    this.send({ type: 'response.function_call_arguments.delta', ...ref, delta: args });
    this.send({ type: 'response.function_call_arguments.done', ...ref, name: call.name, arguments: args });
    this.info.functionCalls.push({ call_id: callId, name: call.name, arguments: args });
    const done = { ...item, status: 'completed', arguments: args };
    this.send({ type: 'response.output_item.done', response_id: info.id, output_index: 0, item: done });
    this.send({ type: 'conversation.item.done', previous_item_id: previous, item: done });
    this.finishResponse(active, 'completed', [done], Math.ceil(args.length / 4), 0);
  }

  private runSpeech(active: ActiveResponse): void {
    const info = active.info;
    const format = this.info.outputFormat;
    const item = {
      id: info.itemId,
      object: 'realtime.item',
      type: 'message',
      role: 'assistant',
      status: 'in_progress',
      content: [] as unknown[],
    };
    const previous = this.lastItemId;
    this.lastItemId = info.itemId;
    this.knownItems.add(info.itemId);
    this.assistantAudioBytes.set(info.itemId, 0);
    this.send({ type: 'response.output_item.added', response_id: info.id, output_index: 0, item });
    this.send({ type: 'conversation.item.added', previous_item_id: previous, item });
    const ref = { response_id: info.id, item_id: info.itemId, output_index: 0, content_index: 0 };
    this.send({ type: 'response.content_part.added', ...ref, part: { type: 'audio', transcript: '' } });

    synthesize(info.text, { format: format === 'pcmu' ? 'pcmu' : 'pcm16-24k', engine: this.server.opts.ttsEngine })
      .then((audio) => {
        if (active.finished || this.ended) return;
        this.streamAudio(active, audio, previous, ref);
      })
      .catch((err: unknown) => {
        if (active.finished || this.ended) return;
        this.log.error('local realtime speech synthesis failed', { error: (err as Error).message });
        this.sendError('server_error', 'The server had an error while generating audio.', 'server_error');
        this.finishResponse(active, 'failed', [], 0, 0);
      });
  }

  private streamAudio(
    active: ActiveResponse,
    audio: Buffer,
    previous: string | null,
    ref: { response_id: string; item_id: string; output_index: number; content_index: number },
  ): void {
    const info = active.info;
    const bytesPerMs = BYTES_PER_MS[this.info.outputFormat];
    const opts = this.server.opts;
    const chunkMs = Math.max(10, opts.chunkMs ?? 100);
    const chunkBytes = chunkMs * bytesPerMs;
    const leadMs = opts.leadMs ?? 1000;
    const paced = opts.realtimePace !== false;
    const chunks = Math.max(1, Math.ceil(audio.length / chunkBytes));
    const words = info.text.split(/\s+/).filter(Boolean);
    info.audioMsTotal = audio.length / bytesPerMs;
    let next = 0;
    let wordsSent = 0;
    const startedAt = Date.now();

    const pump = (): void => {
      active.timer = undefined;
      if (active.finished || this.ended || this.stalled) return;
      const elapsed = Date.now() - startedAt;
      while (next < chunks && (!paced || next * chunkMs - leadMs <= elapsed)) {
        let slice = audio.subarray(next * chunkBytes, Math.min(audio.length, (next + 1) * chunkBytes));
        if (opts.audioTap?.output) slice = opts.audioTap.output(slice, next * chunkBytes);
        this.send({ type: 'response.output_audio.delta', ...ref, delta: slice.toString('base64') });
        const sent = (this.assistantAudioBytes.get(info.itemId) ?? 0) + slice.length;
        this.assistantAudioBytes.set(info.itemId, sent);
        info.audioMsSent = sent / bytesPerMs;
        next++;
        const wordsDue = Math.ceil((next / chunks) * words.length);
        if (wordsDue > wordsSent) {
          const delta = (wordsSent > 0 ? ' ' : '') + words.slice(wordsSent, wordsDue).join(' ');
          wordsSent = wordsDue;
          this.send({ type: 'response.output_audio_transcript.delta', ...ref, delta });
        }
      }
      this.server.notifyChange();
      if (next < chunks) {
        active.timer = setTimeout(pump, Math.max(1, next * chunkMs - leadMs - elapsed));
        return;
      }
      const transcript = info.text;
      this.send({ type: 'response.output_audio.done', ...ref });
      this.send({ type: 'response.output_audio_transcript.done', ...ref, transcript });
      this.send({ type: 'response.content_part.done', ...ref, part: { type: 'audio', transcript } });
      const done = {
        id: info.itemId,
        object: 'realtime.item',
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_audio', transcript }],
      };
      this.send({ type: 'response.output_item.done', response_id: info.id, output_index: 0, item: done });
      this.send({ type: 'conversation.item.done', previous_item_id: previous, item: done });
      this.finishResponse(active, 'completed', [done], Math.ceil(transcript.length / 4), info.audioMsSent);
    };
    pump();
  }

  private cancelActive(reason: 'client_cancelled' | 'turn_detected'): void {
    const active = this.active;
    if (!active || active.finished) return;
    if (active.timer) clearTimeout(active.timer);
    const info = active.info;
    const item =
      info.kind === 'audio'
        ? {
            id: info.itemId,
            object: 'realtime.item',
            type: 'message',
            role: 'assistant',
            status: 'incomplete',
            content: [{ type: 'output_audio', transcript: info.text }],
          }
        : undefined;
    if (item) this.send({ type: 'response.output_item.done', response_id: info.id, output_index: 0, item });
    const sentWordsChars = Math.ceil(info.text.length * (info.audioMsTotal ? info.audioMsSent / info.audioMsTotal : 0));
    this.finishResponse(
      active,
      'cancelled',
      item ? [item] : [],
      Math.ceil(sentWordsChars / 4),
      info.audioMsSent,
      reason,
    );
  }

  private finishResponse(
    active: ActiveResponse,
    status: 'completed' | 'cancelled' | 'failed',
    output: unknown[],
    outputTextTokens: number,
    outputAudioMs: number,
    cancelReason?: string,
  ): void {
    active.finished = true;
    if (active.timer) clearTimeout(active.timer);
    const info = active.info;
    info.status = status === 'failed' ? 'cancelled' : status;
    const usage = this.usageFor(outputTextTokens, outputAudioMs);
    this.conversationAudioMs += outputAudioMs;
    this.conversationTextChars += outputTextTokens * 4;
    this.send({
      type: 'response.done',
      response: {
        id: info.id,
        object: 'realtime.response',
        status,
        status_details:
          status === 'cancelled' ? { type: 'cancelled', reason: cancelReason ?? 'client_cancelled' } : null,
        output,
        usage,
      },
    });
    this.send({
      type: 'rate_limits.updated',
      rate_limits: [
        { name: 'requests', limit: 5000, remaining: 4999, reset_seconds: 0.012 },
        { name: 'tokens', limit: 4_000_000, remaining: 4_000_000 - usage.total_tokens, reset_seconds: 0.5 },
      ],
    });
    if (this.active === active) this.active = undefined;
    this.server.notifyChange();
    if (this.autoResponsePending && !this.ended) {
      this.autoResponsePending = false;
      this.startResponse('vad');
    }
  }

  /** Plausible usage: ~10 audio tokens per second, ~4 characters per text token, prefix cache. */
  private usageFor(outputTextTokens: number, outputAudioMs: number): RealtimeUsage {
    const audioTokens = Math.round(this.conversationAudioMs / 100);
    const textTokens = Math.ceil(this.conversationTextChars / 4) + 8;
    const inputTokens = audioTokens + textTokens;
    const cached = Math.min(this.lastInputTokens, inputTokens) - (Math.min(this.lastInputTokens, inputTokens) % 64);
    this.lastInputTokens = inputTokens;
    const outAudio = Math.round(outputAudioMs / 100);
    const outputTokens = outAudio + outputTextTokens;
    return {
      total_tokens: inputTokens + outputTokens,
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      input_token_details: { audio_tokens: audioTokens, text_tokens: textTokens, cached_tokens: cached },
      output_token_details: { audio_tokens: outAudio, text_tokens: outputTextTokens },
    };
  }
}

// ---- validation helpers ------------------------------------------------------------------------

function addSessionTotals(totals: LocalRealtimeStats, info: SessionInfo): void {
  totals.appends += info.appends;
  totals.audioMsIn += info.audioMsIn;
  totals.speechStarted += info.speechTurns.length;
  const bytesPerMs = BYTES_PER_MS[info.outputFormat];
  for (const response of info.responses) {
    totals.responses++;
    if (response.status === 'cancelled') totals.cancelledResponses++;
    totals.audioBytesOut += Math.round(response.audioMsSent * bytesPerMs);
    if (response.audioMsSentAtSpeechStarted !== undefined) {
      totals.audioBytesOutAfterSpeechStarted += Math.round(
        (response.audioMsSent - response.audioMsSentAtSpeechStarted) * bytesPerMs,
      );
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseFormat(raw: unknown, field: string): AudioFormatName | undefined {
  if (raw === undefined || raw === null) return undefined;
  const type = isObject(raw) ? raw.type : raw;
  if (type === 'audio/pcmu' || type === 'g711_ulaw') return 'pcmu';
  if (type === 'audio/pcm' || type === 'pcm16') {
    const rate = isObject(raw) ? raw.rate : undefined;
    if (rate !== undefined && rate !== 24000) {
      throw new ClientInputError('invalid_value', `Invalid value for '${field}.rate': only 24000 is supported.`);
    }
    return 'pcm16';
  }
  throw new ClientInputError(
    'invalid_value',
    `Invalid value for '${field}': ${JSON.stringify(type)?.slice(0, 60)}. Supported here: 'audio/pcmu', 'audio/pcm'.`,
  );
}

function parseTurnDetection(raw: unknown): TurnDetection | null {
  if (raw === null) return null;
  if (!isObject(raw)) throw new ClientInputError('invalid_type', "Invalid type for 'turn_detection'.");
  const bool = (v: unknown, name: string): boolean | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean')
      throw new ClientInputError('invalid_type', `Invalid type for 'turn_detection.${name}'.`);
    return v;
  };
  if (raw.type === 'server_vad') {
    const num = (v: unknown, name: string, min: number, max: number): number | undefined => {
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !(v >= min && v <= max)) {
        throw new ClientInputError('invalid_value', `Invalid value for 'turn_detection.${name}'.`);
      }
      return v;
    };
    return {
      type: 'server_vad',
      threshold: num(raw.threshold, 'threshold', 0, 1) ?? 0.5,
      prefix_padding_ms: num(raw.prefix_padding_ms, 'prefix_padding_ms', 0, 10_000) ?? 300,
      silence_duration_ms: num(raw.silence_duration_ms, 'silence_duration_ms', 10, 10_000) ?? 500,
      create_response: bool(raw.create_response, 'create_response') ?? true,
      interrupt_response: bool(raw.interrupt_response, 'interrupt_response') ?? false,
    };
  }
  if (raw.type === 'semantic_vad') {
    const eagerness = raw.eagerness ?? 'auto';
    if (eagerness !== 'low' && eagerness !== 'medium' && eagerness !== 'high' && eagerness !== 'auto') {
      throw new ClientInputError('invalid_value', "Invalid value for 'turn_detection.eagerness'.");
    }
    return {
      type: 'semantic_vad',
      eagerness,
      create_response: bool(raw.create_response, 'create_response') ?? true,
      interrupt_response: bool(raw.interrupt_response, 'interrupt_response') ?? false,
    };
  }
  throw new ClientInputError(
    'invalid_value',
    "Invalid value for 'turn_detection.type'. Supported values are: 'server_vad' and 'semantic_vad'.",
  );
}

function validateItem(raw: unknown): ConversationItem {
  if (!isObject(raw)) throw new ClientInputError('missing_required_parameter', "Missing required parameter: 'item'.");
  if (raw.id !== undefined && (typeof raw.id !== 'string' || raw.id.length === 0 || raw.id.length > 64)) {
    throw new ClientInputError('invalid_value', "Invalid 'item.id'.");
  }
  const str = (field: string): string => {
    const v = raw[field];
    if (typeof v !== 'string')
      throw new ClientInputError('missing_required_parameter', `Missing required parameter: 'item.${field}'.`);
    return v;
  };
  switch (raw.type) {
    case 'message': {
      const role = raw.role;
      if (role !== 'user' && role !== 'assistant' && role !== 'system') {
        throw new ClientInputError(
          'invalid_value',
          "Invalid value for 'item.role'. Supported values are: 'user', 'assistant', 'system'.",
        );
      }
      if (!Array.isArray(raw.content) || raw.content.length === 0) {
        throw new ClientInputError('missing_required_parameter', "Missing required parameter: 'item.content'.");
      }
      const allowed = role === 'assistant' ? ['output_text', 'output_audio'] : ['input_text', 'input_audio'];
      for (const part of raw.content as unknown[]) {
        if (!isObject(part) || typeof part.type !== 'string' || !allowed.includes(part.type)) {
          throw new ClientInputError(
            'invalid_value',
            `Invalid content part for a ${role} message. Supported types: ${allowed.map((a) => `'${a}'`).join(', ')}.`,
          );
        }
        if ((part.type === 'input_text' || part.type === 'output_text') && typeof part.text !== 'string') {
          throw new ClientInputError(
            'missing_required_parameter',
            "Missing required parameter: 'item.content[].text'.",
          );
        }
      }
      return raw as unknown as ConversationItem;
    }
    case 'function_call_output':
      str('call_id');
      str('output');
      return raw as unknown as ConversationItem;
    case 'function_call':
      str('call_id');
      str('name');
      str('arguments');
      return raw as unknown as ConversationItem;
    default:
      throw new ClientInputError(
        'invalid_value',
        "Invalid value for 'item.type'. Supported values are: 'message', 'function_call', 'function_call_output'.",
      );
  }
}

function isOutOfBandText(event: Record<string, unknown>): boolean {
  const response = event.response as { conversation?: unknown; output_modalities?: unknown } | undefined;
  return (
    response?.conversation === 'none' &&
    Array.isArray(response.output_modalities) &&
    response.output_modalities.length === 1 &&
    response.output_modalities[0] === 'text'
  );
}

const sentimentAnalyzer = new Sentiment();

/** What a model asked "rate the caller's sentiment" answers, from the AFINN word list. */
function localSentimentJson(callerTexts: readonly string[]): string {
  const result = sentimentAnalyzer.analyze(callerTexts.join(' '));
  const scored = result.calculation.length;
  const score = scored === 0 ? 0 : Math.max(-1, Math.min(1, result.score / (scored * 5)));
  const label = score >= 0.1 ? 'positive' : score <= -0.1 ? 'negative' : 'neutral';
  return JSON.stringify({ label, score: Math.round(score * 100) / 100 });
}
