/**
 * The WebRTC channel over a real peer connection: a Node wrtc peer plays the browser, posts its
 * offer to POST /api/web-calls/offer on a real HTTP server, and audio flows both ways (Opus on the
 * wire, PCM16/48 kHz at the seam). Agent audio is played at real-time pace with `played` acks, clear
 * drops it, and the call ends on a hang-up message or a closed peer.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { createLogger } from '../../src/logging/logger';
import { errorHandler, notFoundHandler } from '../../src/http/errors';
import { createWebCallsRouter, type WebCallsRouter } from '../../src/channels/webrtc/routes';
import { SessionTokens } from '../../src/channels/webrtc/session-token';
import type { WebRtcChannel } from '../../src/channels/webrtc/webrtc-channel';
import type { CallerAudioFrame, ChannelEndCause } from '../../src/conversation/channel';
import { collectWrtcGarbage, TestPeer, waitFor } from '../helpers/webrtc-peer';

const logger = createLogger({ level: 'error', json: true, silent: true });

interface Started {
  channel: WebRtcChannel;
  frames: CallerAudioFrame[];
  played: { marker: string; at: number }[];
  ended: ChannelEndCause[];
}

/** 20 ms chunks of a 440 Hz tone at 48 kHz, PCM16. */
function toneChunks(ms: number, amplitude = 10_000): Buffer[] {
  const chunks: Buffer[] = [];
  let n = 0;
  for (let c = 0; c < ms / 20; c++) {
    const buf = Buffer.alloc(1920);
    for (let i = 0; i < 960; i++, n++)
      buf.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * 440 * n) / 48000)), i * 2);
    chunks.push(buf);
  }
  return chunks;
}

function rmsPcm16(bytes: Buffer): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += bytes.readInt16LE(i) ** 2;
  return Math.sqrt(sum / (bytes.length / 2));
}

