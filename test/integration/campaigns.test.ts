/**
 * Campaigns over real sockets: the app with the local AI, the fake Twilio REST API and callees that
 * answer, are busy, or are answering machines (signed webhooks). A 50-contact campaign with 5
 * concurrent calls respects calling hours, pacing and the do-not-call list, retries a busy number
 * after its delay, records a voicemail outcome; results CSV; lifecycle; attacker cases.
 */
import request from 'supertest';
import { parse } from 'csv-parse/sync';
import {
  startBridgeHarness,
  eventually,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_URL,
  type BridgeHarness,
} from '../../scripts/lib/bridge-harness';
import { startFakeTwilioRest, FAKE_ACCOUNT_SID, type FakeTwilioRest } from '../helpers/fake-twilio-rest';
import {
  attachCallees,
  zoneWithLocalHour,
  type CampaignCallees,
  type CalleeBehaviour,
} from '../helpers/campaign-callees';

const OUR_NUMBER = '+15559990000';
const ADMIN = 'campaign-admin-token-0123456789';
const READER = 'campaign-read-token-0123456789';
const SUPERVISOR = 'campaign-super-token-0123456789';
const num = (i: number) => `+1555200${String(i).padStart(4, '0')}`;
const BUSY = num(3);
const MACHINE = num(7);
const DNC = [num(10), num(11), num(12)];

