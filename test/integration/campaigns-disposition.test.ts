/**
 * A campaign call answered by a person, over real sockets: the contact's CSV row fills the
 * profile's templates (the local Realtime server records the instructions), the agent calls
 * set_disposition, and the contact ends `completed` with that disposition; a do-not-call
 * disposition puts the number on the do-not-call list.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import { zoneWithLocalHour } from '../helpers/campaign-callees';
import { placeCall, type CallHandle } from '../../src/simulators/twilio-caller';

const ADMIN = 'disposition-admin-token-0123456789';
const CALLEE = '+15554440001';

describe('campaign call with set_disposition', () => {
  let h: BridgeHarness;
  let fake: FakeTwilioRest;
  let tmp: string;
  const answered: CallHandle[] = [];

  beforeAll(async () => {
    fake = await startFakeTwilioRest(FAKE_ACCOUNT_SID, TEST_AUTH_TOKEN);
    fake.onCallCreated = ({ sid, params }) => {
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
          script: [{ say: 'Please never call me again.' }, { untilAgentSilentMs: 500, waitForAgentMs: 10000 }],
        }),
      );
    };
    tmp = mkdtempSync(path.join(tmpdir(), 'switchboard-disposition-'));
    const profilesFile = path.join(tmp, 'profiles.json');
    writeFileSync(
      profilesFile,
      JSON.stringify({
        profiles: {
          renewals: {
            instructions: 'Call {{contactName}} about the {{plan|basic}} plan renewal.',
            tools: ['end_call', 'set_disposition'],
          },
        },
      }),
    );
    h = await startBridgeHarness(
      {
        ttsEngine: 'tone',
        toolCalls: (ctx) =>
          ctx.toolOutput === undefined && ctx.callerText
            ? { name: 'set_disposition', arguments: { disposition: 'do-not-call', note: 'asked' } }
            : undefined,
        replies: () => 'Understood, goodbye.',
      },
      {
        AGENT_GREETS_FIRST: 'false',
        API_TOKENS: ADMIN,
        AGENT_PROFILES_FILE: profilesFile,
        TWILIO_ACCOUNT_SID: FAKE_ACCOUNT_SID,
        TWILIO_PHONE_NUMBER: '+15559990000',
        TWILIO_API_BASE_URL: fake.baseUrl,
      },
    );
  });

  afterAll(async () => {
    await Promise.all(answered.map((a) => a.done));
    await h.close();
    await fake.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const api = (method: 'get' | 'post', p: string) =>
    request(h.t.sb.app)[method](p).set('Authorization', `Bearer ${ADMIN}`);

  it('fills the templates from the row, records the disposition and the do-not-call request', async () => {
    const created = await api('post', '/api/campaigns').send({
      name: 'renewals',
      agent: 'renewals',
      csv: `phone,name,timeZone,plan\n${CALLEE},Dana,${zoneWithLocalHour(12)},gold\n`,
      hours: { start: '10:00', end: '14:00' },
    });
    expect(created.status).toBe(201);
    const id = created.body.campaign.id as string;
    await api('post', `/api/campaigns/${id}/start`).expect(200);
    const campaign = await eventually(async () => {
      const c = (await api('get', `/api/campaigns/${id}`)).body.campaign;
      return c.status === 'completed' ? c : null;
    }, 30_000);
    expect(campaign.progress.outcomes).toEqual({ completed: 1 });
    const [contact] = (await api('get', `/api/campaigns/${id}/contacts`)).body.contacts;
    expect(contact).toMatchObject({ outcome: 'completed', disposition: 'do-not-call', attempts: 1 });
    const session = h.ai.sessions[h.ai.sessions.length - 1];
    expect(session.instructions).toBe('Call Dana about the gold plan renewal.');
    expect(session.functionCalls.map((f) => f.name)).toEqual(['set_disposition']);
    const meta = await h.t.sb.db.callMetadata.findUnique({ where: { callId: contact.lastCallId as string } });
    expect(meta?.custom).toMatchObject({ disposition: 'do-not-call', dispositionNote: 'asked' });
    const dnc = (await api('get', '/api/do-not-call')).body.entries as { phone: string }[];
    expect(dnc.map((e) => e.phone)).toContain(CALLEE);
  });
});
