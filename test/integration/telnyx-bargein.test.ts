/**
 * Barge-in and an AI drop on Telnyx calls, over real sockets: the same behaviour as Twilio calls,
 * through Telnyx's clear and mark frames.
 */
import { eventually } from '../../scripts/lib/bridge-harness';
import { startTelnyxHarness, type TelnyxHarness } from '../../scripts/lib/telnyx-harness';

const LONG_ANSWER =
  'Let me tell you everything about our plans. The basic plan includes unlimited calls, ten gigabytes of data, ' +
  'and free voicemail. The premium plan adds international roaming, fifty gigabytes of data, and priority support ' +
  'around the clock, every day of the year, with a dedicated account manager.';

describe('barge-in on a Telnyx call', () => {
  let h: TelnyxHarness;

  beforeAll(async () => {
    h = await startTelnyxHarness({
      replies: [LONG_ANSWER, 'Sure, what would you like to know?'],
      callerTranscripts: ['Wait, stop, I have a question'],
    });
  });
  afterAll(() => h.close());

  it('sends clear, cancels, truncates at the acknowledged position and stores the agent turn as heard', async () => {
    const handle = h.telnyxCall({
      script: [
        { waitForAgentMs: 2500 },
        { say: 'Wait, stop, I have a question' },
        { untilAgentSilentMs: 800 },
        { silenceMs: 200 },
      ],
    });
    const summary = await handle.done;
    expect(summary.errors).toEqual([]);
    expect(summary.clears).toBe(1);
    expect(summary.marksEchoedOnClear).toBeGreaterThan(0);

    const session = h.ai.sessions[h.ai.sessions.length - 1];
    expect(session.cancels).toBeGreaterThanOrEqual(1);
    expect(session.truncates).toHaveLength(1);
    const truncate = session.truncates[0];
    expect(truncate.audio_end_ms).toBeGreaterThan(1500);

    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callControlId },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, analytics: true, events: true },
      });
      return c?.analytics ? c : null;
    });
    const cut = call.transcripts.find((t) => t.speaker === 'agent' && t.interrupted);
    expect(cut).toBeDefined();
    expect(`${cut!.text} ${cut!.unheardText}`).toBe(LONG_ANSWER);
    expect(cut!.endMs! - cut!.startMs).toBe(truncate.audio_end_ms);
    // Never beyond what the caller heard of the first answer (played by the simulator before the clear).
    const second = call.transcripts.filter((t) => t.speaker === 'agent' && !t.interrupted).at(-1)!;
    const heardFirstMs = summary.agentAudioBytes / 8 - (second.endMs! - second.startMs);
    expect(truncate.audio_end_ms).toBeLessThanOrEqual(heardFirstMs + 1);
    expect(call.analytics!.interruptions).toBe(1);
    expect(call.events.find((e) => e.type === 'barge-in')?.data).toMatchObject({ heardMs: truncate.audio_end_ms });
    expect(second.text).toBe('Sure, what would you like to know?');
  });
});

describe('the AI dropping during a Telnyx call', () => {
  let h: TelnyxHarness;

  beforeAll(async () => {
    h = await startTelnyxHarness({
      replies: (ctx) =>
        ctx.sessionIndex === 0
          ? ['Hello, how can I help?', 'Let me look at your invoice.'][Math.min(ctx.turn, 1)]
          : 'I still remember you asked about your invoice.',
      callerTranscripts: ['I have a question about my invoice'],
    });
  });
  afterAll(() => h.close());

  it('reconnects with the conversation so far while the Telnyx stream stays up', async () => {
    const handle = h.telnyxCall({
      script: [
        { untilAgentSilentMs: 500 },
        { say: 'I have a question about my invoice' },
        { untilAgentSilentMs: 500 },
        { silenceMs: 1500 },
        { say: 'Are you still there?' },
        { untilAgentSilentMs: 600 },
        { silenceMs: 200 },
      ],
    });
    await eventually(() => h.ai.sessions.length === 1 && h.ai.sessions[0].responses.length >= 2, 20000);
    h.ai.dropAllConnections();
    const summary = await handle.done;
    expect(summary.errors).toEqual([]);
    expect(summary.closedBy).toBe('caller');
    expect(h.ai.sessions.length).toBe(2);
    expect(JSON.stringify(h.ai.sessions[1].contextItems)).toContain('I have a question about my invoice');

    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callControlId },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, events: true, analytics: true },
      });
      return c?.analytics ? c : null;
    });
    expect(call).toMatchObject({ status: 'completed', endReason: 'caller-hangup' });
    const types = call.events.map((e) => e.type);
    expect(types).toContain('ai.reconnecting');
    expect(types).toContain('ai.reconnected');
    expect(call.transcripts.at(-1)).toMatchObject({
      speaker: 'agent',
      text: 'I still remember you asked about your invoice.',
    });
  });
});