describe('campaigns', () => {
  let h: BridgeHarness;
  let fake: FakeTwilioRest;
  let callees: CampaignCallees;
  const behaviours = new Map<string, (attempt: number) => CalleeBehaviour>();

  beforeAll(async () => {
    fake = await startFakeTwilioRest(FAKE_ACCOUNT_SID, TEST_AUTH_TOKEN);
    callees = attachCallees(fake, {
      baseUrl: () => h.t.baseUrl,
      publicUrl: TEST_PUBLIC_URL,
      authToken: TEST_AUTH_TOKEN,
      accountSid: FAKE_ACCOUNT_SID,
      behaviour: (to, attempt) => behaviours.get(to)?.(attempt) ?? 'answer',
      holdMs: 200,
    });
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hello.'] },
      {
        API_TOKENS: `${ADMIN},read-only:${READER},supervisor:${SUPERVISOR}`,
        TWILIO_ACCOUNT_SID: FAKE_ACCOUNT_SID,
        TWILIO_PHONE_NUMBER: OUR_NUMBER,
        TWILIO_API_BASE_URL: fake.baseUrl,
      },
    );
  });

  afterAll(async () => {
    await callees.settled();
    await h.close();
    await fake.close();
  });

  const api = (method: 'get' | 'post' | 'delete', path: string, token: string | null = ADMIN) => {
    const req = request(h.t.sb.app)[method](path);
    if (token) req.set('Authorization', `Bearer ${token}`);
    return req;
  };

  it('dials 50 contacts within hours, 5 at a time, skipping do-not-call, retrying busy, leaving voicemail', async () => {
    behaviours.set(BUSY, (attempt) => (attempt === 1 ? 'busy' : 'answer'));
    behaviours.set(MACHINE, () => 'machine');
    expect((await api('post', '/api/do-not-call').send({ phones: DNC, reason: 'asked' })).status).toBe(201);
    const inHours = zoneWithLocalHour(12);
    const outOfHours = zoneWithLocalHour(2);
    const lines = ['phone,name,timeZone,plan'];
    for (let i = 1; i <= 50; i++) {
      const tz = i >= 46 ? outOfHours : inHours;
      lines.push(`${num(i)},Person ${i},${tz},${i % 2 ? 'gold' : 'basic'}`);
    }
    const before = callees.dials.length;
    const created = await api('post', '/api/campaigns').send({
      name: 'Spring renewals',
      csv: lines.join('\n'),
      hours: { start: '10:00', end: '14:00' },
      maxConcurrent: 5,
      callsPerMinute: 600,
      retries: { busy: { attempts: 1, delaySec: 1 } },
      voicemail: 'message',
      voicemailMessage: 'Hi {{contactName}}, this is Switchboard about your {{plan}} plan. Please call us back.',
    });
    expect(created.status).toBe(201);
    const id = created.body.campaign.id as string;
    expect(created.body.campaign).toMatchObject({ status: 'draft', progress: { total: 50, states: { pending: 50 } } });
    expect(callees.dials.length).toBe(before);

    expect((await api('post', `/api/campaigns/${id}/start`)).status).toBe(200);
    // 45 in-hours contacts minus 3 on the list, plus one retry of the busy number: 43 dials.
    await eventually(async () => {
      const c = (await api('get', `/api/campaigns/${id}`)).body.campaign;
      const done = c.progress.states.done ?? 0;
      return done === 45 && (c.progress.states.pending ?? 0) === 5 ? c : null;
    }, 60_000);
    await callees.settled();
    const dials = callees.dials.slice(before);
    const dialled = dials.map((d) => d.to);
    expect(dialled).toHaveLength(43);
    expect(callees.maxConcurrent).toBeLessThanOrEqual(5);
    expect(callees.maxConcurrent).toBeGreaterThanOrEqual(2);
    for (const n of DNC) expect(dialled).not.toContain(n);
    for (let i = 46; i <= 50; i++) expect(dialled).not.toContain(num(i));
    expect(new Set(dialled).size).toBe(42);
    const busyDials = dials.filter((d) => d.to === BUSY);
    expect(busyDials).toHaveLength(2);
    expect(busyDials[1].at - busyDials[0].at).toBeGreaterThanOrEqual(950);
    expect(dials.every((d) => d.params.MachineDetection === 'DetectMessageEnd')).toBe(true);
    expect(callees.machineTwiml.get(MACHINE)).toContain(
      '<Say>Hi Person 7, this is Switchboard about your gold plan. Please call us back.</Say><Hangup/>',
    );
    expect(callees.errors).toEqual([]);

    const contacts = (await api('get', `/api/campaigns/${id}/contacts?limit=1000`)).body.contacts as Record<
      string,
      unknown
    >[];
    const byPhone = new Map(contacts.map((c) => [c.phone, c]));
    expect(byPhone.get(MACHINE)).toMatchObject({ state: 'done', outcome: 'voicemail', attempts: 1 });
    expect(byPhone.get(BUSY)).toMatchObject({ state: 'done', outcome: 'answered', attempts: 2 });
    expect(byPhone.get(DNC[0])).toMatchObject({ state: 'done', outcome: 'do-not-call', attempts: 0 });
    expect(byPhone.get(num(48))).toMatchObject({ state: 'pending', attempts: 0 });
    expect(byPhone.get(num(1))).toMatchObject({ state: 'done', outcome: 'answered' });
    const call = await h.t.sb.db.callMetadata.findUnique({
      where: { callId: byPhone.get(num(1))!.lastCallId as string },
    });
    expect(call?.custom).toMatchObject({ campaignId: id, personalisation: { variables: { plan: 'gold' } } });

    // Results as CSV: one row per contact.
    const csv = await api('get', `/api/campaigns/${id}/results.csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const rows = parse(csv.text, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(50);
    expect(rows.find((r) => r.phone === MACHINE)).toMatchObject({ outcome: 'voicemail', attempts: '1' });

    // Cancelling ends the remaining (out-of-hours) contacts without a dial.
    const cancelled = await api('post', `/api/campaigns/${id}/cancel`);
    expect(cancelled.body.campaign).toMatchObject({ status: 'cancelled', progress: { outcomes: { cancelled: 5 } } });
    expect((await api('post', `/api/campaigns/${id}/resume`)).status).toBe(409);
  });

  it('keeps to calls per minute, and pause stops dialling until resume', async () => {
    const zone = zoneWithLocalHour(12);
    const contacts = Array.from({ length: 6 }, (_, i) => ({ phone: num(100 + i), timeZone: zone }));
    const created = await api('post', '/api/campaigns').send({
      name: 'Paced',
      contacts,
      hours: { start: '10:00', end: '14:00' },
      maxConcurrent: 5,
      callsPerMinute: 3,
    });
    const id = created.body.campaign.id as string;
    const before = callees.dials.length;
    await api('post', `/api/campaigns/${id}/start`).expect(200);
    await eventually(() => callees.dials.length - before >= 3);
    await new Promise((r) => setTimeout(r, 1500));
    expect(callees.dials.length - before).toBe(3);
    expect((await api('post', `/api/campaigns/${id}/pause`)).body.campaign.status).toBe('paused');
    expect((await api('post', `/api/campaigns/${id}/pause`)).status).toBe(409);
    expect((await api('post', `/api/campaigns/${id}/resume`)).body.campaign.status).toBe('running');
    await api('post', `/api/campaigns/${id}/cancel`).expect(200);
    await callees.settled();
    expect(callees.dials.length - before).toBe(3);
  });

  it('is described in the OpenAPI document, with the personalised outbound call', async () => {
    const doc = (await request(h.t.sb.app).get('/api/openapi.json')).body;
    for (const p of [
      '/campaigns',
      '/campaigns/{id}',
      '/campaigns/{id}/results.csv',
      '/campaigns/{id}/pause',
      '/do-not-call',
    ]) {
      expect(doc.paths[p]).toBeDefined();
    }
    const outbound = doc.paths['/calls/outbound'].post;
    expect(Object.keys(outbound.requestBody.content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining(['contactName', 'variables', 'message']),
    );
    expect(outbound.parameters.map((p: { name: string }) => p.name)).toContain('Idempotency-Key');
  });

  it('refuses missing, read-only and supervisor tokens, bad bodies, huge CSVs, malformed rows and odd paths', async () => {
    const good = { name: 'x', contacts: [{ phone: num(300) }] };
    expect((await api('post', '/api/campaigns', null).send(good)).status).toBe(401);
    expect((await api('post', '/api/campaigns', 'wrong-token-0123456789').send(good)).status).toBe(401);
    expect((await api('post', '/api/campaigns', READER).send(good)).status).toBe(403);
    expect((await api('post', '/api/campaigns', SUPERVISOR).send(good)).status).toBe(403);
    expect((await api('post', '/api/do-not-call', READER).send({ phones: [num(1)] })).status).toBe(403);
    expect((await api('get', '/api/campaigns', READER)).status).toBe(200);
    expect((await api('get', '/api/campaigns', null)).status).toBe(401);

    const bad: [unknown, string][] = [
      [{ ...good, name: '' }, 'name'],
      [{ ...good, contacts: [] }, 'contacts'],
      [{ ...good, contacts: [{ phone: '555' }] }, 'contacts[0].phone'],
      [{ ...good, contacts: [{ phone: num(1), timeZone: 'Mars/Base' }] }, 'contacts[0].timeZone'],
      [{ ...good, maxConcurrent: 0 }, 'maxConcurrent'],
      [{ ...good, callsPerMinute: 1e9 }, 'callsPerMinute'],
      [{ ...good, hours: { start: '25:00' } }, 'hours.start'],
      [{ ...good, hours: { start: '12:00', end: '09:00' } }, 'hours'],
      [{ ...good, voicemail: 'message' }, 'voicemailMessage'],
      [{ ...good, agent: 'nobody' }, 'agent'],
      [{ ...good, bogus: 1 }, 'bogus'],
      [{ name: 'x', csv: 'name\nBob' }, 'csv'],
      [{ name: 'x', csv: 'phone,name\n+15551230000,"unterminated' }, 'csv'],
      [{ name: 'x', csv: 'phone,name\n+15551230000,A\nnot-a-phone,B' }, 'csv line 3.phone'],
      [{ name: 'x', csv: 'phone,bad col\n+15551230000,A' }, 'csv line 2.variables'],
      [{ name: 'x', csv: 'phone\n+15551230000', contacts: good.contacts }, 'csv'],
    ];
    for (const [body, field] of bad) {
      const res = await api('post', '/api/campaigns').send(body as object);
      expect([res.status, res.body.error?.field]).toEqual([400, field]);
    }
    const tooMany = ['phone', ...Array.from({ length: 10_001 }, (_, i) => `+1555${String(i).padStart(7, '0')}`)];
    const many = await api('post', '/api/campaigns').send({ name: 'x', csv: tooMany.join('\n') });
    expect([many.status, many.body.error?.field]).toEqual([400, 'csv']);
    const huge = await api('post', '/api/campaigns').send({ name: 'x', csv: 'phone\n' + 'x'.repeat(5 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('payload_too_large');
    const notJson = await api('post', '/api/campaigns').set('content-type', 'application/json').send('{"name":');
    expect(notJson.status).toBe(400);

    for (const path of [
      '/api/campaigns/not-a-uuid',
      '/api/campaigns/00000000-0000-4000-8000-000000000000',
      '/api/campaigns/00000000-0000-4000-8000-000000000000/results.csv',
      '/api/campaigns/..%2f..%2fcalls',
    ]) {
      const res = await api('get', path);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.body.error.code).toBe('not_found');
    }
    expect((await api('post', '/api/campaigns/00000000-0000-4000-8000-000000000000/start')).status).toBe(404);
    expect((await api('post', '/api/CAMPAIGNS').send(good)).status).toBe(404);
    expect((await api('post', '/api/campaigns/').send(good)).status).toBe(404);
    expect((await api('get', '/api/campaigns?limit=100000')).status).toBe(400);
    expect((await api('post', '/api/do-not-call').send({ phones: ['nope'] })).body.error.field).toBe('phones');
    expect((await api('delete', '/api/do-not-call/%2B15550000000')).status).toBe(404);
  });
});
