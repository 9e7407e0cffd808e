/**
 * Alert rules on whole calls over real sockets (Twilio simulator → app → local Realtime server).
 * Rules come from ALERT_RULES_FILE; each call below is built to trigger some rules, and each of
 * those fires exactly once (on the timeline, as SSE alert.fired, in /metrics); a normal call fires
 * none. Then /api/alert-rules: roles, validation, write-back to the file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { connectSse, type SseConnection } from '../../scripts/lib/sse-client';
import type { CallScriptStep } from '../../src/simulators/twilio-caller';

const ADMIN = 'admin-token-0123456789ab';
const VIEWER = 'viewer-token-0123456789';
const SUPERVISOR = 'super-token-0123456789ab';

const RULES = [
  { id: 'dead', kind: 'dead-air', seconds: 3 },
  { id: 'slow', kind: 'slow-response', ms: 1500, turns: 2 },
  { id: 'upset', kind: 'negative-sentiment' },
  { id: 'barge', kind: 'barge-ins', count: 2 },
  { id: 'storm', kind: 'reconnect-storm', count: 2, withinSec: 60 },
  { id: 'legal', kind: 'keyword', phrases: ['lawyer', 'cancel my account'] },
  { id: 'long', kind: 'long-call', minutes: 0.2 },
];

const SHORT = 'Sure, one moment.';
const LONG =
  'Let me explain our plans in detail. The basic plan includes unlimited calls, the premium plan adds ' +
  'international minutes and priority support, and the family plan covers up to five lines with shared data.';

describe('alert rules on live calls', () => {
  let h: BridgeHarness;
  let dir: string;
  let file: string;
  let sse: SseConnection;
  /** Alerts fired per rule over every call of this file (the /metrics counters must agree). */
  const tally = new Map<string, number>();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sb-alerts-'));
    file = path.join(dir, 'alert-rules.json');
    writeFileSync(file, JSON.stringify({ rules: RULES }));
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hello, how can I help?', SHORT] },
      {
        ALERT_RULES_FILE: file,
        API_TOKENS: `admin:${ADMIN},read-only:viewer:${VIEWER},supervisor:sue:${SUPERVISOR}`,
        AI_RECONNECT_BASE_MS: '50',
      },
    );
    sse = await connectSse(`${h.t.baseUrl}/api/status?access_token=${VIEWER}`);
  });
  afterAll(async () => {
    sse.close();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Places a call, runs `during` while it is live, and returns the rule ids fired on it (timeline). */
  async function alertsOf(
    script: CallScriptStep[],
    opts: { callerTranscripts?: string[]; replies?: string[]; during?: () => Promise<void> } = {},
  ): Promise<string[]> {
    h.ai.opts.callerTranscripts = opts.callerTranscripts ?? ['I would like to check my order please'];
    h.ai.opts.replies = opts.replies ?? ['Hello, how can I help?', SHORT];
    const handle = h.call({ script });
    try {
      if (opts.during) await opts.during();
      const summary = await handle.done;
      expect(summary.ok).toBe(true);
    } finally {
      await handle.hangup().catch(() => undefined);
    }
    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: handle.callSid },
        include: { events: true, analytics: true },
      });
      return c?.analytics ? c : null;
    }, 20000);
    // Transcripts committed just before the end are still checked: give them a moment.
    await new Promise((r) => setTimeout(r, 500));
    const events = await h.t.sb.db.callEvent.findMany({ where: { callId: call.id, type: 'alert.fired' } });
    const ids = events.map((e) => {
      const data: unknown = e.data;
      return (typeof data === 'string' ? JSON.parse(data) : data) as { ruleId: string };
    });
    const fired = ids.map((d) => d.ruleId).sort();
    // No rule fires twice on one call (every rule here has cooldownSec 0).
    expect(new Set(fired).size).toBe(fired.length);
    for (const id of fired) tally.set(id, (tally.get(id) ?? 0) + 1);
    // Every alert also went out live.
    for (const ruleId of fired)
      expect(
        sse.messages.some(
          (m) =>
            m.event === 'alert.fired' &&
            (m.json as { data: { callId: string; ruleId: string } }).data.callId === call.id &&
            (m.json as { data: { ruleId: string } }).data.ruleId === ruleId,
        ),
      ).toBe(true);
    return fired;
  }

  it('fires nothing on a normal call', async () => {
    const fired = await alertsOf([
      { untilAgentSilentMs: 500 },
      { say: 'I would like to check my order please' },
      { untilAgentSilentMs: 500 },
      { silenceMs: 300 },
    ]);
    expect(fired).toEqual([]);
  });

  it('fires the keyword and the negative-sentiment rules once each, however often they match', async () => {
    const fired = await alertsOf(
      [
        { untilAgentSilentMs: 500 },
        { say: 'This is terrible, I want my lawyer' },
        { untilAgentSilentMs: 500 },
        { say: 'Awful service, cancel my account' },
        { untilAgentSilentMs: 500 },
        { silenceMs: 300 },
      ],
      {
        callerTranscripts: [
          'This is terrible and awful, I want to talk to my lawyer',
          'Awful, horrible service. Cancel   my ACCOUNT now',
        ],
      },
    );
    expect(fired).toEqual(['legal', 'upset']);
  });

  it('fires dead air and long call once each on a long silent call', async () => {
    const fired = await alertsOf([{ untilAgentSilentMs: 500 }, { silenceMs: 13000 }]);
    expect(fired).toEqual(['dead', 'long']);
  });

  it('fires slow response once when the agent is slow twice in a row', async () => {
    h.ai.responseDelayMs = 1600;
    try {
      const fired = await alertsOf(
        [
          { untilAgentSilentMs: 500 },
          { say: 'I would like to check my order please' },
          { untilAgentSilentMs: 500 },
          { say: 'And my invoice too' },
          { untilAgentSilentMs: 500 },
          { say: 'And one more thing' },
          { untilAgentSilentMs: 500 },
        ],
        { callerTranscripts: ['I would like to check my order', 'And my invoice too', 'And one more thing'] },
      );
      expect(fired).toContain('slow');
      expect(fired.filter((id) => id === 'slow')).toHaveLength(1);
    } finally {
      h.ai.responseDelayMs = 0;
    }
  });

  it('fires barge-ins once when the caller cuts the agent off repeatedly', async () => {
    const fired = await alertsOf(
      [
        { waitForAgentMs: 1500 },
        { say: 'Wait a second' },
        { waitForAgentMs: 1500 },
        { say: 'Stop, please' },
        { waitForAgentMs: 1500 },
        { say: 'No, listen' },
        { untilAgentSilentMs: 500 },
      ],
      { replies: [LONG, LONG, LONG, SHORT], callerTranscripts: ['Wait a second', 'Hold on a moment', 'One question'] },
    );
    expect(fired).toContain('barge');
    expect(fired).not.toContain('upset');
    expect(fired).not.toContain('legal');
  });

  it('fires a reconnect storm once when the AI drops repeatedly', async () => {
    const fired = await alertsOf([{ untilAgentSilentMs: 500 }, { silenceMs: 6000 }], {
      during: async () => {
        for (let i = 0; i < 3; i++) {
          const before = h.ai.sessions.length;
          await eventually(() => h.ai.openConnections === 1, 10000);
          h.ai.dropAllConnections();
          await eventually(() => h.ai.sessions.length > before && h.ai.openConnections === 1, 10000);
        }
      },
    });
    expect(fired.filter((id) => id === 'storm')).toHaveLength(1);
  });

  it('counts alerts in /metrics by rule and kind', async () => {
    const metrics = await request(h.t.baseUrl).get('/metrics').set('Authorization', `Bearer ${ADMIN}`).expect(200);
    expect(tally.get('legal')).toBe(1);
    for (const rule of RULES) {
      const line = new RegExp(`switchboard_alerts_fired_total\\{rule="${rule.id}",kind="${rule.kind}"\\} (\\d+)`).exec(
        metrics.text,
      );
      expect([rule.id, Number(line?.[1] ?? 0)]).toEqual([rule.id, tally.get(rule.id) ?? 0]);
    }
  });

  it('serves the rules to any token and changes them for admins only, written back to the file', async () => {
    const list = await request(h.t.baseUrl)
      .get('/api/alert-rules')
      .set('Authorization', `Bearer ${VIEWER}`)
      .expect(200);
    expect(list.body.rules.map((r: { id: string }) => r.id)).toEqual(RULES.map((r) => r.id));
    const rule = { id: 'refund', kind: 'keyword', phrases: ['refund'], speaker: 'any', cooldownSec: 30 };
    await request(h.t.baseUrl).put('/api/alert-rules/refund').send(rule).expect(401);
    await request(h.t.baseUrl)
      .put('/api/alert-rules/refund')
      .set('Authorization', `Bearer ${VIEWER}`)
      .send(rule)
      .expect(403);
    const denied = await request(h.t.baseUrl)
      .put('/api/alert-rules/refund')
      .set('Authorization', `Bearer ${SUPERVISOR}`)
      .send(rule)
      .expect(403);
    expect(denied.body.error.message).toMatch(/admin/);
    await request(h.t.baseUrl)
      .put('/api/alert-rules/refund')
      .set('Authorization', `Bearer ${ADMIN}`)
      .send(rule)
      .expect(201);
    expect(JSON.parse(readFileSync(file, 'utf8')).rules.map((r: { id: string }) => r.id)).toContain('refund');
    await request(h.t.baseUrl).delete('/api/Alert-Rules/refund/').set('Authorization', `Bearer ${ADMIN}`).expect(204);
    await request(h.t.baseUrl).delete('/api/alert-rules/refund').set('Authorization', `Bearer ${ADMIN}`).expect(404);
    expect(JSON.parse(readFileSync(file, 'utf8')).rules.map((r: { id: string }) => r.id)).toEqual(
      RULES.map((r) => r.id),
    );
  });

  it.each([
    [[{ id: 'x', kind: 'dead-air' }], 'rules[0].seconds'],
    [[{ id: 'x', kind: 'dead-air', seconds: 0 }], 'rules[0].seconds'],
    [[{ id: 'x', kind: 'nope' }], 'rules[0].kind'],
    [[{ id: '../x', kind: 'long-call', minutes: 1 }], 'rules[0].id'],
    [[{ id: 'x', kind: 'long-call', minutes: 1, extra: 1 }], 'rules[0].extra'],
    [[{ id: 'x', kind: 'keyword', phrases: [] }], 'rules[0].phrases'],
    [[{ id: 'x', kind: 'keyword', phrases: ['a'.repeat(101)] }], 'rules[0].phrases[0]'],
    [
      [
        { id: 'x', kind: 'barge-ins', count: 2 },
        { id: 'x', kind: 'barge-ins', count: 3 },
      ],
      'rules[1].id',
    ],
    [{ nope: [] }, 'rules'],
    [Array.from({ length: 101 }, (_, i) => ({ id: `r${i}`, kind: 'barge-ins', count: 2 })), 'rules'],
  ])('refuses bad rule set #%# with 400 naming the field, changing nothing', async (body, field) => {
    const res = await request(h.t.baseUrl)
      .put('/api/alert-rules')
      .set('Authorization', `Bearer ${ADMIN}`)
      .send(body)
      .expect(400);
    expect(res.body.error.field).toBe(field);
    const list = await request(h.t.baseUrl).get('/api/alert-rules').set('Authorization', `Bearer ${ADMIN}`).expect(200);
    expect(list.body.rules).toHaveLength(RULES.length);
  });

  it('refuses a huge body and a malformed one', async () => {
    const huge = await request(h.t.baseUrl)
      .put('/api/alert-rules')
      .set('Authorization', `Bearer ${ADMIN}`)
      .set('Content-Type', 'application/json')
      .send(`[${'"x",'.repeat(100_000)}"x"]`)
      .expect(413);
    expect(huge.body.error.code).toBe('payload_too_large');
    await request(h.t.baseUrl)
      .put('/api/alert-rules')
      .set('Authorization', `Bearer ${ADMIN}`)
      .set('Content-Type', 'application/json')
      .send('[{')
      .expect(400);
  });
});
