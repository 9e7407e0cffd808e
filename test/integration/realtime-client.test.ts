/**
 * RealtimeClient over real sockets against a plain `ws` server: headers, reconnect with context,
 * backoff, failure, audio buffering, connect timeout, stall detection, planned replacement.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  RealtimeClient,
  type RealtimeClientOptions,
  type RealtimeOpenInfo,
} from '../../src/engines/realtime/realtime-client';
import type { RealtimeClientEvent, RealtimeServerEvent } from '../../src/engines/realtime/protocol';
import { createLogger } from '../../src/logging/logger';

const logger = createLogger({ level: 'error', json: false, silent: !process.env.SWITCHBOARD_TEST_LOGS });

interface Conn {
  ws: WebSocket;
  url: string;
  headers: http.IncomingHttpHeaders;
  messages: Array<{ type: string; [k: string]: unknown }>;
  /** Binary frames received (every client event is JSON text). */
  binaryFrames: number;
}

/** A plain ws server that records each connection's handshake and messages. */
class PlainServer {
  readonly conns: Conn[] = [];
  refuse = 0;
  refuseStatus = 503;
  onConnection?: (conn: Conn) => void;
  private readonly http = http.createServer();
  private readonly wss = new WebSocketServer({ noServer: true });
  private waiters: Array<() => void> = [];
  port = 0;

