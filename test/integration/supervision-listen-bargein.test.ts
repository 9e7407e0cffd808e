/**
 * Listen in across a barge-in, over real sockets (Twilio simulator → app → local Realtime server):
 * the caller talks over a long agent answer, the channel's queue is cleared (the caller never hears
 * the rest), and a supervisor listening to the agent side must hear of that answer what the caller
 * heard, no more. The answer's audio comes right after the process stood still (as a loaded
 * machine, a long GC or a slow synthesis makes it): the engine's audio is then handled before the
 * caller's frames that queued meanwhile, so the call's clock (the caller's media time) is stale by
 * the stall. Before the fix the answer was placed at that stale clock, earlier than the caller's
 * channel really played it, and the listener heard about the stall's length more of it than the
 * caller did (~600 ms here).
 */
import http from 'node:http';
import { decodeMulaw } from '../../src/audio/g711';
import { synthesize } from '../../src/simulators/tts';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const SUPERVISOR = 'super-token-bargein-0123456789';
const LONG_ANSWER =
  'Let me tell you everything about our plans. The basic plan includes unlimited calls, ten gigabytes of data, ' +
  'and free voicemail. The premium plan adds international roaming, fifty gigabytes of data, and priority support ' +
  'around the clock, every day of the year, with a dedicated account manager.';
/** The whole process stands still this long just before the long answer's first audio goes out. */
const STALL_MS = 600;

/** Loud 20 ms windows of 8 kHz PCM, as booleans. */
function loudWindows(pcm: Int16Array): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i + 160 <= pcm.length; i += 160) {
    let max = 0;
    for (let j = i; j < i + 160; j++) max = Math.max(max, Math.abs(pcm[j]));
    out.push(max > 1000);
  }
  return out;
}

/** Stretches of sound (in 20 ms windows) separated by at least 400 ms of silence. */
function stretches(loud: boolean[]): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  for (let i = 0; i < loud.length; i++) {
    if (!loud[i]) continue;
    const last = out.at(-1);
    if (last && i - last.to <= 20) last.to = i + 1;
    else out.push({ from: i, to: i + 1 });
  }
  return out;
}

const soundMs = (parts: { from: number; to: number }[]): number =>
  parts.reduce((ms, p) => ms + (p.to - p.from) * 20, 0);

describe('listen in across a barge-in', () => {
  let h: BridgeHarness;
  let responses = 0;
  beforeAll(async () => {
    // Synthesized once up front, so the only stall in the call is the test's own.
    for (const format of ['pcmu', 'pcm16-24k'] as const) await synthesize(LONG_ANSWER, { format, engine: 'tone' });
    h = await startBridgeHarness(
      {
        ttsEngine: 'tone',
        replies: ['Hello, how can I help?', LONG_ANSWER, 'Sure, what would you like to know?'],
        callerTranscripts: ['Tell me about your plans', 'Wait, stop, I have a question'],
        audioTap: {
          output(audio, offset) {
            if (offset === 0 && ++responses === 2) {
              const until = performance.now() + STALL_MS;
              while (performance.now() < until);
            }
            return audio;
          },
        },
      },
      { API_TOKENS: `supervisor:sue:${SUPERVISOR}` },
    );
  });
  afterAll(() => h.close());

  it('hears the cut answer exactly as long as the caller did, never the rest', async () => {
    const handle = h.call({
      script: [
        { untilAgentSilentMs: 600 },
        { say: 'Tell me about your plans' },
        { silenceMs: 3500 },
        { say: 'Wait, stop, I have a question' },
        { untilAgentSilentMs: 800 },
        { silenceMs: 200 },
      ],
    });
    // What the caller played of the cut answer: its played audio from the answer's first audio
    // (over a second after the greeting's last) to the clear.
    let answerFrom: number | undefined;
    let lastAudioAtMs: number | undefined;
    handle.events.on('agent-audio', ({ atMs }) => {
      if (answerFrom === undefined && lastAudioAtMs !== undefined && atMs - lastAudioAtMs > 1000)
        answerFrom = handle.receivedAudio.length;
      lastAudioAtMs = atMs;
    });
    let droppedBytes = 0;
    let callerHeard: Buffer = Buffer.alloc(0);
    handle.events.once('clear', (e: { droppedBytes: number }) => {
      droppedBytes = e.droppedBytes;
      callerHeard = handle.receivedAudio.subarray(answerFrom);
    });
    const callId = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({ where: { callSid: handle.callSid } });
      return c && h.t.sb.bridge.get(c.id)?.streaming ? c.id : null;
    });
    const chunks: Buffer[] = [];
    const ended = new Promise<number>((resolve, reject) => {
      const req = http.get(
        `${h.t.baseUrl}/api/calls/${callId}/listen?side=agent`,
        { headers: { Authorization: `Bearer ${SUPERVISOR}` } },
        (res) => {
          res.on('data', (b: Buffer) => chunks.push(b));
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
    });
    const summary = await handle.done;
    expect(await ended).toBe(200);
    expect(summary.ok).toBe(true);
    expect(summary.clears).toBe(1);
    expect(answerFrom).toBeDefined();
    // The caller's side really dropped agent audio it had queued (over half a second of it).
    expect(droppedBytes).toBeGreaterThan(4000);

    const bargeIn = await eventually(() => h.t.sb.db.callEvent.findFirst({ where: { callId, type: 'barge-in' } }));
    const data: unknown = bargeIn.data;
    const heardMs = ((typeof data === 'string' ? JSON.parse(data) : data) as { heardMs: number }).heardMs;
    expect(heardMs).toBeGreaterThan(1500);

    const all = Buffer.concat(chunks);
    const pcm = new Int16Array(all.buffer, all.byteOffset, Math.floor(all.length / 2));
    const parts = stretches(loudWindows(pcm));
    // The greeting, the cut answer (split where the machine was too slow to keep the caller's audio
    // flowing: the caller heard that gap too), the answer to the interruption.
    expect(parts.length).toBeGreaterThanOrEqual(3);
    const listenerMs = soundMs(parts.slice(1, -1));
    // Measured the same way on what the caller played (its played audio has no gaps: a gap where
    // its queue ran dry, which the listener hears as silence, is in summary.playbackGapMs).
    const callerMs = soundMs(stretches(loudWindows(decodeMulaw(callerHeard))));
    expect(callerMs).toBeGreaterThan(1500);
    // What the listener heard of the cut answer is what the caller heard of it: not the stall's
    // length more (the margin: the engine's audio reaches the caller a few ms after it is sent, and
    // the last 20 ms window of each side may fall either way of a word's pause).
    const detail = { listenerMs, callerMs, heardMs, droppedMs: droppedBytes / 8, gapMs: summary.playbackGapMs };
    expect({ ...detail, ok: listenerMs > callerMs - 200 }).toEqual({ ...detail, ok: true });
    expect({ ...detail, ok: listenerMs < callerMs + summary.playbackGapMs + 200 }).toEqual({ ...detail, ok: true });
  });
});