describe('WebRTC channel over a real peer connection', () => {
  let server: Server;
  let base: string;
  let router: WebCallsRouter;
  const calls: Started[] = [];
  const peers: TestPeer[] = [];

  beforeAll(async () => {
    router = createWebCallsRouter({
      apiTokens: [],
      sessions: new SessionTokens('x'.repeat(32)),
      hasProfile: () => true,
      logger,
      startCall: (channel) => {
        const call: Started = { channel, frames: [], played: [], ended: [] };
        channel.on('audio', (f) => call.frames.push(f));
        channel.on('played', (marker) => call.played.push({ marker, at: performance.now() }));
        channel.on('end', (cause) => call.ended.push(cause));
        calls.push(call);
        return Promise.resolve({ callId: `call-${calls.length}` });
      },
    });
    const app = express();
    app.use('/api/web-calls', router);
    app.use(notFoundHandler);
    app.use(errorHandler(logger));
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(() => {
    for (const p of peers.splice(0)) p.close();
    router.closeAll('test-over');
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    calls.length = 0;
    await collectWrtcGarbage();
  });

  async function connect(): Promise<{ peer: TestPeer; call: Started; callId: string }> {
    const peer = new TestPeer();
    peers.push(peer);
    const sdp = await peer.offer();
    const res = await fetch(`${base}/api/web-calls/offer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'offer', sdp, languageHint: 'en' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { callId: string; type: string; sdp: string };
    expect(body.type).toBe('answer');
    expect(body.sdp).toMatch(/^v=0/);
    expect(body.sdp).toMatch(/a=candidate:/);
    await peer.answer(body.sdp);
    await waitFor(() => peer.pc.connectionState === 'connected', 10_000, 'peer connected');
    return { peer, call: calls[calls.length - 1], callId: body.callId };
  }

  it('carries caller audio to the seam as 20 ms PCM16/48 kHz frames and agent audio to the browser', async () => {
    const { peer, call, callId } = await connect();
    expect(callId).toMatch(/^call-/);
    expect(call.channel.format).toEqual({ encoding: 'pcm16', sampleRateHz: 48000 });
    // Caller tone arrives: whole 20 ms frames with the tone's energy once Opus packets flow.
    await waitFor(() => call.frames.length >= 75, 10_000, 'caller frames');
    for (const f of call.frames) expect(f.bytes.length).toBe(1920);
    const loud = call.frames.slice(-25).map((f) => rmsPcm16(f.bytes));
    expect(Math.min(...loud)).toBeGreaterThan(2000); // a 8000-amplitude sine has RMS ~5657
    const ts = call.frames.map((f) => f.timestampMs);
    expect(ts.slice(0, 3)).toEqual([0, 20, 40]);

    // Silence before the agent speaks, then 1 s of a loud tone.
    const quietFrom = performance.now();
    await new Promise((r) => setTimeout(r, 400));
    const quiet = peer.energyBetween(quietFrom + 100, performance.now());
    const sentAt = performance.now();
    toneChunks(1000).forEach((chunk, i) => call.channel.sendAudio(chunk, `m${i}`));
    await waitFor(() => call.played.length === 50, 5_000, 'played acks');
    const lastAck = call.played[49].at - sentAt;
    // Real-time pace: 1 s of audio is acknowledged over ~1 s, in order (generous margins for a busy machine).
    expect(lastAck).toBeGreaterThan(900);
    expect(lastAck).toBeLessThan(2500);
    expect(call.played.map((p) => p.marker)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    await new Promise((r) => setTimeout(r, 300));
    const loudHeard = peer.energyBetween(sentAt + 200, sentAt + 900);
    expect(quiet).toBeLessThan(300);
    expect(loudHeard).toBeGreaterThan(1500); // 10,000-amplitude tone: RMS ~7071 before Opus; silence < 300
  });

  it('clear drops the queued agent audio: no more acks, silence in the browser', async () => {
    const { peer, call } = await connect();
    const sentAt = performance.now();
    toneChunks(5000).forEach((chunk, i) => call.channel.sendAudio(chunk, `c${i}`));
    await new Promise((r) => setTimeout(r, 1000));
    call.channel.clear();
    const clearedAt = performance.now();
    const acksAtClear = call.played.length;
    expect(acksAtClear).toBeGreaterThan(20);
    expect(acksAtClear).toBeLessThan(100);
    await new Promise((r) => setTimeout(r, 1000));
    expect(call.played.length).toBe(acksAtClear);
    expect(call.channel.queuedMs).toBe(0);
    // The tone is heard once it has crossed the path (a few hundred ms on a busy machine), until the clear.
    expect(peer.energyBetween(sentAt + 500, clearedAt - 50)).toBeGreaterThan(1500);
    expect(peer.energyBetween(clearedAt + 400, performance.now())).toBeLessThan(300);
  });

  it('ends the call with caller-hangup on the control channel, and frees its slot', async () => {
    const { peer, call } = await connect();
    await waitFor(() => peer.control.readyState === 'open', 5_000, 'control channel open');
    expect(router.active.size).toBe(1);
    peer.control.send('not json');
    peer.control.send(JSON.stringify({ type: 'dtmf', digit: '5' }));
    peer.control.send(JSON.stringify({ type: 'hangup' }));
    await waitFor(() => call.ended.length > 0, 5_000, 'end');
    expect(call.ended).toEqual(['caller-hangup']);
    expect(call.channel.stats.badControlMessages).toBe(1);
    expect(router.active.size).toBe(0);
  });

  it('ends the call with channel-closed when the browser closes its peer connection', async () => {
    const { peer, call } = await connect();
    await waitFor(() => peer.control.readyState === 'open', 5_000, 'control channel open');
    const closedAt = Date.now();
    peer.close();
    await waitFor(() => call.ended.length > 0, 15_000, 'end after peer close');
    expect(call.ended).toEqual(['channel-closed']);
    expect(Date.now() - closedAt).toBeLessThan(12_000);
    expect(router.active.size).toBe(0);
  });

  it('our side ending the call closes the peer connection without an end event', async () => {
    const { peer, call } = await connect();
    await waitFor(() => call.channel.controlOpen, 5_000, 'control channel open on our side');
    const said: unknown[] = [];
    peer.control.onmessage = (event) => said.push(JSON.parse(String(event.data)));
    call.channel.end('agent-hangup');
    await waitFor(() => said.length > 0, 5_000, 'ended message');
    expect(said).toEqual([{ type: 'ended' }]);
    expect(call.ended).toEqual([]);
    expect(router.active.size).toBe(0);
    call.channel.sendAudio(Buffer.alloc(1920), 'late'); // ignored, no throw
  });
});
