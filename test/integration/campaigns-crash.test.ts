/**
 * kill -9 mid-campaign (a real child process), then restart on the same database: the dialler
 * goes on with the contacts not yet dialled, settles those a call was up for from their calls'
 * final status (interrupted) and those it had claimed as unknown, and never dials anyone twice.
 */
import { startServerProcess, type ServerProcess } from '../../scripts/lib/server-process';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';
import { eventually } from '../../scripts/lib/bridge-harness';
import { startFakeTwilioRest, FAKE_ACCOUNT_SID, type FakeTwilioRest } from '../helpers/fake-twilio-rest';
import { attachCallees, zoneWithLocalHour, type CampaignCallees } from '../helpers/campaign-callees';

const AUTH = 'crash-campaign-auth-token-0123456789';
const PUBLIC_URL = 'https://switchboard.example.test';
const TOKEN = 'crash-campaign-api-token-0123456789';
const CONTACTS = 30;

interface CampaignJson {
  id: string;
  status: string;
  progress: { states: Record<string, number>; outcomes: Record<string, number> };
}

describe('campaign survives kill -9', () => {
  let tmp: TempDir;
  let fake: FakeTwilioRest;
  let callees: CampaignCallees;
  let server: ServerProcess | undefined;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    tmp = createTempDatabase();
    fake = await startFakeTwilioRest(FAKE_ACCOUNT_SID, AUTH);
    callees = attachCallees(fake, {
      baseUrl: () => server!.baseUrl,
      publicUrl: PUBLIC_URL,
      authToken: AUTH,
      accountSid: FAKE_ACCOUNT_SID,
      behaviour: () => 'answer',
      holdMs: 700,
    });
  });

  afterAll(async () => {
    await callees.settled();
    for (const s of servers) await s.stop('SIGKILL');
    await fake.close();
    tmp.cleanup();
  });

  const start = async (): Promise<ServerProcess> => {
    const s = await startServerProcess({
      NODE_ENV: 'development',
      DATABASE_URL: tmp.databaseUrl,
      RECORDING_STORAGE_PATH: tmp.recordingsDir,
      TWILIO_AUTH_TOKEN: AUTH,
      TWILIO_ACCOUNT_SID: FAKE_ACCOUNT_SID,
      TWILIO_PHONE_NUMBER: '+15559990000',
      TWILIO_API_BASE_URL: fake.baseUrl,
      PUBLIC_URL,
      API_TOKENS: TOKEN,
    });
    servers.push(s);
    server = s;
    return s;
  };

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server!.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { campaign: CampaignJson } };
  };

  it('resumes after a crash without a duplicate dial', async () => {
    await start();
    const zone = zoneWithLocalHour(12);
    const contacts = Array.from({ length: CONTACTS }, (_, i) => ({
      phone: `+1555300${String(i).padStart(4, '0')}`,
      name: `P${i}`,
      timeZone: zone,
    }));
    const created = await api('POST', '/api/campaigns', {
      name: 'crash',
      contacts,
      hours: { start: '10:00', end: '14:00' },
      maxConcurrent: 5,
      callsPerMinute: 600,
      retries: { failed: { attempts: 3, delaySec: 1 } },
    });
    expect(created.status).toBe(201);
    const id = created.body.campaign.id;
    expect((await api('POST', `/api/campaigns/${id}/start`)).status).toBe(200);

    await eventually(() => callees.dials.length >= 8, 30_000);
    const first = server!;
    first.proc.kill('SIGKILL');
    await first.exited;
    const dialsBeforeCrash = callees.dials.length;
    expect(dialsBeforeCrash).toBeLessThan(CONTACTS);

    await start();
    const done = await eventually(async () => {
      const c = (await api('GET', `/api/campaigns/${id}`)).body.campaign;
      return c?.status === 'completed' ? c : null;
    }, 60_000);
    await callees.settled();
    const dialled = callees.dials.map((d) => d.to);
    expect(new Set(dialled).size).toBe(dialled.length);
    expect(dialled.length).toBeGreaterThan(dialsBeforeCrash);
    expect(done.progress.states).toEqual({ done: CONTACTS });
    // Every contact was dialled once, except those a crash left unconfirmed (never dialled again).
    const outcomes = done.progress.outcomes;
    expect((outcomes.answered ?? 0) + (outcomes.interrupted ?? 0) + (outcomes.unknown ?? 0)).toBe(CONTACTS);
    expect((outcomes.interrupted ?? 0) + (outcomes.unknown ?? 0)).toBeGreaterThan(0);
    // An unknown contact may have been dialled just before the kill: never more than once.
    expect(dialled.length).toBeGreaterThanOrEqual(CONTACTS - (outcomes.unknown ?? 0));
    expect(dialled.length).toBeLessThanOrEqual(CONTACTS);
  });
});
