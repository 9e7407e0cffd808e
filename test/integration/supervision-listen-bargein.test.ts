/**
 * Listen in across a barge-in, over real sockets (Twilio simulator → app → local Realtime server):
 * the caller talks over a long agent answer, the channel's queue is cleared (the caller never hears
 * the rest), and a supervisor listening to the agent side must not hear that rest either. Before the
 * fix the tap played agent audio as the engine sent it, up to a second ahead of the caller, so at a
 * barge-in listeners had heard about a second of the answer the caller never did.
 */
import http from 'node:http';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const SUPERVISOR = 'super-token-bargein-0123456789';
const LONG_ANSWER =
  'Let me tell you everything about our plans. The basic plan includes unlimited calls, ten gigabytes of data, ' +
  'and free voicemail. The premium plan adds international roaming, fifty gigabytes of data, and priority support ' +
  'around the clock, every day of the year, with a dedicated account manager.';

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

describe('listen in across a barge-in', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness(
      {
        ttsEngine: 'tone',
        replies: ['Hello, how can I help?', LONG_ANSWER, 'Sure, what would you like to know?'],
        callerTranscripts: ['Tell me about your plans', 'Wait, stop, I have a question'],
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
    const callId = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({ where: { callSid: handle.callSid } });
      return c && h.t.sb.bridge.get(c.id)?.streaming ? c.id : null;
    });
    let droppedBytes = 0;
    handle.events.once('clear', (e: { droppedBytes: number }) => (droppedBytes = e.droppedBytes));
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
    const cutAnswerMs = parts.slice(1, -1).reduce((ms, p) => ms + (p.to - p.from) * 20, 0);
    const droppedMs = droppedBytes / 8;
    // What the listener heard of the cut answer is what the caller heard of it. Before the fix it was
    // about droppedMs more: the audio the engine had sent ahead, which the caller never heard.
    expect(cutAnswerMs).toBeGreaterThan(heardMs - 300);
    // (The margin is a share of what was dropped: a loaded machine stretches the heard audio by a few
    // hundred ms, never by the whole dropped lead.)
    expect(cutAnswerMs).toBeLessThan(heardMs + droppedMs * 0.75);
  });
});
