import { performance } from 'node:perf_hooks';
import http from 'node:http';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import winston from 'winston';
import WebSocket, { WebSocketServer } from 'ws';
import { TwilioMediaStream, type TwilioStreamStart } from '../../src/channels/twilio/media-stream';
import type { MediaFields } from '../../src/channels/media-bytes';
import type { Base64AudioFrame } from '../../src/conversation/channel';

const SID = 'MZ00000000000000000000000000000001';
const FRAME_B64 = Buffer.alloc(160, 0x55).toString('base64');

/** Collects log lines through winston's Stream transport. */
class LogCapture {
  readonly lines: Array<{ level: string; message: string }> = [];
  readonly transport = new winston.transports.Stream({
    stream: new Writable({
      objectMode: true,
      write: (info: { level: string; message: string }, _encoding, done) => {
        this.lines.push({ level: info.level, message: info.message });
        done();
      },
    }),
  });
}

function startMessage(customParameters: Record<string, string> = { callId: 'c1' }): string {
  return JSON.stringify({
    event: 'start',
    sequenceNumber: '1',
    streamSid: SID,
    start: {
      accountSid: 'AC1',
      streamSid: SID,
      callSid: 'CA1',
      tracks: ['inbound'],
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      customParameters,
    },
  });
}

function mediaJson(n: number, payload = FRAME_B64): string {
  return `{"event":"media","sequenceNumber":"${n + 1}","streamSid":"${SID}","media":{"track":"inbound","chunk":"${n}","timestamp":"${n * 20}","payload":"${payload}"}}`;
}

