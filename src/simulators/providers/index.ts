/**
 * FakeProviders: every provider the cascaded engine talks to, on one local HTTP server with real
 * wire protocols over real sockets, for tests, benchmarks and `npm run simulate`:
 *   POST /v1/chat/completions                        OpenAI-compatible chat (streaming, tools)
 *   POST /v1/audio/speech                            OpenAI-compatible speech (pcm)
 *   POST /v1/text-to-speech/{voice}/stream           ElevenLabs-compatible speech (ulaw_8000)
 *   WS   /v1/listen                                  Deepgram-compatible streaming STT
 *   WS   /v1/realtime?intent=transcription           OpenAI Realtime transcription
 *   POST /conversation/start, /conversation/message  conversation backend
 *   POST /orchestrate                                orchestrator
 * Delays and faults are set per provider (and may be changed between calls); `apiKey` makes every
 * endpoint demand it (401 / refused upgrade without it). Requests are recorded for assertions.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { handleBackend, type BackendFakeOptions, type BackendFakeState } from './backend';
import { handleChat, type ChatFakeOptions, type ChatRequestBody } from './chat';
import { readJson, sendError, type Fault } from './http-util';
import { handleSpeech, type SpeechFakeOptions } from './speech';
import { serveDeepgram, serveOpenAiTranscription, type SttFakeOptions, type SttFakeState } from './streaming-stt';

export interface FakeProvidersOptions {
  host?: string;
  port?: number;
  apiKey?: string;
  chat?: ChatFakeOptions;
  speech?: SpeechFakeOptions;
  stt?: SttFakeOptions;
  backend?: BackendFakeOptions;
}

export interface RecordedRequest {
  path: string;
  body: Record<string, unknown> | undefined;
  at: number;
}

export class FakeProviders {
  readonly baseUrl: string;
  readonly wsBaseUrl: string;
  readonly requests: RecordedRequest[] = [];
  readonly stt: SttFakeState = { utterances: 0, audioBytes: 0, connections: [] };
  readonly backend: BackendFakeState = { conversations: new Map(), orchestrated: [] };
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: http.Server,
    private readonly wss: WebSocketServer,
    readonly options: FakeProvidersOptions,
  ) {
    const { port } = server.address() as AddressInfo;
    const host = options.host ?? '127.0.0.1';
    this.baseUrl = `http://${host}:${port}`;
    this.wsBaseUrl = `ws://${host}:${port}`;
  }

  static async start(options: FakeProvidersOptions = {}): Promise<FakeProviders> {
    const ref: { fake?: FakeProviders } = {};
    const server = http.createServer((req, res) => {
      ref.fake?.onRequest(req, res).catch(() => res.destroy());
    });
    const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const fake = new FakeProviders(server, wss, options);
    ref.fake = fake;
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    server.on('upgrade', (req, socket: Socket, head) => fake.onUpgrade(req, socket, head));
    return fake;
  }

  /** Environment variables that point the pipeline at this fake. */
  env(): Record<string, string> {
    const key = this.options.apiKey ?? 'fake-key';
    return {
      LLM_API_URL: `${this.baseUrl}/v1`,
      LLM_API_KEY: key,
      DEEPGRAM_API_URL: `${this.wsBaseUrl}/v1/listen`,
      DEEPGRAM_API_KEY: key,
      OPENAI_TRANSCRIPTION_URL: `${this.wsBaseUrl}/v1/realtime?intent=transcription`,
      OPENAI_TTS_URL: `${this.baseUrl}/v1/audio/speech`,
      ELEVENLABS_API_URL: this.baseUrl,
      ELEVENLABS_API_KEY: key,
      BACKEND_API_BASE_URL: this.baseUrl,
      BACKEND_API_KEY: key,
      ORCHESTRATOR_URL: `${this.baseUrl}/orchestrate`,
    };
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private authorized(header: string | undefined, scheme: 'Bearer' | 'Token' | 'raw'): boolean {
    const key = this.options.apiKey;
    if (!key) return true;
    return scheme === 'raw' ? header === key : header === `${scheme} ${key}`;
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname;
    if (req.method !== 'POST') return sendError(res, 405, 'method not allowed');
    const eleven = /^\/v1\/text-to-speech\/[^/]+\/stream$/.test(path);
    const authOk = eleven
      ? this.authorized(req.headers['xi-api-key'] as string | undefined, 'raw')
      : this.authorized(req.headers.authorization, 'Bearer');
    const body = await readJson(req);
    this.requests.push({ path, body, at: performance.now() });
    if (!authOk) return sendError(res, 401, 'Incorrect API key provided');
    if (!body) return sendError(res, 400, 'body must be a JSON object (at most 1 MB)');
    if (path === '/v1/chat/completions') {
      const o = this.options.chat ?? {};
      return handleChat(body as ChatRequestBody, res, o, takeFault(o.faults));
    }
    if (path === '/v1/audio/speech') {
      const o = this.options.speech ?? {};
      if (body.response_format !== 'pcm') return sendError(res, 400, 'this fake only makes response_format pcm');
      return handleSpeech(String(body.input ?? ''), 'pcm16-24k', res, o, takeFault(o.faults));
    }
    if (eleven) {
      const o = this.options.speech ?? {};
      if (url.searchParams.get('output_format') !== 'ulaw_8000')
        return sendError(res, 400, 'this fake only makes ulaw_8000');
      return handleSpeech(String(body.text ?? ''), 'pcmu', res, o, takeFault(o.faults));
    }
    if (path === '/conversation/start' || path === '/conversation/message' || path === '/orchestrate') {
      const o = this.options.backend ?? {};
      return handleBackend(path, body, res, o, this.backend, takeFault(o.faults));
    }
    return sendError(res, 404, 'not found');
  }

  private onUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const deepgram = url.pathname === '/v1/listen';
    const transcription = url.pathname === '/v1/realtime' && url.searchParams.get('intent') === 'transcription';
    const refuse = (status: number): void => {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (!deepgram && !transcription) return refuse(404);
    if (!this.authorized(req.headers.authorization, deepgram ? 'Token' : 'Bearer')) return refuse(401);
    if (deepgram) {
      const params = Object.fromEntries(url.searchParams);
      if (params.encoding !== 'mulaw' || params.sample_rate !== '8000') return refuse(400);
      this.stt.connections.push(params);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const o = this.options.stt ?? {};
      if (deepgram) serveDeepgram(ws, o, this.stt);
      else serveOpenAiTranscription(ws, o, this.stt);
    });
  }
}

function takeFault(faults: Fault[] | undefined): Fault | undefined {
  return faults?.length ? faults.shift() : undefined;
}
