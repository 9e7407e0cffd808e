/**
 * The Twilio call simulator against a tiny Twilio-speaking server written here: express for the
 * webhooks (checking every signature against PUBLIC_URL), a ws endpoint whose upgrade is checked
 * like Twilio's, and TwilioMediaStream on the socket. Each test picks how the server behaves.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import express from 'express';
import winston from 'winston';
import { WebSocketServer } from 'ws';
import { TwilioMediaStream, type TwilioStreamStart } from '../../src/channels/twilio/media-stream';
import {
  isValidTwilioSignature,
  streamUrl,
  validateStreamHandshake,
  webhookUrl,
} from '../../src/channels/twilio/signature';
import { connectStreamTwiml, dialTwiml, refusalTwiml } from '../../src/channels/twilio/twiml';
import { placeCall, SharedTicker, type CallSummary } from '../../src/simulators/twilio-caller';
import { synthesize } from '../../src/simulators/tts';

const TOKEN = 'test-auth-token-0123456789';
const PUBLIC_URL = 'https://sb.example.com';
const logger = winston.createLogger({ silent: true });

/** A recognisable agent "voice": bytes 0..255 repeating, never 0xFF silence runs. */
function agentAudio(ms: number, seed = 0): Buffer {
  const buf = Buffer.alloc(ms * 8);
  for (let i = 0; i < buf.length; i++) buf[i] = (i + seed) % 250;
  return buf;
}

function frames(audio: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < audio.length; i += 160) out.push(audio.subarray(i, i + 160).toString('base64'));
  return out;
}

interface ServerCall {
  stream: TwilioMediaStream;
  start?: TwilioStreamStart;
  inbound: Buffer[];
  timestamps: number[];
  marks: Array<{ name: string; atMs: number }>;
  digits: string[];
  stopped: boolean;
  closed?: { code: number };
  t0: number;
}

type Behaviour = (call: ServerCall) => void;

interface Webhook {
  path: string;
  params: Record<string, string>;
  signatureValid: boolean;
}