  async start(): Promise<this> {
    this.http.on('upgrade', (req, socket, head) => {
      if (this.refuse > 0) {
        this.refuse--;
        socket.end(`HTTP/1.1 ${this.refuseStatus} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        this.notify();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const conn: Conn = { ws, url: req.url ?? '', headers: req.headers, messages: [], binaryFrames: 0 };
        this.conns.push(conn);
        ws.on('message', (d, isBinary) => {
          if (isBinary) conn.binaryFrames++;
          conn.messages.push(JSON.parse(d.toString()) as Conn['messages'][number]);
          this.notify();
        });
        ws.on('close', () => this.notify());
        this.onConnection?.(conn);
        this.notify();
      });
    });
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', () => r()));
    this.port = (this.http.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/v1/realtime`;
  }

  notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  until<T>(fn: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('condition not met in time')), timeoutMs);
      const check = (): void => {
        const v = fn();
        if (v) {
          clearTimeout(timer);
          resolve(v);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}

function waitEvent<T>(
  emitter: RealtimeClient,
  name: 'open' | 'failed' | 'closed' | 'protocol-error' | 'replaced',
): Promise<T> {
  return new Promise((resolve) => emitter.once(name, ((arg: T) => resolve(arg)) as never));
}

const SESSION_UPDATE: RealtimeClientEvent = {
  type: 'session.update',
  session: { type: 'realtime', instructions: 'x' },
};

describe('RealtimeClient', () => {
  let server: PlainServer;
  const clients: RealtimeClient[] = [];

  function client(overrides: Partial<RealtimeClientOptions> = {}): RealtimeClient {
    const c = new RealtimeClient({
      url: server.url,
      model: 'gpt-realtime',
      apiKey: 'sk-test',
      logger,
      reconnect: { attempts: 5, baseMs: 20, maxMs: 100 },
      onOpen: () => [SESSION_UPDATE],
      ...overrides,
    });
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    server = await new PlainServer().start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
  });

  it('connects to ?model= with a bearer token and without OpenAI-Beta', async () => {
    const c = client();
    c.connect();
    await waitEvent(c, 'open');
    const conn = await server.until(() => server.conns[0]);
    expect(conn.url).toBe('/v1/realtime?model=gpt-realtime');
    expect(conn.headers.authorization).toBe('Bearer sk-test');
    expect(conn.headers['openai-beta']).toBeUndefined();
    expect(c.state).toBe('open');
  });

  it('keeps an existing query string and sends no Authorization without a key', async () => {
    const c = client({ url: `${server.url}?foo=bar`, apiKey: undefined });
    c.connect();
    await waitEvent(c, 'open');
    expect(server.conns[0].url).toBe('/v1/realtime?foo=bar&model=gpt-realtime');
    expect(server.conns[0].headers.authorization).toBeUndefined();
  });

  it('rejects bad options before any I/O', () => {
    expect(() => client({ url: 'http://x' })).toThrow('ws:// or wss://');
    expect(() => client({ reconnect: { attempts: -1, baseMs: 1, maxMs: 1 } })).toThrow('attempts');
    expect(() => client({ model: '' })).toThrow('model');
  });

  it('sends caller audio on an open socket as text appends, one per frame, in order', async () => {
    const c = client();
    c.connect();
    await waitEvent(c, 'open');
    const frames = [1, 2, 3, 160, 161, 4000].map((n, i) => Buffer.alloc(n, 0xf0 + i).toString('base64'));
    for (const f of frames) c.appendAudio(f);
    const conn = await server.until(() => server.conns[0]?.messages.length === 1 + frames.length && server.conns[0]);
    expect(conn.messages.slice(1)).toEqual(frames.map((audio) => ({ type: 'input_audio_buffer.append', audio })));
    expect(conn.binaryFrames).toBe(0);
    expect(c.stats).toMatchObject({ audioFramesSent: frames.length, audioFramesBuffered: 0 });
  });

  it('reconnects after a drop: onOpen messages first, then queued events, then buffered audio', async () => {
    const opens: RealtimeOpenInfo[] = [];
    // A long first backoff keeps the client disconnected while the test queues things.
    const c = client({
      reconnect: { attempts: 5, baseMs: 300, maxMs: 300 },
      random: () => 0.999,
      onOpen: (info) => {
        opens.push(info);
        return info.reconnect
          ? [
              SESSION_UPDATE,
              {
                type: 'conversation.item.create',
                item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'earlier' }] },
              },
            ]
          : [SESSION_UPDATE];
      },
    });
    const reconnecting: Array<{ attempt: number; delayMs: number; reason: string }> = [];
    c.on('reconnecting', (r) => reconnecting.push(r));
    c.connect();
    await waitEvent(c, 'open');
    await server.until(() => server.conns[0]?.messages.length === 1);

    server.conns[0].ws.terminate();
    await new Promise<void>((r) => c.once('reconnecting', () => r()));
    expect(c.state).toBe('reconnecting');
    c.send({ type: 'response.create' });
    for (let i = 0; i < 10; i++) c.appendAudio(Buffer.alloc(160, i).toString('base64'));
    expect(c.stats.audioFramesBuffered).toBe(10);

    await waitEvent(c, 'open');
    const second = await server.until(() => server.conns[1]?.messages.length === 13 && server.conns[1]);
    expect(second.messages.map((m) => m.type)).toEqual([
      'session.update',
      'conversation.item.create',
      'response.create',
      ...Array(10).fill('input_audio_buffer.append'),
    ]);
    expect(second.messages.slice(3).map((m) => Buffer.from(m.audio as string, 'base64')[0])).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    expect(opens).toEqual([
      { reconnect: false, attempt: 0, replacement: false },
      { reconnect: true, attempt: 1, replacement: false },
    ]);
    expect(reconnecting).toHaveLength(1);
    expect(reconnecting[0].attempt).toBe(1);
    expect(reconnecting[0].reason).toMatch(/1006|ECONNRESET/);
    expect(c.stats).toMatchObject({ reconnects: 1, audioFramesSent: 10, audioFramesDropped: 0 });
  });

  it('bounds buffered caller audio and counts what it drops (oldest first)', async () => {
    const c = client({
      reconnect: { attempts: 5, baseMs: 300, maxMs: 300 },
      random: () => 0.999,
      maxBufferedAudioMs: 1000,
    });
    c.connect();
    await waitEvent(c, 'open');
    server.conns[0].ws.terminate();
    await new Promise<void>((r) => c.once('reconnecting', () => r()));
    // 80 frames of 20 ms = 1.6 s; 1 s fits.
    for (let i = 0; i < 80; i++) c.appendAudio(Buffer.alloc(160, i).toString('base64'));
    expect(c.stats.audioFramesDropped).toBe(30);
    expect(c.bufferedAudioMs).toBe(1000);
    await waitEvent(c, 'open');
    const second = await server.until(() => server.conns[1]?.messages.length === 51 && server.conns[1]);
    const firstByte = second.messages.slice(1).map((m) => Buffer.from(m.audio as string, 'base64')[0]);
    expect(firstByte[0]).toBe(30);
    expect(firstByte[49]).toBe(79);
    expect(c.stats).toMatchObject({ audioFramesBuffered: 80, audioFramesDropped: 30, audioFramesSent: 50 });
  });

  it('backs off exponentially with jitter, never above maxMs, and fails once after the last attempt', async () => {
    server.refuse = 100;
    const c = client({ reconnect: { attempts: 5, baseMs: 40, maxMs: 100 }, random: () => 0.999 });
    const delays: number[] = [];
    c.on('reconnecting', (r) => delays.push(r.delayMs));
    let failures = 0;
    c.on('failed', () => failures++);
    c.connect();
    const failed = await waitEvent<{ reason: string; attempts: number }>(c, 'failed');
    expect(delays).toEqual([39, 79, 99, 99, 99]);
    expect(failed.attempts).toBe(5);
    expect(failed.reason).toContain('HTTP 503');
    expect(c.state).toBe('failed');
    // 1 first try + 5 retries, no more after failing.
    await new Promise((r) => setTimeout(r, 150));
    expect(server.refuse).toBe(100 - 6);
    expect(failures).toBe(1);
    c.appendAudio('AAAA');
    expect(c.stats.audioFramesDropped).toBe(1);
  });

  it('uses full jitter: delays spread between 0 and the ceiling', async () => {
    server.refuse = 100;
    const draws = [0, 0.5, 0.25];
    const c = client({ reconnect: { attempts: 3, baseMs: 100, maxMs: 1000 }, random: () => draws.shift() ?? 0 });
    const delays: number[] = [];
    c.on('reconnecting', (r) => delays.push(r.delayMs));
    c.connect();
    await waitEvent(c, 'failed');
    expect(delays).toEqual([0, 100, 100]);
  });

  it('gives up at once when the handshake is rejected with 401', async () => {
    server.refuse = 10;
    server.refuseStatus = 401;
    const c = client();
    const retries: unknown[] = [];
    c.on('reconnecting', (r) => retries.push(r));
    c.connect();
    const failed = await waitEvent<{ reason: string }>(c, 'failed');
    expect(failed.reason).toContain('HTTP 401');
    expect(retries).toHaveLength(0);
  });

  it('counts a handshake that never completes as a failed attempt (connect timeout)', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as AddressInfo).port;
      const c = client({
        url: `ws://127.0.0.1:${port}/v1/realtime`,
        connectTimeoutMs: 150,
        reconnect: { attempts: 1, baseMs: 10, maxMs: 10 },
      });
      c.connect();
      const failed = await waitEvent<{ reason: string; attempts: number }>(c, 'failed');
      expect(failed.reason).toBe('connect timeout after 150 ms');
      expect(failed.attempts).toBe(1);
      expect(sockets).toHaveLength(2);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('passes server error events through, counts malformed frames, and keeps the socket', async () => {
    server.onConnection = (conn) => {
      conn.ws.send('{not json');
      conn.ws.send(JSON.stringify({ type: 'response.output_audio.delta', delta: 'AAAA' }));
      conn.ws.send(
        JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', code: 'x', message: 'bad' } }),
      );
      conn.ws.send(JSON.stringify({ type: 'response.audio.delta', response_id: 'r', item_id: 'i', delta: 'AAAA' }));
      // Agent audio the byte reader leaves to the parser (a non-ASCII id, URL-safe base64): the same event.
      conn.ws.send(
        JSON.stringify({ type: 'response.output_audio.delta', response_id: 'r', item_id: 'ié', delta: '-_-_' }),
      );
      conn.ws.send(JSON.stringify({ type: 'brand.new.event', value: 1 }));
    };
    const c = client();
    const events: RealtimeServerEvent[] = [];
    const audio: Array<[string, string, string]> = [];
    const problems: string[] = [];
    c.on('event', (e) => events.push(e));
    c.on('audio', (itemId, responseId, bytes) => audio.push([itemId, responseId, bytes.toString('hex')]));
    c.on('protocol-error', (p) => problems.push(p.reason));
    c.connect();
    await server.until(() => server.conns[0]);
    await new Promise<void>((r) => {
      const check = (): void => (events.length === 2 ? r() : void c.once('event', check));
      check();
    });
    expect(events.map((e) => e.type)).toEqual(['error', 'brand.new.event']);
    expect(audio).toEqual([
      ['i', 'r', '000000'],
      ['ié', 'r', 'fbffbf'],
    ]);
    expect(problems).toEqual(['invalid JSON', 'response.output_audio.delta: "response_id" must be a string']);
    expect(c.stats).toMatchObject({ protocolErrors: 2, messagesIn: 6, reconnects: 0 });
    expect(c.state).toBe('open');
  });

  it('survives a listener that throws', async () => {
    server.onConnection = (conn) => conn.ws.send(JSON.stringify({ type: 'session.created', session: {} }));
    const c = client();
    c.on('event', () => {
      throw new Error('listener bug');
    });
    c.connect();
    await waitEvent(c, 'open');
    await server.until(() => c.stats.messagesIn === 1 || undefined);
    expect(c.state).toBe('open');
  });

  it('treats a server that goes silent during a response as a drop (idle timeout)', async () => {
    // First connection: answers response.create with response.created, then nothing.
    server.onConnection = (conn) => {
      conn.ws.on('message', (d) => {
        if (server.conns.indexOf(conn) === 0 && JSON.parse(d.toString()).type === 'response.create') {
          conn.ws.send(JSON.stringify({ type: 'response.created', response: { id: 'r1', status: 'in_progress' } }));
        }
      });
    };
    const c = client({ idleTimeoutMs: 200 });
    const reasons: string[] = [];
    c.on('reconnecting', (r) => reasons.push(r.reason));
    c.connect();
    await waitEvent(c, 'open');
    c.send({ type: 'response.create' });
    const info = await waitEvent<RealtimeOpenInfo>(c, 'open');
    expect(info.reconnect).toBe(true);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/^no server message for \d+ ms during a response$/);
    // No false alarm while idle between responses.
    await new Promise((r) => setTimeout(r, 400));
    expect(c.stats.reconnects).toBe(1);
  });

  it('replaces the session on demand: new socket configured first, then the old one closed', async () => {
    const opens: RealtimeOpenInfo[] = [];
    const c = client({
      onOpen: (info) => {
        opens.push(info);
        return [SESSION_UPDATE];
      },
    });
    c.connect();
    await waitEvent(c, 'open');
    const oldClosed = new Promise<number>((r) => server.conns[0].ws.once('close', (code) => r(code)));
    c.replaceSession('session-age');
    const replaced = await waitEvent<{ reason: string }>(c, 'replaced');
    expect(replaced.reason).toBe('session-age');
    expect(await oldClosed).toBe(1000);
    c.send({ type: 'response.create' });
    await server.until(() => server.conns[1]?.messages.length === 2);
    expect(server.conns[1].messages.map((m) => m.type)).toEqual(['session.update', 'response.create']);
    expect(server.conns[0].messages.map((m) => m.type)).toEqual(['session.update']);
    expect(opens.at(-1)).toEqual({ reconnect: true, attempt: 0, replacement: true });
    expect(c.stats).toMatchObject({ replacements: 1, reconnects: 0 });
  });

  it('keeps the old socket when a replacement cannot connect', async () => {
    const c = client();
    c.connect();
    await waitEvent(c, 'open');
    server.refuse = 1;
    const failed = new Promise<{ error: string }>((r) => c.once('replace-failed', (f) => r(f)));
    c.replaceSession('session-age');
    expect((await failed).error).toContain('HTTP 503');
    c.send({ type: 'response.create' });
    await server.until(() => server.conns[0].messages.length === 2);
    expect(c.state).toBe('open');
  });

  it('close() is final and idempotent: no reconnect, one closed event', async () => {
    const c = client();
    let closedEvents = 0;
    c.on('closed', () => closedEvents++);
    c.connect();
    await waitEvent(c, 'open');
    const serverSawClose = new Promise<number>((r) => server.conns[0].ws.once('close', (code) => r(code)));
    c.close();
    c.close();
    expect(await serverSawClose).toBe(1000);
    expect(c.state).toBe('closed');
    expect(closedEvents).toBe(1);
    c.send({ type: 'response.create' });
    await new Promise((r) => setTimeout(r, 100));
    expect(server.conns).toHaveLength(1);
  });
});
