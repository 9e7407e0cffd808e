/**
 * The Realtime keepalive, through the whole bridge: AI_KEEPALIVE_MS reaches the engine's client, so
 * an AI connection that goes dead between responses (no close, no events, no pong: a black-holed
 * route) is noticed within about two intervals and re-made mid-call, and the caller's next turn is
 * answered. If the setting were ignored (the 10 s default, or no pings at all), the dead connection
 * would not be noticed within this test's window and the caller's turn would go unanswered.
 */
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const KEEPALIVE_MS = 200;

describe('AI keepalive through the bridge', () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: (ctx) => (ctx.callerText ? 'I can help with that.' : 'Hello, how can I help?') },
      // The idle watch only runs during a response; the connection dies between responses here.
      { AI_KEEPALIVE_MS: String(KEEPALIVE_MS), AI_IDLE_TIMEOUT_MS: '60000' },
    );
  });
  afterAll(() => h.close());

  it('re-makes a connection that stopped answering pings between responses, and the call goes on', async () => {
    let blackholedAt = 0;
    const handle = h.call({
      script: [
        { untilAgentSilentMs: 600 },
        { silenceMs: 1500 },
        { say: 'Can you help me please' },
        { untilAgentSilentMs: 800 },
      ],
    });
    await eventually(() => h.ai.sessions.length === 1 && h.ai.sessions[0].responses[0]?.status === 'completed', 15000);
    h.ai.blackholeConnections();
    blackholedAt = Date.now();
    // Noticed within two intervals (plus the reconnect's own backoff and handshake).
    await eventually(() => h.ai.sessions.length === 2, 10 * KEEPALIVE_MS + 2000);
    const noticedAfterMs = Date.now() - blackholedAt;
    expect(noticedAfterMs).toBeLessThan(10 * KEEPALIVE_MS + 2000);

    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, events: true, analytics: true },
      });
      return c?.analytics ? c : null;
    });
    const reconnecting = call.events.filter((e) => e.type === 'ai.reconnecting');
    expect(reconnecting).toHaveLength(1);
    expect(JSON.stringify(reconnecting[0].data)).toMatch(new RegExp(`no pong within ${KEEPALIVE_MS} ms`));
    expect(call.events.some((e) => e.type === 'ai.reconnected')).toBe(true);
    expect(call.status).toBe('completed');
    // The caller's turn after the drop was heard and answered on the new connection.
    expect(call.transcripts.map((t) => [t.speaker, t.text])).toEqual([
      ['agent', 'Hello, how can I help?'],
      ['caller', expect.any(String)],
      ['agent', 'I can help with that.'],
    ]);
    expect(h.ai.sessions[1].responses.map((r) => r.text)).toEqual(['I can help with that.']);
  });
});
