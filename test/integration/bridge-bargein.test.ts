/**
 * Barge-in over real sockets: the caller talks over a long agent answer.
 */
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const LONG_ANSWER =
  'Let me tell you everything about our plans. The basic plan includes unlimited calls, ten gigabytes of data, ' +
  'and free voicemail. The premium plan adds international roaming, fifty gigabytes of data, and priority support ' +
  'around the clock, every day of the year, with a dedicated account manager.';

describe('barge-in', () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness({
      replies: [LONG_ANSWER, 'Sure, what would you like to know?'],
      callerTranscripts: ['Wait, stop, I have a question'],
    });
  });
  afterAll(() => h.close());

  it('sends clear + cancel + truncate at the acknowledged position and stores the agent turn as heard', async () => {
    const handle = h.call({
      script: [
        // Talk over the answer once 2.5 s of it has played, however late it starts (a fixed wait
        // left only 1.5 s heard under CI load).
        { waitForAgentMs: 15_000, untilAgentHeardMs: 2500 },
        { say: 'Wait, stop, I have a question' },
        { untilAgentSilentMs: 800 },
        { silenceMs: 200 },
      ],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.clears).toBe(1);
    expect(summary.marksEchoedOnClear).toBeGreaterThan(0);

    const session = h.ai.sessions[h.ai.sessions.length - 1];
    expect(session.cancels).toBeGreaterThanOrEqual(1);
    expect(session.truncates).toHaveLength(1);
    const truncate = session.truncates[0];
    // Truncated where the caller stopped hearing: after the ~2.5 s they heard, well before the whole answer.
    expect(truncate.audio_end_ms).toBeGreaterThan(1500);
    expect(truncate.audio_end_ms).toBeLessThan(summary.agentAudioReceivedMs);
    // Never beyond what the caller actually heard (what the simulator played before the clear).
    const firstTurnHeardMs = summary.agentAudioMs - (await secondAnswerMs(h, summary.callSid));
    expect(truncate.audio_end_ms).toBeLessThanOrEqual(firstTurnHeardMs + 1);

    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, analytics: true, events: true },
      });
      return c?.analytics ? c : null;
    });
    const cut = call.transcripts.find((t) => t.speaker === 'agent' && t.interrupted);
    expect(cut).toBeDefined();
    expect(cut!.text.length).toBeGreaterThan(0);
    expect(cut!.unheardText!.length).toBeGreaterThan(0);
    expect(`${cut!.text} ${cut!.unheardText}`).toBe(LONG_ANSWER);
    expect(LONG_ANSWER.startsWith(cut!.text)).toBe(true);
    expect(cut!.endMs! - cut!.startMs).toBe(truncate.audio_end_ms);
    expect(call.analytics!.interruptions).toBe(1);
    const bargeIn = call.events.find((e) => e.type === 'barge-in');
    expect(bargeIn).toBeDefined();
    expect(bargeIn!.data).toMatchObject({ itemId: truncate.item_id, heardMs: truncate.audio_end_ms });
    expect(bargeIn!.offsetMs).toBeGreaterThan(1500);
    // The agent answered the interruption after it.
    expect(call.transcripts.at(-1)).toMatchObject({
      speaker: 'agent',
      text: 'Sure, what would you like to know?',
      interrupted: false,
    });
  });
});

/** Duration of the agent's answer after the barge-in, from its stored transcript row. */
async function secondAnswerMs(h: BridgeHarness, callSid: string): Promise<number> {
  const call = await eventually(() =>
    h.t.sb.db.call.findFirst({ where: { callSid, endedAt: { not: null } }, include: { transcripts: true } }),
  );
  const last = call.transcripts.filter((t) => t.speaker === 'agent' && !t.interrupted).at(-1);
  return last ? last.endMs! - last.startMs : 0;
}
