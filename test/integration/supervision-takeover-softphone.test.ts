/**
 * Take over to the supervisor's softphone on whole calls over real sockets, with a Node WebRTC peer
 * standing in for the supervisor's browser (it sends a 1 kHz tone): bad requests and roles; the
 * hand-over (announcement, then the AI closed and the supervisor wired as the agent) with the delay
 * of each direction measured from an onset (the supervisor's tone switched on, the caller's speech
 * injected) to its arrival on the other side; and the ends: the caller hanging up closes the
 * supervisor's softphone (`ended` on its control channel), a call that ends before the hand-over
 * never joins the supervisor, and a softphone that never connects leaves the call with the AI.
 */
import express from 'express';
import request from 'supertest';
import { createSupervisionRouter } from '../../src/http/supervision-routes';
import { errorHandler } from '../../src/http/errors';
import { createLogger } from '../../src/logging/logger';
import type { EventBus } from '../../src/events/event-bus';
import type { WebRtcChannel } from '../../src/channels/webrtc/webrtc-channel';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { decodeMulaw } from '../../src/audio/g711';
import { synthesize } from '../../src/simulators/tts';
import { TestPeer, collectWrtcGarbage, waitFor } from '../helpers/webrtc-peer';

const SUPERVISOR = 'super-token-softphone-int-0123';
const VIEWER = 'viewer-token-softphone-int-0123';

/** Agent audio at the simulated caller: each payload's RMS (int16 scale) with its arrival time. */
type Heard = { at: number; rms: number }[];

function callerTap(heard: Heard) {
  return {
    incoming(payloadB64: string, arrivedAtMs: number) {
      const samples = decodeMulaw(Buffer.from(payloadB64, 'base64'));
      let sum = 0;
      for (const s of samples) sum += s * s;
      heard.push({ at: arrivedAtMs, rms: Math.sqrt(sum / Math.max(1, samples.length)) });
    },
  };
}

