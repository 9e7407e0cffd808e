/**
 * Whisper on a whole call over real sockets (Twilio simulator → app → local Realtime server): the
 * supervisor's guidance reaches the engine as context and the agent's next reply reflects it (the
 * local AI quotes it), the caller hears nothing at whisper time, and the note is on the timeline and
 * on the live stream, named by the supervisor's token name.
 */
import request from 'supertest';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { connectSse } from '../../scripts/lib/sse-client';

const ALICE = 'alice-token-0123456789ab';
const VIEWER = 'viewer-token-0123456789';
const GREETING = 'Hello, thanks for calling. How can I help?';
const REPLY = 'Let me look into that for you.';
const GUIDANCE = 'Offer the 10% retention discount';

describe('whisper to the agent', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: [GREETING, REPLY], callerTranscripts: ['I want to cancel my account'] },
      { API_TOKENS: `supervisor:alice:${ALICE},read-only:viewer:${VIEWER}` },
    );
  });
  afterAll(() => h.close());

  it("reaches the agent's next reply, never the caller, and is recorded as a supervisor note", async () => {
    const sse = await connectSse(`${h.t.baseUrl}/api/status?access_token=${VIEWER}`);
    let handle: ReturnType<BridgeHarness['call']> | undefined;
    try {
      const live = h.call({
        script: [
          { untilAgentSilentMs: 600 },
          { silenceMs: 4000 },
          { say: 'I want to cancel my account' },
          { untilAgentSilentMs: 800 },
        ],
      });
      handle = live;
      const db = h.t.sb.db;
      // The greeting has been spoken: the call is live.
      const call = await eventually(async () => {
        const c = await db.call.findFirst({ where: { callSid: live.callSid }, include: { transcripts: true } });
        return c && c.transcripts.some((t) => t.speaker === 'agent') ? c : null;
      });
      const agentBytesBefore = live.receivedAudio.length;
      const res = await request(h.t.baseUrl)
        .post(`/api/calls/${call.id}/whisper`)
        .set('Authorization', `Bearer ${ALICE}`)
        .send({ text: `  ${GUIDANCE}  ` })
        .expect(202);
      expect(res.body).toMatchObject({ callId: call.id, by: 'alice' });
      const note = await sse.waitFor((m) => m.event === 'supervisor.note');
      expect((note.json as { data: unknown }).data).toMatchObject({ callId: call.id, by: 'alice', text: GUIDANCE });
      // Nothing is said to the caller because of the whisper itself (no response is asked for).
      await new Promise((r) => setTimeout(r, 1200));
      expect(live.receivedAudio.length).toBe(agentBytesBefore);

      const summary = await live.done;
      expect(summary.ok).toBe(true);
      const done = await eventually(async () => {
        const c = await db.call.findUnique({
          where: { id: call.id },
          include: { transcripts: { orderBy: { startMs: 'asc' } }, events: true, analytics: true },
        });
        return c?.analytics ? c : null;
      });
      const agent = done.transcripts.filter((t) => t.speaker === 'agent').map((t) => t.text);
      expect(agent).toEqual([GREETING, `Following my supervisor's note: ${GUIDANCE}. ${REPLY}`]);
      // The caller's side never contains the guidance.
      for (const t of done.transcripts.filter((x) => x.speaker !== 'agent')) expect(t.text).not.toContain('discount');
      const whispers = done.events.filter((e) => e.type === 'supervisor.whisper');
      expect(whispers).toHaveLength(1);
      const data: unknown = whispers[0].data;
      expect(typeof data === 'string' ? JSON.parse(data) : data).toMatchObject({
        by: 'alice',
        role: 'supervisor',
        text: GUIDANCE,
      });
      // The engine got it as a system item, exactly once.
      const systemItems = h.ai.sessions
        .flatMap((s) => s.contextItems)
        .filter((i) => (i as { role?: string }).role === 'system');
      expect(systemItems).toHaveLength(1);
    } finally {
      sse.close();
      await handle?.hangup().catch(() => undefined);
    }
  });

  it('survives an AI reconnect: the new session is given the guidance again and the next reply follows it', async () => {
    let handle: ReturnType<BridgeHarness['call']> | undefined;
    try {
      const live = h.call({
        script: [
          { untilAgentSilentMs: 600 },
          { silenceMs: 5000 },
          { say: 'I want to cancel my account' },
          { untilAgentSilentMs: 800 },
        ],
      });
      handle = live;
      const db = h.t.sb.db;
      const call = await eventually(async () => {
        const c = await db.call.findFirst({ where: { callSid: live.callSid }, include: { transcripts: true } });
        return c && c.transcripts.some((t) => t.speaker === 'agent') ? c : null;
      });
      await request(h.t.baseUrl)
        .post(`/api/calls/${call.id}/whisper`)
        .set('Authorization', `Bearer ${ALICE}`)
        .send({ text: GUIDANCE })
        .expect(202);
      await eventually(async () => (h.ai.sessions.some((x) => x.contextItems.length > 0) ? true : null));
      const before = h.ai.sessions.slice();
      // The AI connection drops before the caller's next turn: a new session must still know the guidance.
      h.ai.dropAllConnections();
      const fresh = await eventually(async () => h.ai.sessions.find((x) => !before.includes(x)) ?? null);
      const notes = () =>
        fresh.contextItems.filter(
          (i) => (i as { role?: string }).role === 'system' && JSON.stringify(i).includes(GUIDANCE),
        );
      await eventually(async () => (notes().length > 0 ? true : null));
      expect(notes()).toHaveLength(1);
      expect((await live.done).ok).toBe(true);
      const done = await eventually(async () => {
        const c = await db.call.findUnique({
          where: { id: call.id },
          include: { transcripts: { orderBy: { startMs: 'asc' } }, events: true, analytics: true },
        });
        return c?.analytics ? c : null;
      });
      expect(done.events.some((e) => e.type === 'ai.reconnected')).toBe(true);
      const agent = done.transcripts.filter((t) => t.speaker === 'agent').map((t) => t.text);
      expect(agent[agent.length - 1]).toContain(GUIDANCE);
    } finally {
      await handle?.hangup().catch(() => undefined);
    }
  });
});
