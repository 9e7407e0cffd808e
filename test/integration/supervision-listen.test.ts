/**
 * Listen in over real HTTP on a whole call (Twilio simulator → app → local Realtime server): a
 * supervisor's stream carries the call's audio at real-time pace (agent speech is loud in it, within
 * 500 ms of reaching the caller), the call itself is unaffected, and the listen is on the timeline.
 * Roles and bad requests; and the tap's own rules (a slow listener dropped, sides, no listener no work).
 */
import http from 'node:http';
import request from 'supertest';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { CallListenTap, toPcm8k, type Listener } from '../../src/supervision/listen';
import { PCMU_8K, PCM16_16K } from '../../src/conversation/audio-format';
import { encodeMulaw } from '../../src/audio/g711';

const SUPERVISOR = 'super-token-0123456789ab';
const VIEWER = 'viewer-token-0123456789';

function rmsWindows(pcm: Int16Array, window = 800): number[] {
  const out: number[] = [];
  for (let i = 0; i + window <= pcm.length; i += window) {
    let sum = 0;
    for (let j = i; j < i + window; j++) sum += pcm[j] * pcm[j];
    out.push(Math.sqrt(sum / window));
  }
  return out;
}

describe('listen in', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hello, thanks for calling. How can I help you today?', 'Sure, one moment.'] },
      { API_TOKENS: `supervisor:sue:${SUPERVISOR},read-only:${VIEWER}` },
    );
  });
  afterAll(() => h.close());

  it('streams the live call to a supervisor without touching the call', async () => {
    let firstAgentAudioAt = 0;
    const handle = h.call({
      script: [{ silenceMs: 1500 }, { untilAgentSilentMs: 600 }, { say: 'I need help' }, { untilAgentSilentMs: 600 }],
    });
    const callId = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({ where: { callSid: handle.callSid } });
      return c && h.t.sb.bridge.get(c.id)?.streaming ? c.id : null;
    });
    handle.events.once('agent-audio', () => (firstAgentAudioAt = Date.now()));

    await request(h.t.baseUrl).get(`/api/calls/${callId}/listen`).expect(401);
    await request(h.t.baseUrl).get(`/api/calls/${callId}/listen`).set('Authorization', `Bearer ${VIEWER}`).expect(403);
    await request(h.t.baseUrl)
      .get(`/api/calls/${callId}/listen?side=left`)
      .set('Authorization', `Bearer ${SUPERVISOR}`)
      .expect(400);
    await request(h.t.baseUrl).get(`/api/calls/${callId}/listen?access_token=${SUPERVISOR}`).expect(401);
    await request(h.t.baseUrl).get('/api/calls/nope/listen').set('Authorization', `Bearer ${SUPERVISOR}`).expect(404);

    const chunks: { at: number; bytes: Buffer }[] = [];
    const startedAt = Date.now();
    const done = new Promise<{ status: number; type: string }>((resolve, reject) => {
      const req = http.get(
        `${h.t.baseUrl}/api/calls/${callId}/listen?side=both`,
        { headers: { Authorization: `Bearer ${SUPERVISOR}` } },
        (res) => {
          res.on('data', (b: Buffer) => chunks.push({ at: Date.now(), bytes: b }));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
    });
    const summary = await handle.done;
    const { status, type } = await done;
    const endedAt = Date.now();
    expect(summary.ok).toBe(true);
    expect(status).toBe(200);
    expect(type).toBe('audio/L16; rate=8000; channels=1');

    const all = Buffer.concat(chunks.map((c) => c.bytes));
    const pcm = new Int16Array(all.buffer, all.byteOffset, Math.floor(all.length / 2));
    const seconds = pcm.length / 8000;
    // Real-time pace: about as much audio as the time listened (generous margins on a busy machine).
    expect(seconds).toBeGreaterThan(((endedAt - startedAt) / 1000) * 0.6);
    expect(seconds).toBeLessThan(((endedAt - startedAt) / 1000) * 1.2 + 1);
    const rms = rmsWindows(pcm);
    expect(Math.max(...rms)).toBeGreaterThan(1000);
    expect(Math.min(...rms)).toBeLessThan(200);
    // Delay: the first loud 20 ms in the stream vs the agent audio reaching the caller.
    let received = 0;
    let loudAt = 0;
    for (const c of chunks) {
      const samples = new Int16Array(Buffer.from(c.bytes).buffer, 0, Math.floor(c.bytes.length / 2));
      let peak = 0;
      for (const s of samples) peak = Math.max(peak, Math.abs(s));
      received += samples.length;
      if (peak > 2000) {
        loudAt = c.at;
        break;
      }
    }
    expect(received).toBeGreaterThan(0);
    expect(firstAgentAudioAt).toBeGreaterThan(0);
    expect(loudAt).toBeGreaterThan(0);
    expect(Math.abs(loudAt - firstAgentAudioAt)).toBeLessThan(500);

    const events = await eventually(async () => {
      const e = await h.t.sb.db.callEvent.findMany({ where: { callId, type: { startsWith: 'supervisor.listen' } } });
      return e.length === 2 ? e : null;
    });
    const data = events.map((e) => {
      const d: unknown = e.data;
      return { type: e.type, ...((typeof d === 'string' ? JSON.parse(d) : d) as Record<string, unknown>) };
    });
    expect(data).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'supervisor.listen.started', by: 'sue', side: 'both' }),
        expect.objectContaining({ type: 'supervisor.listen.stopped', by: 'sue', reason: 'call-ended' }),
      ]),
    );
  });
});