/** A media message in Twilio's own key order (the byte-level fast path, src/channels/twilio/media-bytes.ts). */
function twilioLayoutMedia(n: number, sid = SID, payload = FRAME_B64): string {
  return `{"event":"media","sequenceNumber":"${n + 1}","media":{"track":"inbound","chunk":"${n}","timestamp":"${n * 20}","payload":"${payload}"},"streamSid":"${sid}"}`;
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Pair {
  stream: TwilioMediaStream;
  serverSocket: WebSocket;
  client: WebSocket;
  fromServer: string[];
}

describe('TwilioMediaStream over a real WebSocket', () => {
  let server: http.Server;
  let wss: WebSocketServer;
  let port: number;
  let capture: LogCapture;
  let logger: winston.Logger;
  let streamOptions: { maxMessageBytes?: number; maxBufferedBytes?: number } = {};
  const pending: Array<(s: { stream: TwilioMediaStream; serverSocket: WebSocket }) => void> = [];
  const clients: WebSocket[] = [];

  beforeAll(async () => {
    server = http.createServer();
    wss = new WebSocketServer({ server, path: '/streams', maxPayload: 1024 * 1024 });
    wss.on('connection', (ws) => {
      const stream = new TwilioMediaStream(ws, { logger, ...streamOptions });
      pending.shift()?.({ stream, serverSocket: ws });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  beforeEach(() => {
    capture = new LogCapture();
    logger = winston.createLogger({ level: 'debug', transports: [capture.transport] });
    streamOptions = {};
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function connect(): Promise<Pair> {
    const serverSide = new Promise<{ stream: TwilioMediaStream; serverSocket: WebSocket }>((resolve) =>
      pending.push(resolve),
    );
    const client = new WebSocket(`ws://127.0.0.1:${port}/streams`);
    clients.push(client);
    const fromServer: string[] = [];
    client.on('message', (data) => fromServer.push(data.toString()));
    await new Promise<void>((resolve, reject) => {
      client.once('open', resolve);
      client.once('error', reject);
    });
    return { ...(await serverSide), client, fromServer };
  }

  it('turns connected, start, media, mark, dtmf and stop into typed events', async () => {
    const { stream, client } = await connect();
    const starts: TwilioStreamStart[] = [];
    const media: Base64AudioFrame[] = [];
    const marks: string[] = [];
    const digits: string[] = [];
    let stops = 0;
    stream.on('start', (s) => starts.push(s));
    stream.on('media', (m) => media.push(m));
    stream.on('mark', (name) => marks.push(name));
    stream.on('dtmf', (d) => digits.push(d));
    stream.on('stop', () => stops++);

    client.send('{"event":"connected","protocol":"Call","version":"1.0.0"}');
    client.send(startMessage({ callId: 'c1', from: '+15550001111' }));
    client.send(mediaJson(1));
    client.send(mediaJson(2));
    client.send(`{"event":"mark","sequenceNumber":"4","streamSid":"${SID}","mark":{"name":"a:1"}}`);
    client.send(
      `{"event":"dtmf","sequenceNumber":"5","streamSid":"${SID}","dtmf":{"track":"inbound_track","digit":"7"}}`,
    );
    client.send(
      `{"event":"stop","sequenceNumber":"6","streamSid":"${SID}","stop":{"accountSid":"AC1","callSid":"CA1"}}`,
    );
    await waitFor(() => stops === 1, 'stop');

    expect(starts).toEqual([
      {
        streamSid: SID,
        callSid: 'CA1',
        accountSid: 'AC1',
        customParameters: { callId: 'c1', from: '+15550001111' },
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        tracks: ['inbound'],
      },
    ]);
    expect(stream.streamSid).toBe(SID);
    expect(media).toEqual([
      { base64: FRAME_B64, timestampMs: 20, receivedAt: expect.any(Number) },
      { base64: FRAME_B64, timestampMs: 40, receivedAt: expect.any(Number) },
    ]);
    // The receive time (bridge latency starts there) is performance.now() of each frame, in order.
    expect(media[1].receivedAt).toBeGreaterThanOrEqual(media[0].receivedAt);
    expect(media[1].receivedAt).toBeLessThanOrEqual(performance.now());
    expect(marks).toEqual(['a:1']);
    expect(digits).toEqual(['7']);
    expect(stream.stats).toMatchObject({ messagesIn: 7, mediaIn: 2, protocolErrors: 0 });
  });

  it('treats messages before start, a second start, media after stop and a foreign streamSid as protocol errors', async () => {
    const { stream, client } = await connect();
    const reasons: string[] = [];
    const media: Base64AudioFrame[] = [];
    stream.on('protocol-error', (e) => reasons.push(e.reason));
    stream.on('media', (m) => media.push(m));

    client.send(mediaJson(1));
    client.send(startMessage());
    client.send(startMessage());
    client.send(mediaJson(2).replace(SID, 'MZ99999999999999999999999999999999'));
    client.send(mediaJson(3));
    client.send(`{"event":"stop","streamSid":"${SID}"}`);
    client.send(mediaJson(4));
    await waitFor(() => reasons.length === 4, 'four protocol errors');

    expect(reasons).toEqual(['media before start', 'duplicate start', 'streamSid mismatch', 'media after stop']);
    expect(media.map((m) => m.timestampMs)).toEqual([60]);
  });

  it("keeps every rule for media in Twilio's own layout (read from the bytes)", async () => {
    streamOptions = { maxMessageBytes: 4096 };
    const { stream, client } = await connect();
    const reasons: string[] = [];
    const media: Base64AudioFrame[] = [];
    stream.on('protocol-error', (e) => reasons.push(e.reason));
    stream.on('media', (m) => media.push(m));

    client.send(twilioLayoutMedia(1));
    client.send(startMessage());
    client.send(twilioLayoutMedia(2));
    client.send(twilioLayoutMedia(3, 'MZ99999999999999999999999999999999'));
    client.send(twilioLayoutMedia(4, SID, Buffer.alloc(3200).toString('base64')));
    client.send(twilioLayoutMedia(5, SID, 'not*base64!'));
    // Fragmented by the sender: ws hands the message over whole, the fast path reads it.
    client.send(twilioLayoutMedia(6).slice(0, 50), { fin: false });
    client.send(twilioLayoutMedia(6).slice(50), { fin: true });
    client.send(`{"event":"stop","streamSid":"${SID}"}`);
    client.send(twilioLayoutMedia(7));
    await waitFor(() => reasons.length === 5, 'five protocol errors');

    expect(reasons).toEqual([
      'media before start',
      'streamSid mismatch',
      'message too large',
      'media: payload is not base64',
      'media after stop',
    ]);
    expect(media).toEqual([
      { base64: FRAME_B64, timestampMs: 40, receivedAt: expect.any(Number) },
      { base64: FRAME_B64, timestampMs: 120, receivedAt: expect.any(Number) },
    ]);
    expect(stream.stats).toMatchObject({ mediaIn: 2, protocolErrors: 5 });
    // The reader's fields live as long as the stream: a payload left there would be alive at every
    // young-generation GC until the next frame (docs/benchmarks/bridge.md, "What a scavenge copies").
    expect((stream as unknown as { fields: MediaFields }).fields.payload).toBe('');
  });

  it('survives oversized, malformed, binary and unknown messages, logging them rate-limited, and keeps streaming', async () => {
    streamOptions = { maxMessageBytes: 4096 };
    const { stream, client } = await connect();
    const reasons: string[] = [];
    const media: Base64AudioFrame[] = [];
    stream.on('protocol-error', (e) => reasons.push(e.reason));
    stream.on('media', (m) => media.push(m));
    client.send(startMessage());

    client.send(mediaJson(1, Buffer.alloc(8000).toString('base64')));
    client.send('{"event":"media", nope');
    client.send(mediaJson(2, 'not*base64!'));
    client.send(`{"event":"teleport","streamSid":"${SID}"}`);
    client.send(Buffer.from([1, 2, 3]));
    for (let i = 0; i < 50; i++) client.send('garbage');
    client.send(mediaJson(3));
    await waitFor(() => media.length === 1, 'the good frame after the bad ones');

    expect(reasons.slice(0, 5)).toEqual([
      'message too large',
      'invalid JSON',
      'media: payload is not base64',
      'unknown event: teleport',
      'binary frame',
    ]);
    expect(stream.stats.protocolErrors).toBe(55);
    expect(client.readyState).toBe(WebSocket.OPEN);
    const warnings = capture.lines.filter((l) => l.message === 'twilio stream protocol error');
    expect(warnings).toHaveLength(1);
  });

  it('a malformed message on one call never disturbs another call', async () => {
    const a = await connect();
    const b = await connect();
    const bMedia: Base64AudioFrame[] = [];
    b.stream.on('media', (m) => bMedia.push(m));
    a.client.send(startMessage());
    b.client.send(startMessage());
    a.client.send('{{{{');
    a.client.send(Buffer.alloc(200 * 1024, 0x41).toString());
    b.client.send(mediaJson(1));
    await waitFor(() => bMedia.length === 1 && a.stream.stats.protocolErrors === 2, 'both streams handled');
    expect(b.stream.stats.protocolErrors).toBe(0);
    expect(a.client.readyState).toBe(WebSocket.OPEN);
    expect(b.client.readyState).toBe(WebSocket.OPEN);
  });

  it('catches listener exceptions instead of throwing them into the socket', async () => {
    const { stream, client } = await connect();
    const media: Base64AudioFrame[] = [];
    stream.on('start', () => {
      throw new Error('listener bug');
    });
    let mediaThrown = false;
    stream.on('media', (m) => {
      if (!mediaThrown) {
        mediaThrown = true;
        throw new Error('media listener bug');
      }
      media.push(m);
    });
    client.send(startMessage());
    client.send(mediaJson(1));
    client.send(mediaJson(2));
    await waitFor(() => media.length === 1, 'media after a throwing listener');
    expect(media[0].timestampMs).toBe(40);
    expect(stream.stats.listenerErrors).toBe(2);
    expect(capture.lines.some((l) => l.level === 'error' && l.message === 'twilio stream listener failed')).toBe(true);
  });

  it('sends media, named marks and clear in the Twilio format, and nothing before start', async () => {
    const { stream, client, fromServer } = await connect();
    expect(stream.sendMedia(FRAME_B64)).toBe(false);
    expect(stream.sendMark('early')).toBe(false);
    client.send(startMessage());
    await waitFor(() => stream.streamSid === SID, 'start');

    // Twilio reads JSON text frames: the media message is built as bytes, and must still go as text.
    const binary: boolean[] = [];
    client.on('message', (_data, isBinary) => binary.push(isBinary));
    expect(stream.sendMedia(FRAME_B64)).toBe(true);
    expect(stream.sendMark('item_1:20:0')).toBe(true);
    expect(stream.clear()).toBe(true);
    await waitFor(() => fromServer.length === 3, 'three messages');
    expect(binary).toEqual([false, false, false]);

    expect(fromServer.map((m) => JSON.parse(m))).toEqual([
      { event: 'media', streamSid: SID, media: { payload: FRAME_B64 } },
      { event: 'mark', streamSid: SID, mark: { name: 'item_1:20:0' } },
      { event: 'clear', streamSid: SID },
    ]);
    expect(stream.stats).toMatchObject({ mediaOut: 1, marksOut: 1, clears: 1, droppedOutbound: 1 });
  });

  it('writes agent audio and its mark to the socket in one write, and the client reads both in order', async () => {
    const { stream, serverSocket, client, fromServer } = await connect();
    client.send(startMessage());
    await waitFor(() => stream.streamSid === SID, 'start');
    // Count the writes reaching the TCP socket (each is one system call).
    const socket = (
      serverSocket as unknown as { _socket: { _writev: (...a: unknown[]) => void; _write: (...a: unknown[]) => void } }
    )._socket;
    const writes: number[] = [];
    for (const method of ['_writev', '_write'] as const) {
      const original = socket[method].bind(socket);
      socket[method] = (...args: unknown[]) => {
        writes.push(method === '_writev' ? (args[0] as unknown[]).length : 1);
        return original(...args);
      };
    }
    stream.sendMedia(FRAME_B64);
    stream.sendMark('one-by-one');
    expect(writes).toHaveLength(2); // header + payload of each message, one write each
    writes.length = 0;
    expect(stream.sendMediaAndMark(FRAME_B64, 'together')).toBe(true);
    expect(writes).toEqual([4]); // both messages' header and payload in one writev
    await waitFor(() => fromServer.length === 4, 'four messages');
    expect(fromServer.map((m) => JSON.parse(m).event)).toEqual(['media', 'mark', 'media', 'mark']);
    expect(JSON.parse(fromServer[3]).mark.name).toBe('together');
    expect(stream.stats).toMatchObject({ mediaOut: 2, marksOut: 2 });
  });

  it('drops and counts outbound media while the reader is too slow, and recovers when it reads again', async () => {
    const maxBufferedBytes = 64 * 1024;
    streamOptions = { maxBufferedBytes };
    const { stream, client, fromServer, serverSocket } = await connect();
    client.send(startMessage());
    await waitFor(() => stream.streamSid === SID, 'start');

    client.pause(); // the reader stops reading: kernel buffers fill, then ws buffers
    const payload = Buffer.alloc(12000, 0x11).toString('base64'); // 16 KB of JSON per message
    const messageBytes = payload.length + 100;
    let maxSeenBuffered = 0;
    for (let i = 0; i < 5000 && stream.stats.droppedOutbound < 20; i++) {
      stream.sendMedia(payload);
      maxSeenBuffered = Math.max(maxSeenBuffered, serverSocket.bufferedAmount);
      if (i % 50 === 49) await new Promise((r) => setImmediate(r)); // let the socket flush what it can
    }
    expect(stream.stats.droppedOutbound).toBeGreaterThanOrEqual(20);
    expect(maxSeenBuffered).toBeLessThanOrEqual(maxBufferedBytes + messageBytes);
    expect(capture.lines.filter((l) => l.message.startsWith('twilio stream reader too slow'))).toHaveLength(1);

    client.resume();
    const sent = stream.stats.mediaOut;
    await waitFor(() => fromServer.length === sent, 'every message that was not dropped', 10000);
    expect(stream.sendMedia(FRAME_B64)).toBe(true);
    await waitFor(() => fromServer.length === sent + 1, 'media after recovery');
  });

  it('reports the close code and reason, and close() is idempotent', async () => {
    const { stream, client } = await connect();
    const closes: Array<{ code: number; reason: string }> = [];
    stream.on('close', (e) => closes.push(e));
    const clientClosed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
    client.send(startMessage());
    await waitFor(() => stream.streamSid === SID, 'start');
    stream.close(4001, 'call ended');
    stream.close(4002, 'again');
    expect(await clientClosed).toBe(4001);
    await waitFor(() => closes.length === 1, 'close event');
    expect(closes).toEqual([{ code: 4001, reason: 'call ended' }]);
    expect(stream.sendMedia(FRAME_B64)).toBe(false);
  });

  it('refuses nonsense options before any I/O', async () => {
    const { client, serverSocket } = await connect();
    expect(() => new TwilioMediaStream(serverSocket, { logger, maxMessageBytes: 10 })).toThrow(RangeError);
    expect(() => new TwilioMediaStream(serverSocket, { logger, maxBufferedBytes: 0 })).toThrow(RangeError);
    client.terminate();
  });
});
