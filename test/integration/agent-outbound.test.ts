/**
 * Outbound calls and agent profiles over real sockets: POST /api/calls/outbound places the call
 * through the official twilio client against the fake Twilio REST API; the simulated callee answers
 * it the way Twilio would (signed webhook from the Url we gave, status callbacks), the bridge runs it
 * with the requested profile, and the call is recorded, transcribed and analysed like an inbound one.
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import {
  startBridgeHarness,
  eventually,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_URL,
  type BridgeHarness,
} from '../../scripts/lib/bridge-harness';
import { startFakeTwilioRest, FAKE_ACCOUNT_SID, type FakeTwilioRest } from '../helpers/fake-twilio-rest';
import { placeCall, type CallHandle } from '../../src/simulators/twilio-caller';

const OUR_NUMBER = '+15559990000';
const SALES_NUMBER = '+15559990001';
const API_TOKEN = 'outbound-test-token-0123456789';
const SALES_INSTRUCTIONS = 'You are Sam from the sales team. Be brief.';

describe('outbound calls and agent profiles', () => {
  let h: BridgeHarness;
  let twilioApi: FakeTwilioRest;
  let tmp: string;
  const answered: CallHandle[] = [];

  beforeAll(async () => {
    twilioApi = await startFakeTwilioRest(FAKE_ACCOUNT_SID, TEST_AUTH_TOKEN);
    // Like Twilio: when a call is created, the callee answers and Twilio requests our Url.
    twilioApi.onCallCreated = ({ sid, params }) => {
      const url = new URL(String(params.Url));
      const statusUrl = new URL(String(params.StatusCallback));
      answered.push(
        placeCall({
          baseUrl: h.t.baseUrl,
          publicUrl: TEST_PUBLIC_URL,
          authToken: TEST_AUTH_TOKEN,
          callSid: sid,
          accountSid: FAKE_ACCOUNT_SID,
          direction: 'outbound-api',
          from: String(params.From),
          to: String(params.To),
          webhookPath: url.pathname + url.search,
          statusCallbackPath: statusUrl.pathname + statusUrl.search,
          ttsEngine: 'tone',
          script: [
            { untilAgentSilentMs: 400, waitForAgentMs: 10000 },
            { say: 'Yes, tell me more.' },
            { untilAgentSilentMs: 400, waitForAgentMs: 10000 },
          ],
        }),
      );
    };
    tmp = mkdtempSync(path.join(tmpdir(), 'switchboard-outbound-'));
    const profilesFile = path.join(tmp, 'profiles.json');
    writeFileSync(
      profilesFile,
      JSON.stringify({
        profiles: {
          sales: {
            instructions: SALES_INSTRUCTIONS,
            voice: 'cedar',
            greeting: 'Introduce yourself and the spring offer.',
            numbers: [SALES_NUMBER],
            vad: { type: 'server_vad', silenceMs: 700 },
          },
        },
      }),
    );
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hi, this is Sam from Switchboard sales.', 'Great, I will send the details.'] },
      {
        API_TOKENS: API_TOKEN,
        AGENT_PROFILES_FILE: profilesFile,
        TWILIO_ACCOUNT_SID: FAKE_ACCOUNT_SID,
        TWILIO_PHONE_NUMBER: OUR_NUMBER,
        TWILIO_API_BASE_URL: twilioApi.baseUrl,
      },
    );
  });

  afterAll(async () => {
    await Promise.all(answered.map((a) => a.done));
    await h.close();
    await twilioApi.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const post = (body: unknown, token: string | null = API_TOKEN) => {
    const req = request(h.t.sb.app).post('/api/calls/outbound');
    if (token) req.set('Authorization', `Bearer ${token}`);
    return req.send(body as object);
  };

  it('needs the API token and a valid E.164 number', async () => {
    expect((await post({ to: '+15551230000' }, null)).status).toBe(401);
    const bad = await post({ to: '555-1234' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_parameter', field: 'to' });
    const agent = await post({ to: '+15551230000', agent: 'nobody' });
    expect(agent.status).toBe(400);
    expect(agent.body.error).toMatchObject({ field: 'agent', message: 'agent: no agent profile named nobody' });
    expect((await post({ to: '+15551230000', extra: 1 })).body.error.field).toBe('extra');
    expect(twilioApi.requests.filter((r) => r.path.endsWith('/Calls.json'))).toHaveLength(0);
  });

  it('places the call through Twilio; the answer is bridged, recorded, transcribed and analysed as outbound', async () => {
    const res = await post({ to: '+15551230000', agent: 'sales', metadata: { campaign: 'spring' } });
    expect(res.status).toBe(201);
    expect(res.body.call).toMatchObject({
      direction: 'outbound',
      agent: 'sales',
      to: '+15551230000',
      from: OUR_NUMBER,
    });
    const callId = res.body.call.id as string;

    const [created] = twilioApi.requests.filter((r) => r.path.endsWith('/Calls.json'));
    expect(created).toMatchObject({
      method: 'POST',
      path: `/2010-04-01/Accounts/${FAKE_ACCOUNT_SID}/Calls.json`,
      authorized: true,
      params: {
        To: '+15551230000',
        From: OUR_NUMBER,
        Url: `${TEST_PUBLIC_URL}/twilio/outbound-call?callId=${callId}`,
        StatusCallback: `${TEST_PUBLIC_URL}/twilio/call-status?callId=${callId}`,
        StatusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
      },
    });
    expect(answered).toHaveLength(1);
    const summary = await answered[0].done;
    expect(summary.ok).toBe(true);
    expect(summary.webhookStatus).toBe(200);
    expect(summary.statusCallbacks.map((s) => s.httpStatus)).toEqual([200, 200]);
    expect(summary.agentAudioMs).toBeGreaterThan(0);

    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findUnique({
        where: { id: callId },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, recordings: true, analytics: true, metadata: true },
      });
      return c?.endedAt && c.analytics && c.recordings.length ? c : null;
    });
    expect(call).toMatchObject({
      direction: 'outbound',
      agent: 'sales',
      callSid: created && summary.callSid,
      to: '+15551230000',
      from: OUR_NUMBER,
      status: 'completed',
    });
    expect(call.metadata?.custom).toEqual({ campaign: 'spring' });
    expect(call.transcripts.map((t) => t.speaker)).toEqual(['agent', 'caller', 'agent']);
    expect(call.transcripts[0].text).toBe('Hi, this is Sam from Switchboard sales.');
    expect(existsSync(path.join(h.t.sb.recordingsDir, call.recordings[0].path))).toBe(true);
    expect(call.recordings[0].durationMs).toBeGreaterThan(1000);
    expect(call.analytics!.turns).toBeGreaterThan(0);

    // The sales profile configured the AI session.
    const session = h.ai.sessions[h.ai.sessions.length - 1];
    expect(session.instructions).toBe(SALES_INSTRUCTIONS);
    expect(session.voice).toBe('cedar');
    expect(session.turnDetection).toMatchObject({ type: 'server_vad', silence_duration_ms: 700 });
  });

  it('ends the call row as failed when Twilio refuses the call', async () => {
    twilioApi.failNext(400, 21215, 'Account not authorized to call +15551230001');
    const res = await post({ to: '+15551230001' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('Account not authorized');
    const call = await h.t.sb.db.call.findFirst({ where: { to: '+15551230001' } });
    expect(call).toMatchObject({ direction: 'outbound', status: 'failed', endReason: 'error' });
  });

  it('picks the profile of the dialled number for an inbound call', async () => {
    const summary = await h.call({ to: SALES_NUMBER, script: [{ silenceMs: 100 }], ttsEngine: 'tone' }).done;
    expect(summary.ok).toBe(true);
    const call = await h.t.sb.db.call.findFirst({ where: { callSid: summary.callSid } });
    expect(call).toMatchObject({ agent: 'sales', direction: 'inbound' });
    const other = await h.call({ script: [{ silenceMs: 100 }], ttsEngine: 'tone' }).done;
    expect((await h.t.sb.db.call.findFirst({ where: { callSid: other.callSid } }))?.agent).toBe('default');
  });
});
