/**
 * The AI endpoint misbehaving, over real sockets, asserting what the caller hears and what is
 * stored: refusing connections from the start, never answering the handshake, stalling mid-response
 * without closing (caught by AI_IDLE_TIMEOUT_MS), sending error events, answering slowly.
 * (A drop mid-call and a drop followed by refusals are proven in bridge-reconnect.test.ts.)
 */
import request from 'supertest';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const GREETING = 'Hello and welcome to the fault line.';

describe('AI endpoint faults', () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness(
      {
        ttsEngine: 'tone',
        // Audio at real-time pace, barely ahead: a stall always lands mid-response.
        leadMs: 100,
        replies: (ctx) => (ctx.callerText === '' && ctx.turn === 0 ? GREETING : 'I am here.'),
      },
      { AI_IDLE_TIMEOUT_MS: '2000', AI_CONNECT_TIMEOUT_MS: '500', AI_RECONNECT_ATTEMPTS: '3' },
    );
  });
  afterAll(() => h.close());
  afterEach(() => {
    h.ai.acceptConnections();
    h.ai.responseDelayMs = 0;
  });

  const endedCall = (callSid: string) =>
    eventually(
      () =>
        h.t.sb.db.call.findFirst({
          where: { callSid, endedAt: { not: null } },
          include: { events: true, transcripts: { orderBy: { startMs: 'asc' } }, recordings: true, analytics: true },
        }),
      20_000,
    );

  it('refusing every connection: the caller hears the apology TwiML, the call is stored as ai-unavailable, /health degrades', async () => {
    h.ai.refuseConnections('all');
    const handle = h.call({ callSid: 'CAaifault01', ttsEngine: 'tone', script: [{ silenceMs: 20_000 }] });
    const summary = await handle.done;
    expect(summary.closedBy).toBe('server');
    expect(summary.agentAudioMs).toBe(0);
    expect(summary.twiml).toMatch(/<\/Connect><Say[^>]*>[^<]*sorry/i);
    const call = await endedCall('CAaifault01');
    expect(call.endReason).toBe('ai-unavailable');
    expect(call.events.filter((e) => e.type === 'ai.reconnecting')).toHaveLength(3);
    expect(call.events.map((e) => e.type)).toContain('ai.failed');
    const health = await request(h.t.baseUrl).get('/health').expect(200);
    expect(health.body.status).toBe('degraded');
    expect(health.body.checks.ai.ok).toBe(false);
    expect(health.body.checks.ai.detail).toMatch(/lost the AI endpoint/);
  });

  it('a handshake that is never answered times out and is retried: the caller still hears the greeting', async () => {
    const sessionsBefore = h.ai.sessions.length;
    h.ai.holdConnections(1);
    const handle = h.call({
      callSid: 'CAaifault02',
      ttsEngine: 'tone',
      script: [{ untilAgentSilentMs: 400 }, { silenceMs: 200 }],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.closedBy).toBe('caller');
    expect(summary.agentAudioMs).toBeGreaterThan(1500);
    expect(h.ai.sessions.length).toBe(sessionsBefore + 1);
    const call = await endedCall('CAaifault02');
    expect(call.endReason).toBe('caller-hangup');
    const reconnecting = call.events.filter((e) => e.type === 'ai.reconnecting');
    expect(reconnecting).toHaveLength(1);
    expect((reconnecting[0].data as { reason: string }).reason).toMatch(/connect timeout/);
  });

  it('a socket that stalls mid-response without closing is caught by the idle timeout and replaced; the call goes on', async () => {
    const sessionsBefore = h.ai.sessions.length;
    const handle = h.call({
      callSid: 'CAaifault03',
      ttsEngine: 'tone',
      script: [{ untilAgentSilentMs: 400 }, { silenceMs: 2500 }, { say: 'x'.repeat(25) }, { untilAgentSilentMs: 500 }],
    });
    await new Promise((r) => handle.events.once('agent-audio', r));
    h.ai.stallConnections();
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.closedBy).toBe('caller');
    // A second session took over and answered the caller.
    expect(h.ai.sessions.length).toBe(sessionsBefore + 2);
    const call = await endedCall('CAaifault03');
    expect(call.endReason).toBe('caller-hangup');
    const reconnecting = call.events.filter((e) => e.type === 'ai.reconnecting');
    expect(reconnecting).toHaveLength(1);
    expect((reconnecting[0].data as { reason: string }).reason).toMatch(/no server message/);
    expect(call.events.map((e) => e.type)).toContain('ai.reconnected');
    expect(call.transcripts.filter((t) => t.speaker === 'agent').at(-1)?.text).toBe('I am here.');
    expect(call.recordings).toHaveLength(1);
  });

  it('error events are recorded on the timeline and the call goes on', async () => {
    const handle = h.call({
      callSid: 'CAaifault04',
      ttsEngine: 'tone',
      script: [{ untilAgentSilentMs: 300 }, { say: 'x'.repeat(25) }, { untilAgentSilentMs: 500 }],
    });
    await new Promise((r) => handle.events.once('agent-audio', r));
    h.ai.sendErrorEvent('the model had a hiccup');
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.closedBy).toBe('caller');
    const call = await endedCall('CAaifault04');
    expect(call.endReason).toBe('caller-hangup');
    const errors = call.events.filter((e) => e.type === 'ai.error');
    expect(errors).toHaveLength(1);
    expect(errors[0].data).toMatchObject({ code: 'server_error', message: 'the model had a hiccup' });
    expect(call.transcripts.filter((t) => t.speaker === 'agent').at(-1)?.text).toBe('I am here.');
  });

  it('a slow answer (1.2 s before any output, under the idle timeout) still reaches the caller, just later', async () => {
    h.ai.responseDelayMs = 1200;
    const handle = h.call({
      callSid: 'CAaifault05',
      ttsEngine: 'tone',
      script: [{ untilAgentSilentMs: 400 }],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.firstAgentAudioMs).not.toBeNull();
    expect(summary.firstAgentAudioMs!).toBeGreaterThanOrEqual(800);
    const call = await endedCall('CAaifault05');
    expect(call.events.filter((e) => e.type.startsWith('ai.'))).toHaveLength(0);
    expect(call.transcripts.filter((t) => t.speaker === 'agent')).toHaveLength(1);
  });
});
