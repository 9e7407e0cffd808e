/**
 * Take over on whole calls over real sockets: a supervisor transfers a live call (the AI's summary
 * comes back and goes on the timeline, the agent announces it, the stream closes and Twilio is told
 * to dial the configured number), or ends it politely (the agent's goodbye plays, then the hang-up).
 * Roles and bad requests.
 */
import request from 'supertest';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const SUPERVISOR = 'super-token-0123456789ab';
const VIEWER = 'viewer-token-0123456789';
const TRANSFER_TO = '+15550009999';

describe('take over a live call', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness(
      {
        ttsEngine: 'tone',
        replies: ['Hello, how can I help?', 'Let me check that.', 'One moment please, goodbye for now.'],
        callerTranscripts: ['I want a refund for my order'],
      },
      { API_TOKENS: `supervisor:sue:${SUPERVISOR},read-only:${VIEWER}`, TRANSFER_NUMBER: TRANSFER_TO },
    );
  });
  afterAll(() => h.close());

  const sup = (): [string, string] => ['Authorization', `Bearer ${SUPERVISOR}`];

  async function liveCallAfterFirstAnswer(handle: ReturnType<BridgeHarness['call']>): Promise<string> {
    return eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({ where: { callSid: handle.callSid }, include: { transcripts: true } });
      return c && c.transcripts.filter((t) => t.speaker === 'agent').length >= 2 ? c.id : null;
    }, 20000);
  }

  async function ended(callId: string) {
    return eventually(async () => {
      const c = await h.t.sb.db.call.findUnique({
        where: { id: callId },
        include: { events: true, transcripts: { orderBy: { startMs: 'asc' } } },
      });
      return c?.endedAt ? c : null;
    }, 20000);
  }

  const eventData = (e: { data: unknown }): Record<string, unknown> =>
    (typeof e.data === 'string' ? JSON.parse(e.data) : e.data) as Record<string, unknown>;

  it('refuses without a supervisor token, a bad action or destination, and a call that is not live', async () => {
    const call = await h.t.sb.callManager.createCall({ from: '+15550000001' });
    const url = `/api/calls/${call.id}/take-over`;
    await request(h.t.baseUrl).post(url).send({ action: 'end' }).expect(401);
    await request(h.t.baseUrl).post(url).set('Authorization', `Bearer ${VIEWER}`).send({ action: 'end' }).expect(403);
    for (const [body, field] of [
      [{}, 'action'],
      [{ action: 'explode' }, 'action'],
      [{ action: 'transfer', destination: '../x' }, 'destination'],
      [{ action: 'transfer', destination: 42 }, 'destination'],
    ] as const) {
      const res = await request(h.t.baseUrl)
        .post(url)
        .set(...sup())
        .send(body)
        .expect(400);
      expect(res.body.error.field).toBe(field);
    }
    await request(h.t.baseUrl)
      .post(url)
      .set(...sup())
      .send({ action: 'end' })
      .expect(404);
  });

  it('transfers with the AI summary: announced, then dialled to the configured number', async () => {
    const handle = h.call({
      script: [{ untilAgentSilentMs: 500 }, { say: 'I want a refund for my order' }, { silenceMs: 20000 }],
    });
    const callId = await liveCallAfterFirstAnswer(handle);
    const unknown = await request(h.t.baseUrl)
      .post(`/api/calls/${callId}/take-over`)
      .set(...sup())
      .send({ action: 'transfer', destination: 'nope' })
      .expect(400);
    expect(unknown.body.error.field).toBe('destination');
    const res = await request(h.t.baseUrl)
      .post(`/api/calls/${callId}/take-over`)
      .set(...sup())
      .send({ action: 'transfer' })
      .expect(202);
    expect(res.body).toMatchObject({ callId, action: 'transfer', destination: 'default', by: 'sue' });
    expect(typeof res.body.summary).toBe('string');
    expect(res.body.summary.length).toBeGreaterThan(0);
    const summary = await handle.done;
    expect(summary.closedBy).toBe('server');
    expect(summary.afterStreamTwiml).toContain(`<Dial><Number>${TRANSFER_TO}</Number></Dial>`);
    const call = await ended(callId);
    expect(call.endReason).toBe('transferred');
    const takeover = call.events.filter((e) => e.type === 'supervisor.takeover').map(eventData);
    expect(takeover).toEqual([
      expect.objectContaining({ by: 'sue', action: 'transfer', destination: 'default', summary: res.body.summary }),
    ]);
    // The announcement was spoken before the transfer.
    expect(call.transcripts.filter((t) => t.speaker === 'agent').length).toBeGreaterThanOrEqual(3);
  });

  it('ends a call politely: the goodbye plays, then the hang-up', async () => {
    const handle = h.call({
      script: [{ untilAgentSilentMs: 500 }, { say: 'I want a refund for my order' }, { silenceMs: 20000 }],
    });
    const callId = await liveCallAfterFirstAnswer(handle);
    await request(h.t.baseUrl)
      .post(`/api/Calls/${callId}/Take-Over/`)
      .set(...sup())
      .send({ action: 'end' })
      .expect(202);
    const summary = await handle.done;
    expect(summary.closedBy).toBe('server');
    expect(summary.durationMs).toBeLessThan(20000);
    const call = await ended(callId);
    expect(call.endReason).toBe('agent-hangup');
    expect(call.events.filter((e) => e.type === 'supervisor.takeover').map(eventData)).toEqual([
      expect.objectContaining({ by: 'sue', action: 'end' }),
    ]);
    const agent = call.transcripts.filter((t) => t.speaker === 'agent');
    expect(agent.length).toBeGreaterThanOrEqual(3);
    expect(agent[agent.length - 1].interrupted).toBe(false);
  });
});