describe('take over to the supervisor softphone', () => {
  let h: BridgeHarness;
  const peers: TestPeer[] = [];
  beforeAll(async () => {
    h = await startBridgeHarness(
      {
        ttsEngine: 'tone',
        replies: [
          'Hello, how can I help?',
          'A colleague joins you now.',
          'Hello, how can I help?',
          'A colleague joins.',
        ],
      },
      { API_TOKENS: `supervisor:sue:${SUPERVISOR},read-only:${VIEWER}` },
    );
  });
  afterAll(async () => {
    for (const p of peers) p.close();
    await h.close();
    await collectWrtcGarbage();
  });

  const sup = (): [string, string] => ['Authorization', `Bearer ${SUPERVISOR}`];
  const newPeer = (): TestPeer => {
    const p = new TestPeer();
    peers.push(p);
    return p;
  };
  const controlMessages = (p: TestPeer): string[] => {
    const seen: string[] = [];
    p.control.onmessage = (e) => seen.push(String(e.data));
    return seen;
  };

  async function liveCall(handle: ReturnType<BridgeHarness['call']>): Promise<string> {
    return eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({ where: { callSid: handle.callSid }, include: { transcripts: true } });
      return c && c.status === 'streaming' && c.transcripts.some((t) => t.speaker === 'agent') ? c.id : null;
    }, 20000);
  }

  const events = (callId: string, type: string) => h.t.sb.db.callEvent.findMany({ where: { callId, type } });

  it('refuses a bad offer, a read-only token and a call that is not live', async () => {
    const call = await h.t.sb.callManager.createCall({ from: '+15550000017' });
    const url = `/api/calls/${call.id}/take-over`;
    const peer = newPeer();
    const sdp = await peer.offer();
    await request(h.t.baseUrl)
      .post(url)
      .set('Authorization', `Bearer ${VIEWER}`)
      .send({ action: 'softphone', sdp })
      .expect(403);
    for (const bad of [undefined, 42, 'hello', 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n']) {
      const res = await request(h.t.baseUrl)
        .post(url)
        .set(...sup())
        .send({ action: 'softphone', sdp: bad })
        .expect(400);
      expect(res.body.error.field).toBe('sdp');
    }
    await request(h.t.baseUrl)
      .post(url)
      .set(...sup())
      .send({ action: 'softphone', sdp })
      .expect(404);
  });

  it('counts the softphone against WEBRTC_MAX_CALLS: 503 when the web calls are full', async () => {
    const active = new Set<WebRtcChannel>();
    const app = express();
    const router = createSupervisionRouter({
      bridge: { get: () => undefined },
      bus: { subscribe: () => () => undefined } as unknown as EventBus,
      tokens: [],
      webCalls: { active, maxCalls: 1 },
    });
    app.use('/api', router);
    app.use(errorHandler(createLogger({ level: 'error', json: true, silent: true })));
    const sdp = await newPeer().offer();
    // A free slot: the request goes on to find the call (there is none).
    await request(app).post('/api/calls/nope/take-over').send({ action: 'softphone', sdp }).expect(404);
    active.add({} as WebRtcChannel);
    const full = await request(app).post('/api/calls/nope/take-over').send({ action: 'softphone', sdp }).expect(503);
    expect(full.headers['retry-after']).toBe('5');
  });

  it('hands the call to the supervisor: both directions heard, delays measured, a second take-over 409', async () => {
    const heard: Heard = [];
    const handle = h.call({ script: [{ untilAgentSilentMs: 400 }, { silenceMs: 60000 }], mediaTap: callerTap(heard) });
    try {
      const callId = await liveCall(handle);
      const peer = newPeer();
      peer.amplitude = 0;
      const ended = controlMessages(peer);
      const res = await request(h.t.baseUrl)
        .post(`/api/calls/${callId}/take-over`)
        .set(...sup())
        .send({ action: 'softphone', sdp: await peer.offer() })
        .expect(202);
      expect(res.body).toMatchObject({ callId, action: 'softphone', by: 'sue', type: 'answer' });
      expect(res.body.summary.length).toBeGreaterThan(0);
      await peer.answer(res.body.sdp);
      const again = await request(h.t.baseUrl)
        .post(`/api/calls/${callId}/take-over`)
        .set(...sup())
        .send({ action: 'transfer' })
        .expect(409);
      expect(again.body.error.code).toBe('conflict');

      await eventually(async () => (await events(callId, 'supervisor.joined')).length === 1, 20000);
      // The AI is gone: from here on the caller hears silence until the supervisor speaks.
      await new Promise((r) => setTimeout(r, 600));
      const quietFrom = performance.now();
      await new Promise((r) => setTimeout(r, 600));
      const quiet = heard.filter((f) => f.at >= quietFrom);
      expect(quiet.length).toBeGreaterThan(10);
      expect(Math.max(...quiet.map((f) => f.rms))).toBeLessThan(200);

      // Supervisor → caller: the tone switched on, timed to its first loud frame at the caller.
      const toneOn = performance.now();
      peer.amplitude = 8000;
      await waitFor(() => heard.some((f) => f.at > toneOn && f.rms > 2000), 10000, 'the supervisor at the caller');
      const down = heard.find((f) => f.at > toneOn && f.rms > 2000)!.at - toneOn;
      peer.amplitude = 0;

      // Caller → supervisor: speech injected, timed to its first loud frame at the peer.
      await new Promise((r) => setTimeout(r, 400));
      const speech = await synthesize('I would like my money back please', { format: 'pcmu', engine: 'espeak' });
      const said = performance.now();
      handle.inject(speech);
      await waitFor(() => peer.heard.some((f) => f.at > said && f.rms > 1000), 10000, 'the caller at the supervisor');
      const up = peer.heard.find((f) => f.at > said && f.rms > 1000)!.at - said;
      process.stderr.write(
        `softphone take-over delays: supervisor→caller ${down.toFixed(0)} ms, caller→supervisor ${up.toFixed(0)} ms\n`,
      );
      // About 0.4 s on an idle machine (libwebrtc's jitter buffer, the seam, the channel); more under load.
      expect(down).toBeLessThan(2000);
      expect(up).toBeLessThan(2000);

      // The caller hangs up: the supervisor's softphone is told the call ended.
      await handle.hangup();
      await waitFor(() => ended.some((m) => m.includes('"ended"')), 10000, 'the ended message');
      const call = await eventually(
        () => h.t.sb.db.call.findFirst({ where: { id: callId, endedAt: { not: null } } }),
        10000,
      );
      expect(call.endReason).toBe('caller-hangup');
      const [takeOver] = await events(callId, 'supervisor.takeover');
      expect(typeof takeOver.data === 'string' ? JSON.parse(takeOver.data) : takeOver.data).toMatchObject({
        by: 'sue',
        action: 'softphone',
      });
    } finally {
      await handle.hangup();
    }
  }, 60000);

  it('never joins the supervisor to a call that ended during the announcement', async () => {
    const handle = h.call({ script: [{ untilAgentSilentMs: 400 }, { silenceMs: 60000 }] });
    try {
      const callId = await liveCall(handle);
      const peer = newPeer();
      const ended = controlMessages(peer);
      h.ai.responseDelayMs = 2000;
      const res = await request(h.t.baseUrl)
        .post(`/api/calls/${callId}/take-over`)
        .set(...sup())
        .send({ action: 'softphone', sdp: await peer.offer() })
        .expect(202);
      await peer.answer(res.body.sdp);
      await waitFor(() => peer.control.readyState === 'open', 10000, 'the control channel');
      await handle.hangup();
      await waitFor(() => ended.some((m) => m.includes('"ended"')), 10000, 'the ended message');
      await eventually(() => h.t.sb.db.call.findFirst({ where: { id: callId, endedAt: { not: null } } }), 10000);
      expect(await events(callId, 'supervisor.joined')).toHaveLength(0);
    } finally {
      h.ai.responseDelayMs = 0;
      await handle.hangup();
    }
  }, 40000);

  it('leaves the call with the AI when the softphone never connects, and frees the take-over', async () => {
    const handle = h.call({ script: [{ untilAgentSilentMs: 400 }, { silenceMs: 60000 }] });
    try {
      const callId = await liveCall(handle);
      // The supervisor's browser sends its offer and then never completes the connection.
      const res = await request(h.t.baseUrl)
        .post(`/api/calls/${callId}/take-over`)
        .set(...sup())
        .send({ action: 'softphone', sdp: await newPeer().offer() })
        .expect(202);
      expect(res.body.sdp).toContain('v=0');
      // The peer's connect timeout (15 s) ends the attempt; the call goes on with the AI.
      const failed = await eventually(async () => (await events(callId, 'supervisor.takeover.failed'))[0], 30000);
      expect(await events(callId, 'supervisor.joined')).toHaveLength(0);
      expect(failed.offsetMs).toBeGreaterThan(0);
      // The agent speaks again after it (it tells the caller the colleague could not join).
      await eventually(
        () =>
          h.t.sb.db.transcript.findFirst({
            where: { callId, speaker: 'agent', startMs: { gte: failed.offsetMs ?? 0 } },
          }),
        15000,
      );
      expect(h.t.sb.bridge.get(callId)?.streaming).toBe(true);
      // The claim is free again: another take-over is accepted, not refused as a second one (409).
      await request(h.t.baseUrl)
        .post(`/api/calls/${callId}/take-over`)
        .set(...sup())
        .send({ action: 'end' })
        .expect(202);
      await eventually(() => h.t.sb.db.call.findFirst({ where: { id: callId, endedAt: { not: null } } }), 20000);
    } finally {
      await handle.hangup();
    }
  }, 70000);
});