const pcmOf = (b: Buffer): Int16Array => new Int16Array(b.buffer, b.byteOffset, b.length / 2);

describe('the listen tap', () => {
  function fakeListener(side: Listener['side'], backlog = 0) {
    const written: Buffer[] = [];
    const ended: string[] = [];
    const res = {
      writableLength: backlog,
      write: (b: Buffer) => written.push(Buffer.from(b)),
      destroy: () => ended.push('destroyed'),
    };
    const l: Listener = {
      res: res as never,
      side,
      by: 'x',
      startedAt: 0,
      onEnd: (r) => ended.push(r),
    };
    return { l, written, ended, res };
  }

  const tone = (n: number, amp: number) =>
    Buffer.from(encodeMulaw(Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin(i / 3)))));

  /** What a listener was written, as the loudest sample of each 20 ms window. */
  const windows = (written: Buffer[]): number[] => {
    const pcm = pcmOf(Buffer.concat(written));
    const out: number[] = [];
    for (let i = 0; i + 160 <= pcm.length; i += 160) out.push(Math.max(...pcm.subarray(i, i + 160).map(Math.abs)));
    return out;
  };
  const silence = Buffer.alloc(160, 0xff); // mu-law 0xff = 0

  it('gives each side its own audio and mixes both at the caller pace, in 100 ms blocks', () => {
    const tap = new CallListenTap();
    const caller = fakeListener('caller');
    const agent = fakeListener('agent');
    const both = fakeListener('both');
    for (const x of [caller, agent, both]) tap.add(x.l);
    tap.agent(tone(400, 8000), PCMU_8K, 0); // agent audio arrives ahead of playback
    for (let ms = 0; ms < 80; ms += 20) tap.caller(silence, PCMU_8K, ms);
    expect(caller.written).toHaveLength(0); // 80 ms: the block is not full yet
    tap.caller(silence, PCMU_8K, 80);
    expect(caller.written.map((b) => b.length)).toEqual([1600]);
    expect(pcmOf(caller.written[0]).every((s) => Math.abs(s) < 10)).toBe(true);
    expect(windows(agent.written).map((m) => m > 5000)).toEqual([true, true, true, false, false]);
    expect(both.written[0]).toEqual(agent.written[0]);
  });

  it('writes one shared buffer per side and block to every listener of that side', () => {
    const tap = new CallListenTap();
    const ten = Array.from({ length: 10 }, (_, i) => fakeListener(i < 7 ? 'both' : 'caller'));
    for (const x of ten) tap.add(x.l);
    for (let ms = 0; ms < 1000; ms += 20) tap.caller(tone(160, 1000), PCMU_8K, ms);
    // One second of audio: 10 writes per listener (one per 100 ms), not 50.
    expect(ten.map((x) => x.written.length)).toEqual(Array(10).fill(10));
    expect(ten.every((x) => Buffer.concat(x.written).length === 16000)).toBe(true);
  });

  it('hands the last partial block to its listeners when the call ends', () => {
    const tap = new CallListenTap();
    const a = fakeListener('agent');
    const b = fakeListener('agent');
    tap.add(a.l);
    tap.add(b.l);
    tap.agent(tone(1200, 8000), PCMU_8K, 0);
    for (let ms = 0; ms < 140; ms += 20) tap.caller(silence, PCMU_8K, ms);
    tap.remove(a.l, 'call-ended');
    tap.remove(b.l, 'call-ended');
    expect(windows(a.written)).toHaveLength(7);
    expect(windows(b.written)).toEqual(windows(a.written));
    expect(windows(a.written).every((m) => m > 5000)).toBe(true);
  });

  it('drops a listener that falls behind, and does nothing without listeners', () => {
    const tap = new CallListenTap();
    const slow = fakeListener('both', 64 * 1024);
    const ok = fakeListener('both');
    tap.add(slow.l);
    tap.add(ok.l);
    for (let ms = 0; ms < 100; ms += 20) tap.caller(tone(160, 1000), PCMU_8K, ms);
    expect(slow.ended).toEqual(['slow', 'destroyed']);
    expect(tap.listeners.size).toBe(1);
    expect(ok.written).toHaveLength(1);
    expect(tap.dropped).toBe(1);
    tap.remove(ok.l, 'client');
    tap.agent(tone(8000, 1000), PCMU_8K, 100);
    for (let ms = 100; ms < 300; ms += 20) tap.caller(tone(160, 1000), PCMU_8K, ms);
    expect(ok.written).toHaveLength(1);
  });

  it('plays agent audio at the call time the caller hears it, and drops what a barge-in cut', () => {
    const tap = new CallListenTap();
    const agent = fakeListener('agent');
    tap.add(agent.l);
    // 100 ms of agent audio placed at 40 ms of the call (sent ahead of time, as engines do).
    tap.agent(tone(800, 8000), PCMU_8K, 40);
    for (let ms = 0; ms < 80; ms += 20) tap.caller(silence, PCMU_8K, ms);
    // A barge-in at 80 ms: the caller never hears 80–140 ms, so neither does the listener.
    tap.cut(80);
    for (let ms = 80; ms < 160; ms += 20) tap.caller(silence, PCMU_8K, ms);
    // Audio of the next answer, placed after the cut, is heard again.
    tap.agent(tone(160, 8000), PCMU_8K, 160);
    for (let ms = 160; ms < 200; ms += 20) tap.caller(silence, PCMU_8K, ms);
    const heard = windows(agent.written).map((m) => (m > 5000 ? 'agent' : m < 10 ? '-' : '?'));
    // 0–40 ms nothing yet; 40–80 the agent, when the caller hears it; 80–160 cut; 160–180 the next answer.
    expect(heard).toEqual(['-', '-', 'agent', 'agent', '-', '-', '-', '-', 'agent', '-']);
  });

  it('reads PCM16 at 16 kHz as 8 kHz', () => {
    const pcm = Int16Array.from({ length: 320 }, (_, i) => i);
    const out = toPcm8k(Buffer.from(pcm.buffer), PCM16_16K);
    expect(out.length).toBe(160);
    expect(out[1]).toBe(2);
  });
});
