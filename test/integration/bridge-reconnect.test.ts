/**
 * The AI connection failing mid-call, over real sockets.
 */
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

describe('AI connection dropped mid-call', () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness({
      // A new session answers from the context it was given: proof that the conversation came along.
      replies: (ctx) =>
        ctx.sessionIndex === 0
          ? ['Hello, how can I help?', 'Let me look at your invoice.'][Math.min(ctx.turn, 1)]
          : 'I still remember you asked about your invoice.',
      callerTranscripts: ['I have a question about my invoice'],
    });
  });
  afterAll(() => h.close());

  it('reconnects with the configuration and the conversation so far while the phone call stays up', async () => {
    const handle = h.call({
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
    // Drop the AI socket once the first exchange is over (the caller is in the silence).
    await eventually(
      () =>
        h.ai.sessions.length === 1 && h.ai.sessions[0].truncates.length === 0 && h.ai.sessions[0].responses.length >= 2,
      20000,
    );
    const sessionsBefore = h.ai.sessions.length;
    h.ai.dropAllConnections();
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.closedBy).toBe('caller');

    expect(h.ai.sessions.length).toBe(sessionsBefore + 1);
    const second = h.ai.sessions[h.ai.sessions.length - 1];
    // Same configuration, and the conversation so far as context.
    expect(second.sessionUpdates[0]).toEqual(h.ai.sessions[0].sessionUpdates[0]);
    const context = JSON.stringify(second.contextItems);
    expect(context).toContain('I have a question about my invoice');
    expect(context).toContain('Hello, how can I help?');
    expect(second.appends).toBeGreaterThan(50);

    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, events: true, analytics: true },
      });
      return c?.analytics ? c : null;
    });
    expect(call).toMatchObject({ status: 'completed', endReason: 'caller-hangup' });
    const types = call.events.map((e) => e.type);
    expect(types).toContain('ai.reconnecting');
    expect(types).toContain('ai.reconnected');
    const callerTurns = call.transcripts.filter((t) => t.speaker === 'caller');
    expect(callerTurns).toHaveLength(2);
    expect(callerTurns[0].text).toBe('I have a question about my invoice');
    expect(call.transcripts.at(-1)).toMatchObject({
      speaker: 'agent',
      text: 'I still remember you asked about your invoice.',
    });
  });
});

describe('AI connection lost for good', () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness({ replies: ['Hello, how can I help?'] }, { AI_RECONNECT_ATTEMPTS: '2' });
  });
  afterAll(() => h.close());

  it('closes the stream after the last failed attempt so the fallback plays, and ends the call with the reason', async () => {
    const handle = h.call({ script: [{ untilAgentSilentMs: 400 }, { silenceMs: 20000 }] });
    await eventually(() => h.ai.sessions.length === 1 && h.ai.sessions[0].responses.length >= 1, 15000);
    h.ai.refuseConnections('all');
    h.ai.dropAllConnections();
    const summary = await handle.done;
    expect(summary.closedBy).toBe('server');
    expect(summary.durationMs).toBeLessThan(15000);

    const call = await eventually(() =>
      h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid, endedAt: { not: null } },
        include: { events: true },
      }),
    );
    expect(call.endReason).toBe('ai-unavailable');
    expect(call.events.filter((e) => e.type === 'ai.reconnecting')).toHaveLength(2);
    expect(call.events.map((e) => e.type)).toContain('ai.failed');
    // The TwiML given to Twilio has the apology after <Connect>: it plays when we close the stream.
    expect(summary.twiml).toMatch(/<\/Connect><Say[^>]*>[^<]*sorry/i);
  });
});
