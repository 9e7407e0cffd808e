/**
 * The Realtime session is replaced at its age limit mid-call (AI_SESSION_MAX_MS set to seconds):
 * at a turn boundary a new session is opened with the same configuration and the conversation so
 * far, the old one is closed, and the caller's next turn is answered by the new session. The call's
 * timeline shows `ai.session_replaced`; a planned replacement is not a drop (no reconnect counted).
 */
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

describe('an AI session replaced at its age limit mid-call', () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness(
      {
        ttsEngine: 'tone',
        replies: (ctx) => (ctx.callerText ? `Session ${ctx.sessionIndex} answers.` : 'Hello, thanks for calling.'),
      },
      { AI_SESSION_MAX_MS: '3000' },
    );
  });
  afterAll(() => h.close());

  it('goes on with the conversation on a new session, and the timeline shows it', async () => {
    const handle = h.call({
      script: [
        { untilAgentSilentMs: 600 },
        { silenceMs: 3000 },
        { say: 'I would like to know my balance' },
        { untilAgentSilentMs: 700 },
        { say: 'And my last payment please' },
        { untilAgentSilentMs: 700 },
        { silenceMs: 200 },
      ],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.closedBy).toBe('caller');

    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, events: true, analytics: true },
      });
      return c?.analytics ? c : null;
    });
    expect(call).toMatchObject({ status: 'completed', endReason: 'caller-hangup' });
    const types = call.events.map((e) => e.type);
    expect(types.filter((t) => t === 'ai.session_replaced').length).toBeGreaterThanOrEqual(1);
    expect(types).not.toContain('ai.reconnecting');
    expect(types).not.toContain('ai.reconnected');
    expect(types).not.toContain('ai.failed');

    // Every turn of the call is there, and the last answer came from a later session than the first.
    const speakers = call.transcripts.map((t) => t.speaker);
    expect(speakers).toEqual(['agent', 'caller', 'agent', 'caller', 'agent']);
    const agent = call.transcripts.filter((t) => t.speaker === 'agent').map((t) => t.text);
    expect(agent[0]).toBe('Hello, thanks for calling.');
    const sessionOf = (text: string): number => Number(/Session (\d+) answers/.exec(text)?.[1]);
    const sessions = h.ai.sessions;
    expect(sessions.length).toBeGreaterThanOrEqual(2);
    // The caller's last turn was answered by a session opened after the first one.
    const first = sessions[0];
    const last = sessions.find((s) => s.index === sessionOf(agent[2]))!;
    expect(last).toBeDefined();
    expect(last.index).toBeGreaterThan(first.index);
    expect(sessionOf(agent[2])).toBeGreaterThanOrEqual(sessionOf(agent[1]));

    // The new session got the same configuration and the conversation so far; the old one was closed.
    expect(last.sessionUpdates[0]).toEqual(first.sessionUpdates[0]);
    const contextTexts = last.contextItems.flatMap((item) =>
      item.type === 'message' ? item.content.map((c) => ('text' in c ? c.text : '')) : [],
    );
    expect(contextTexts).toContain('Hello, thanks for calling.');
    expect(first.closedAt).not.toBeNull();
    // No greeting on the new session: the caller already heard it.
    expect(last.responses.every((r) => r.text !== 'Hello, thanks for calling.')).toBe(true);
    expect(call.analytics!.interruptions).toBe(0);
  });
});