describe('Twilio call simulator', () => {
  let server: http.Server;
  let wss: WebSocketServer;
  let baseUrl: string;
  const sockets = new Set<Socket>();
  let behaviour: Behaviour = () => undefined;
  let twimlFor: () => string = () => '';
  const webhooks: Webhook[] = [];
  const calls: ServerCall[] = [];
  let upgradesRejected = 0;

  beforeAll(async () => {
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    const record = (req: express.Request): Webhook => {
      const params = req.body as Record<string, string>;
      const hook = {
        path: req.path,
        params,
        signatureValid: isValidTwilioSignature(
          TOKEN,
          req.header('x-twilio-signature'),
          webhookUrl(PUBLIC_URL, req.path),
          params,
        ),
      };
      webhooks.push(hook);
      return hook;
    };
    app.post('/twilio/incoming-call', (req, res) => {
      if (!record(req).signatureValid) {
        res.status(403).send('bad signature');
        return;
      }
      res.type('text/xml').send(twimlFor());
    });
    app.post('/twilio/call-status', (req, res) => {
      record(req);
      res.type('text/xml').send('<Response/>');
    });
    app.post('/twilio/stream-ended', (req, res) => {
      record(req);
      res.type('text/xml').send(dialTwiml('+15550009999', { announce: 'Transferring you.' }));
    });

    server = http.createServer(app);
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
    server.on('upgrade', (req, socket, head) => {
      if (!validateStreamHandshake(TOKEN, PUBLIC_URL, req.headers)) {
        upgradesRejected++;
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const call: ServerCall = {
          stream: new TwilioMediaStream(ws, { logger }),
          inbound: [],
          timestamps: [],
          marks: [],
          digits: [],
          stopped: false,
          t0: 0,
        };
        calls.push(call);
        call.stream.on('start', (s) => {
          call.start = s;
          call.t0 = performance.now();
          behaviour(call);
        });
        call.stream.on('media', (m) => {
          call.inbound.push(m.bytes);
          call.timestamps.push(m.timestampMs);
        });
        call.stream.on('mark', (name) => call.marks.push({ name, atMs: performance.now() - call.t0 }));
        call.stream.on('dtmf', (d) => call.digits.push(d));
        call.stream.on('stop', () => (call.stopped = true));
        call.stream.on('close', (e) => (call.closed = e));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    webhooks.length = 0;
    calls.length = 0;
    upgradesRejected = 0;
    behaviour = () => undefined;
    twimlFor = () =>
      connectStreamTwiml({
        streamUrl: streamUrl(PUBLIC_URL),
        parameters: { callId: 'call-1', note: 'a & <b>' },
        fallbackMessage: 'Sorry, we could not connect you.',
      });
  });

  afterAll(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function call(options: Partial<Parameters<typeof placeCall>[0]> = {}) {
    return placeCall({ baseUrl, publicUrl: PUBLIC_URL, authToken: TOKEN, logger, ...options });
  }

  it('signs everything like Twilio and streams the script as continuous 20 ms mu-law frames', async () => {
    const speech = agentAudio(400, 7);
    const summary = await call({ script: [{ audio: speech }, { silenceMs: 200 }], from: '+15551230000' }).done;

    expect(summary).toMatchObject({ ok: true, errors: [], webhookStatus: 200, closedBy: 'caller', framesSent: 30 });
    // Webhook, handshake and status callbacks all verify against PUBLIC_URL, not the address used.
    expect(webhooks.map((w) => [w.path, w.params.CallStatus, w.signatureValid])).toEqual([
      ['/twilio/incoming-call', 'ringing', true],
      ['/twilio/call-status', 'in-progress', true],
      ['/twilio/call-status', 'completed', true],
    ]);
    expect(webhooks[0].params).toMatchObject({
      CallSid: summary.callSid,
      From: '+15551230000',
      Direction: 'inbound',
      ApiVersion: '2010-04-01',
    });
    expect(upgradesRejected).toBe(0);
    expect(summary.statusCallbacks).toEqual([
      { status: 'in-progress', httpStatus: 200 },
      { status: 'completed', httpStatus: 200 },
    ]);

    const [serverCall] = calls;
    expect(serverCall.start).toMatchObject({
      callSid: summary.callSid,
      streamSid: summary.streamSid,
      customParameters: { callId: 'call-1', note: 'a & <b>' },
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      tracks: ['inbound'],
    });
    expect(summary.customParameters).toEqual({ callId: 'call-1', note: 'a & <b>' });
    expect(serverCall.timestamps).toEqual(Array.from({ length: 30 }, (_, i) => i * 20));
    expect(serverCall.inbound.every((f) => f.length === 160)).toBe(true);
    expect(Buffer.concat(serverCall.inbound)).toEqual(Buffer.concat([speech, Buffer.alloc(1600, 0xff)]));
    expect(serverCall.stopped).toBe(true);
    expect(serverCall.closed?.code).toBe(1000);
    expect(serverCall.stream.stats.protocolErrors).toBe(0);
    expect(summary.durationMs).toBeGreaterThanOrEqual(580);
    expect(summary.mediaMs).toBe(600);
  });

  it('keeps the media clock apart from the wall clock when it falls behind', async () => {
    const handle = call({ script: [{ silenceMs: 200 }], sendStatusCallbacks: false });
    await new Promise<void>((resolve) => handle.events.once('stream-start', () => resolve()));
    // The simulator's own process stalls for half a second: its next tick sends the ten frames
    // at once and hangs up, half a second late on the wall clock, 200 ms into the stream.
    const until = performance.now() + 500;
    while (performance.now() < until);
    const summary = await handle.done;
    expect(summary).toMatchObject({ ok: true, framesSent: 10, framesSkipped: 0, mediaMs: 200 });
    expect(summary.durationMs).toBeGreaterThanOrEqual(500);
    const [serverCall] = calls;
    expect(serverCall.timestamps).toEqual(Array.from({ length: 10 }, (_, i) => i * 20));
  });

  it('echoes a mark only once the audio sent before it has played', async () => {
    const sent = agentAudio(1000);
    let sentAtMs = 0;
    behaviour = (c) => {
      for (const f of frames(sent)) c.stream.sendMedia(f);
      c.stream.sendMark('after-1000ms');
      sentAtMs = performance.now() - c.t0;
    };
    const handle = call({ script: [{ waitForAgentMs: 5000, untilAgentSilentMs: 200 }] });
    const summary = await handle.done;

    const [serverCall] = calls;
    expect(serverCall.marks).toHaveLength(1);
    expect(serverCall.marks[0].name).toBe('after-1000ms');
    expect(serverCall.marks[0].atMs - sentAtMs).toBeGreaterThanOrEqual(995);
    expect(summary).toMatchObject({
      ok: true,
      framesReceived: 50,
      bytesReceived: 8000,
      agentAudioReceivedMs: 1000,
      agentAudioMs: 1000,
      marksReceived: 1,
      marksEchoed: 1,
      marksEchoedOnClear: 0,
      clears: 0,
      underruns: 0,
      playbackGapMs: 0,
    });
    expect(handle.receivedAudio).toEqual(sent);
    expect(summary.firstAgentAudioMs).not.toBeNull();
    // The wait ended on the agent's silence: after the audio played, well before its 5 s limit.
    expect(summary.durationMs).toBeGreaterThanOrEqual(1200);
    expect(summary.durationMs).toBeLessThan(5000);
  });

  it('on clear drops the queued audio and echoes pending marks at once; later marks wait for playback', async () => {
    const long = agentAudio(3000);
    const more = agentAudio(1000, 3);
    const after = agentAudio(200, 9);
    let clearedAtMs = 0;
    behaviour = (c) => {
      for (const f of frames(long)) c.stream.sendMedia(f);
      c.stream.sendMark('a');
      for (const f of frames(more)) c.stream.sendMedia(f);
      c.stream.sendMark('b');
      setTimeout(() => {
        c.stream.clear();
        clearedAtMs = performance.now() - c.t0;
        for (const f of frames(after)) c.stream.sendMedia(f);
        c.stream.sendMark('c');
      }, 500);
    };
    const clears: number[] = [];
    const handle = call({ script: [{ waitForAgentMs: 6000, untilAgentSilentMs: 300 }] });
    handle.events.on('clear', (e) => clears.push(e.droppedBytes));
    const summary = await handle.done;

    const [serverCall] = calls;
    expect(serverCall.marks.map((m) => m.name)).toEqual(['a', 'b', 'c']);
    // a and b came back right after the clear, long before their 3-4 s of audio could have played.
    expect(serverCall.marks[1].atMs).toBeLessThan(3000);
    // c waited for its own 200 ms of audio.
    expect(serverCall.marks[2].atMs - clearedAtMs).toBeGreaterThanOrEqual(195);
    expect(summary).toMatchObject({ ok: true, clears: 1, marksEchoed: 3, marksEchoedOnClear: 2 });
    expect(clears).toHaveLength(1);
    expect(summary.clearedAudioBytes).toBe(clears[0]);
    expect(summary.clearedAudioMs).toBe(clears[0] / 8);
    // What was played is a prefix of the long audio followed by all of the post-clear audio.
    const played = handle.receivedAudio;
    const heardBeforeClear = played.length - after.length;
    expect(heardBeforeClear).toBeGreaterThan(0);
    expect(played.subarray(0, heardBeforeClear)).toEqual(long.subarray(0, heardBeforeClear));
    expect(played.subarray(heardBeforeClear)).toEqual(after);
    // Played + cleared is everything sent, exactly (each used to be rounded on its own: 4201).
    expect(summary.agentAudioBytes).toBe(played.length);
    expect(summary.agentAudioBytes + summary.clearedAudioBytes).toBe(4200 * 8);
    expect(summary.agentAudioMs + summary.clearedAudioMs).toBe(4200);
  });

  it('reports played and cleared audio that add up exactly when a clear cuts a frame at half a millisecond', async () => {
    // 4 bytes (0.5 ms) play and are acknowledged; then 3996 bytes (499.5 ms) are sent and cleared at
    // once. Rounding each figure separately made 1 + 500 = 501 ms of a 500 ms total.
    behaviour = (c) => {
      c.stream.sendMedia(agentAudio(1).subarray(0, 4).toString('base64'));
      c.stream.sendMark('first');
      c.stream.on('mark', (name) => {
        if (name !== 'first') return;
        c.stream.sendMedia(agentAudio(500, 1).subarray(0, 3996).toString('base64'));
        c.stream.clear();
      });
    };
    const summary = await call({ script: [{ silenceMs: 400 }] }).done;

    expect(summary).toMatchObject({ ok: true, bytesReceived: 4000, agentAudioReceivedMs: 500, clears: 1 });
    expect(summary.agentAudioBytes + summary.clearedAudioBytes).toBe(4000);
    expect(summary.agentAudioMs + summary.clearedAudioMs).toBe(summary.agentAudioReceivedMs);
    expect(summary.agentAudioMs).toBe(summary.agentAudioBytes / 8);
  });

  it('is refused at the handshake when the stream URL it was given is not the server’s', async () => {
    twimlFor = () => connectStreamTwiml({ streamUrl: 'wss://attacker.example/streams', parameters: {} });
    const summary = await call({ script: [{ silenceMs: 100 }] }).done;
    expect(upgradesRejected).toBe(1);
    expect(calls).toHaveLength(0);
    expect(summary).toMatchObject({ ok: false, handshakeStatus: 403, streamSid: undefined, framesSent: 0 });
    expect(summary.errors.join()).toMatch(/403/);
  });

  it('reports a webhook refused for a bad signature', async () => {
    const summary = await call({ authToken: 'wrong-token-000000000000' }).done;
    expect(summary).toMatchObject({ ok: false, webhookStatus: 403, streamSid: undefined });
    expect(webhooks[0].signatureValid).toBe(false);
  });

  it('ends at TwiML without a stream (a polite refusal)', async () => {
    twimlFor = () => refusalTwiml('All lines are busy.');
    const summary = await call({ script: [{ silenceMs: 100 }] }).done;
    expect(summary).toMatchObject({ ok: true, streamSid: undefined, framesSent: 0, closedBy: 'server' });
    expect(summary.twiml).toContain('<Say>All lines are busy.</Say><Hangup/>');
    expect(calls).toHaveLength(0);
  });

  it('notes a server that closes the stream and fetches <Connect action> for the next TwiML', async () => {
    twimlFor = () =>
      connectStreamTwiml({ streamUrl: streamUrl(PUBLIC_URL), parameters: {}, action: '/twilio/stream-ended' });
    behaviour = (c) => setTimeout(() => c.stream.close(1000, 'transfer'), 200);
    const summary = await call({ script: [{ silenceMs: 10000 }] }).done;
    expect(summary).toMatchObject({ ok: true, closedBy: 'server', closeCode: 1000 });
    expect(summary.durationMs).toBeLessThan(5000);
    expect(summary.afterStreamTwiml).toContain('<Dial><Number>+15550009999</Number></Dial>');
    const action = webhooks.find((w) => w.path === '/twilio/stream-ended');
    expect(action?.signatureValid).toBe(true);
    expect(action?.params.CallSid).toBe(summary.callSid);
  });

  it('sends DTMF, honours hangup() and hangupAfterMs', async () => {
    const withDigits = await call({ script: [{ silenceMs: 60 }, { dtmf: '12#' }, { silenceMs: 60 }] }).done;
    expect(calls[0].digits).toEqual(['1', '2', '#']);
    expect(withDigits.dtmfSent).toBe(3);

    const limited = await call({ script: [{ silenceMs: 10000 }], hangupAfterMs: 300 }).done;
    expect(limited).toMatchObject({ ok: true, closedBy: 'caller', framesSent: 15 });

    const handle = call({ script: [{ silenceMs: 10000 }], sendStatusCallbacks: false });
    await new Promise<void>((resolve) => handle.events.once('stream-start', () => resolve()));
    const hungUp = await handle.hangup();
    expect(hungUp).toMatchObject({ ok: true, closedBy: 'caller', statusCallbacks: [] });
    expect(hungUp.durationMs).toBeLessThan(5000);
  });

  it('floods as fast as the socket takes frames when realtime is off', async () => {
    const speech = agentAudio(4000, 1);
    const summary = await call({ script: [{ audio: speech }], realtime: false }).done;
    expect(summary).toMatchObject({ ok: true, framesSent: 200, framesSkipped: 0 });
    const serverCall = calls[0];
    await new Promise<void>((resolve) =>
      serverCall.closed ? resolve() : serverCall.stream.once('close', () => resolve()),
    );
    expect(Buffer.concat(serverCall.inbound)).toEqual(speech);
    expect(serverCall.timestamps[199]).toBe(3980);
    expect(summary.durationMs).toBe(4000);
    expect(summary.mediaMs).toBe(4000);
  });

  it('speaks generated speech and runs many calls on one shared clock', async () => {
    const ticker = new SharedTicker();
    const text = 'Hello, I would like to check my order.';
    const speech = await synthesize(text, { format: 'pcmu', engine: 'tone' });
    const handles = Array.from({ length: 10 }, () =>
      call({ script: [{ say: text }], ttsEngine: 'tone', ticker, sendStatusCallbacks: false }),
    );
    // The calls join the ticker once their streams start (webhook + handshake: slower on a busy
    // machine than a fixed 100 ms, which made this flaky); their ~2 s of speech keeps them on it.
    for (let i = 0; i < 100 && ticker.size === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(ticker.size).toBeGreaterThan(0);
    const summaries: CallSummary[] = await Promise.all(handles.map((h) => h.done));
    expect(ticker.size).toBe(0);
    for (const s of summaries) expect(s).toMatchObject({ ok: true, framesSent: Math.ceil(speech.length / 160) });
    const first = Buffer.concat(calls[0].inbound);
    expect(first.subarray(0, speech.length)).toEqual(speech);
  });

  it('reports a server that is not there without throwing', async () => {
    const summary = await placeCall({ baseUrl: 'http://127.0.0.1:1', script: [] }).done;
    expect(summary.ok).toBe(false);
    expect(summary.errors[0]).toMatch(/webhook failed/);
    expect(() => placeCall({ baseUrl: 'ftp://x' })).toThrow(TypeError);
  });
});
