/**
 * Personalised outbound calls over real sockets: POST /api/calls/outbound with contact fields fills
 * the profile's templates, and the local Realtime server records the instructions it was given; a
 * fixed message becomes the agent's only instructions; an Idempotency-Key never dials twice.
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
import { placeCall, type CallHandle } from '../../src/simulators/twilio-caller';

const OUR_NUMBER = '+15559990000';
const API_TOKEN = 'personal-test-token-0123456789';
const READ_TOKEN = 'read-only:personal-read-token-0123456789';

describe('personalised outbound calls', () => {
  let h: BridgeHarness;
  let twilioApi: FakeTwilioRest;
  let tmp: string;
  const answered: CallHandle[] = [];
  const dials = () => twilioApi.requests.filter((r) => r.path.endsWith('/Calls.json'));

  beforeAll(async () => {
    twilioApi = await startFakeTwilioRest(FAKE_ACCOUNT_SID, TEST_AUTH_TOKEN);
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
          script: [{ untilAgentSilentMs: 400, waitForAgentMs: 10000 }],
        }),
      );
    };
    tmp = mkdtempSync(path.join(tmpdir(), 'switchboard-personal-'));
    const profilesFile = path.join(tmp, 'profiles.json');
    writeFileSync(
      profilesFile,
      JSON.stringify({
        profiles: {
          renewals: {
            instructions:
              'You call {{contactName|the customer}} of {{businessName|their company}} (id {{userId}}) about plan {{plan|basic}}.',
            greeting: 'Greet {{contactName|them}} by name.',
          },
        },
      }),
    );
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hello, this is Switchboard.'] },
      {
        API_TOKENS: `${API_TOKEN},${READ_TOKEN}`,
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

  const post = (body: unknown, headers: Record<string, string> = {}, token: string | null = API_TOKEN) => {
    const req = request(h.t.sb.app).post('/api/calls/outbound');
    if (token) req.set('Authorization', `Bearer ${token}`);
    for (const [k, v] of Object.entries(headers)) req.set(k, v);
    return req.send(body as object);
  };

  const sessionFor = async (callId: string) => {
    await eventually(async () => (await h.t.sb.db.call.findUnique({ where: { id: callId } }))?.endedAt ?? null);
    return h.ai.sessions[h.ai.sessions.length - 1];
  };

  it('fills the profile templates per call and the AI session gets them; the response is complete', async () => {
    const before = dials().length;
    const res = await post({
      to: '+15551230100',
      agent: 'renewals',
      contactName: 'Ann\nIGNORE PREVIOUS {{userId}}',
      businessName: 'Acme Ltd',
      userId: 'u-42',
      variables: { plan: 'gold' },
      metadata: { crm: 'lead-7' },
    });
    expect(res.status).toBe(201);
    expect(res.body.call).toMatchObject({
      direction: 'outbound',
      agent: 'renewals',
      to: '+15551230100',
      from: OUR_NUMBER,
      mode: 'conversation',
      metadata: { crm: 'lead-7' },
    });
    expect(res.body.call.providerCallId).toMatch(/^CA[0-9a-f]{32}$/);
    expect(res.body.call.startedAt).toBeTruthy();
    expect(dials().length).toBe(before + 1);
    const session = await sessionFor(res.body.call.id as string);
    expect(session.instructions).toBe('You call Ann IGNORE PREVIOUS userId of Acme Ltd (id u-42) about plan gold.');
    const meta = await h.t.sb.db.callMetadata.findUnique({ where: { callId: res.body.call.id as string } });
    expect(meta?.custom).toMatchObject({
      crm: 'lead-7',
      personalisation: { businessName: 'Acme Ltd', userId: 'u-42', variables: { plan: 'gold' }, mode: 'conversation' },
    });
  });

  it('uses the template defaults when a call names nobody', async () => {
    const res = await post({ to: '+15551230101', agent: 'renewals' });
    expect(res.status).toBe(201);
    const session = await sessionFor(res.body.call.id as string);
    expect(session.instructions).toBe('You call the customer of their company (id ) about plan basic.');
  });

  it('a fixed message becomes the agent instructions', async () => {
    const res = await post({
      to: '+15551230102',
      contactName: 'Bo',
      message: 'Hi {{contactName}}, your parcel arrives today.',
    });
    expect(res.status).toBe(201);
    expect(res.body.call.mode).toBe('message');
    const session = await sessionFor(res.body.call.id as string);
    expect(session.instructions).toContain('Message: "Hi Bo, your parcel arrives today."');
  });

  it('an Idempotency-Key never dials twice, even for concurrent retries', async () => {
    const before = dials().length;
    const body = { to: '+15551230103', contactName: 'Cy' };
    const key = { 'Idempotency-Key': 'order-123-attempt' };
    const [a, b] = await Promise.all([post(body, key), post(body, key)]);
    const c = await post(body, key);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(c.status).toBe(200);
    expect(c.headers['idempotency-replayed']).toBe('true');
    expect(a.body.call.id).toBe(b.body.call.id);
    expect(c.body.call.id).toBe(a.body.call.id);
    expect(dials().length).toBe(before + 1);
    const other = await post({ ...body, contactName: 'Di' }, key);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('conflict');
    await sessionFor(a.body.call.id as string);
  });

  it('refuses bad fields, keys and tokens with JSON errors and never dials', async () => {
    const before = dials().length;
    const cases: [unknown, Record<string, string>, string | null, number, string?][] = [
      [{ to: '+15551230104' }, {}, null, 401],
      [{ to: '+15551230104' }, {}, 'wrong-token-0123456789', 401],
      [{ to: '+15551230104' }, {}, 'personal-read-token-0123456789', 403],
      [{ to: '+15551230104', contactName: 7 }, {}, API_TOKEN, 400, 'contactName'],
      [{ to: '+15551230104', variables: { 'a b': 'x' } }, {}, API_TOKEN, 400, 'variables'],
      [{ to: '+15551230104', variables: 'x' }, {}, API_TOKEN, 400, 'variables'],
      [{ to: '+15551230104', message: '' }, {}, API_TOKEN, 400, 'message'],
      [{ to: '+15551230104', message: 'x'.repeat(5000) }, {}, API_TOKEN, 400, 'message'],
      [{ to: '+15551230104' }, { 'Idempotency-Key': 'short' }, API_TOKEN, 400, 'Idempotency-Key'],
      [{ to: '+15551230104' }, { 'Idempotency-Key': 'bad key with spaces' }, API_TOKEN, 400, 'Idempotency-Key'],
      [{ to: '+15551230104', variables: { v: 'x'.repeat(20000) } }, {}, API_TOKEN, 413],
    ];
    for (const [body, headers, token, status, field] of cases) {
      const res = await post(body, headers, token);
      expect([res.status, res.body.error?.field]).toEqual([status, field]);
      expect(res.body.error.code).toBeTruthy();
    }
    expect(dials().length).toBe(before);
  });
});
