/**
 * The Twilio side misbehaving, over real sockets: the media socket reset mid-call (no stop, no
 * close frame), a message over the 1 MiB hard cap, and a flood of frames far faster than real time.
 * (Malformed JSON, bad base64, unknown events and 200 KiB messages: bridge-security.test.ts; a slow
 * reader's bounded buffer: test/unit/telephony-media-stream.test.ts.)
 */
import path from 'node:path';
import WebSocket from 'ws';
import request from 'supertest';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import { parseTwiml, twilioStartMessage } from '../../src/simulators/twilio-caller';
import {
  startBridgeHarness,
  eventually,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_URL,
  type BridgeHarness,
} from '../../scripts/lib/bridge-harness';
import { checkWavHeader } from '../../scripts/lib/server-process';

const SILENCE_FRAME = Buffer.alloc(160, 0xff).toString('base64');

describe('Twilio socket faults', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ replies: ['Hello from the fault line.'], ttsEngine: 'tone' });
  });
  afterAll(() => h.close());

  /** A hand-driven Twilio: signed webhook, signed handshake, connected + start, some media. */
  async function rawCall(callSid: string, frames: number): Promise<{ ws: WebSocket; callId: string }> {
    const form = { CallSid: callSid, From: '+15550004444', To: '+15559990000', CallStatus: 'ringing' };
    const res = await request(h.t.baseUrl)
      .post('/twilio/incoming-call')
      .set(
        'X-Twilio-Signature',
        computeTwilioSignature(TEST_AUTH_TOKEN, `${TEST_PUBLIC_URL}/twilio/incoming-call`, form),
      )
      .type('form')
      .send(form)
      .expect(200);
    const parameters = parseTwiml(res.text).parameters;
    const callId = parameters.callId;
    const ws = new WebSocket(`ws://127.0.0.1:${h.t.port}/streams`, {
      headers: {
        'X-Twilio-Signature': computeTwilioSignature(TEST_AUTH_TOKEN, `wss://switchboard.example.test/streams`, {}),
      },
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const streamSid = `MZ${callSid}`;
    ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
    ws.send(twilioStartMessage({ streamSid, callSid, accountSid: 'ACtest', customParameters: parameters }));
    for (let i = 0; i < frames; i++) {
      ws.send(
        JSON.stringify({
          event: 'media',
          sequenceNumber: String(i + 2),
          streamSid,
          media: { track: 'inbound', chunk: String(i + 1), timestamp: String(i * 20), payload: SILENCE_FRAME },
        }),
      );
    }
    await eventually(() => h.t.sb.db.call.findFirst({ where: { id: callId, streamSid } }));
    return { ws, callId };
  }

  const ended = (callId: string) =>
    eventually(() =>
      h.t.sb.db.call.findFirst({ where: { id: callId, endedAt: { not: null } }, include: { recordings: true } }),
    );

  it('a media socket reset mid-call ends the call as twilio-socket-closed, closes its AI session and keeps its recording', async () => {
    const { ws, callId } = await rawCall('CAtwfault01', 100);
    await eventually(() => h.ai.openConnections === 1);
    ws.terminate();
    const call = await ended(callId);
    expect(call.endReason).toBe('twilio-socket-closed');
    await eventually(() => h.ai.openConnections === 0);
    // The call row is ended by the database writer thread; the bridge forgets the call once that write is acknowledged.
    await eventually(() => h.t.sb.bridge.size === 0);
    expect(call.recordings).toHaveLength(1);
    const wav = checkWavHeader(path.join(h.t.sb.recordingsDir, call.recordings[0].path));
    expect(wav.consistent).toBe(true);
    expect(wav.durationMs).toBeGreaterThanOrEqual(1900);
  });

  it('a message over the 1 MiB cap closes only that socket (1009) and ends its call cleanly', async () => {
    const { ws, callId } = await rawCall('CAtwfault02', 50);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('error', () => undefined);
    ws.send(JSON.stringify({ event: 'media', media: { payload: 'A'.repeat(2 * 1024 * 1024) } }));
    expect(await closed).toBe(1009);
    const call = await ended(callId);
    expect(call.endReason).toBe('twilio-socket-closed');
    expect(call.recordings).toHaveLength(1);
    const health = await request(h.t.baseUrl).get('/health').expect(200);
    expect(health.body.status).toBe('ok');
  });

  it('a flood of 1500 frames sent at once (30 s of audio in a burst) is taken whole: recorded, forwarded, nothing lost', async () => {
    const handle = h.call({
      callSid: 'CAtwfault03',
      ttsEngine: 'tone',
      realtime: false,
      script: [{ silenceMs: 30_000 }],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.framesSent).toBeGreaterThanOrEqual(1500);
    const call = await eventually(() =>
      h.t.sb.db.call.findFirst({
        where: { callSid: 'CAtwfault03', endedAt: { not: null } },
        include: { recordings: true },
      }),
    );
    expect(call.endReason).toBe('caller-hangup');
    const session = h.ai.sessions.at(-1)!;
    await eventually(() => session.appends >= summary.framesSent);
    expect(session.appends).toBe(summary.framesSent);
    const wav = checkWavHeader(path.join(h.t.sb.recordingsDir, call.recordings[0].path));
    expect(wav.consistent).toBe(true);
    expect(Math.abs(wav.durationMs - 30_000)).toBeLessThan(200);
  });
});
