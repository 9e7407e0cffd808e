/**
 * Twilio's REST client (~170 modules, ~14 MB resident) loads on the first REST request, not at start:
 * in a fresh process, constructing TwilioRestService (what createApp does whenever TWILIO_ACCOUNT_SID is
 * set) leaves it unloaded; the first request loads it and every request still reaches Twilio as before
 * (a real local fake of the REST API over HTTP: auth, paths, form parameters, the baseUrl override,
 * Twilio's error mapping). Run in a child process (tsx's require hook) so the module cache is fresh.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import {
  FAKE_ACCOUNT_SID,
  FAKE_AUTH_TOKEN,
  startFakeTwilioRest,
  type FakeTwilioRest,
} from '../helpers/fake-twilio-rest';

const TSX_REQUIRE_HOOK = require.resolve('tsx/cjs');
const ROOT = path.resolve(__dirname, '../..');

const CHILD_SCRIPT = `
const { TwilioRestService, TwilioRestError, twilioRestClientLoaded } = require('./src/channels/twilio/twilio-rest-service');
const rest = () => Object.keys(require.cache).filter((k) => /[\\\\/]twilio[\\\\/]lib[\\\\/]rest[\\\\/]/.test(k)).length;
const logger = { child: () => logger, info() {}, warn() {}, error() {}, debug() {} };
const out = {};
(async () => {
  const service = new TwilioRestService({ accountSid: process.env.SID, authToken: process.env.TOKEN, baseUrl: process.env.BASE + '/', logger });
  out.afterConstruct = { loaded: twilioRestClientLoaded(), restModules: rest() };
  out.call = await service.createCall({ to: '+15550001111', from: '+15550002222', url: 'https://example.test/answer', statusCallback: 'https://example.test/status', ringTimeoutSec: 20, machineDetection: 'Enable' });
  out.afterRequest = { loaded: twilioRestClientLoaded(), restModules: rest() };
  out.sms = await service.sendSms({ to: '+15550001111', from: '+15550002222', body: 'hello' });
  out.update = await service.updateCall(out.call.sid, { status: 'completed' });
  try {
    await service.updateCall('CAnot-a-call', { status: 'completed' });
  } catch (err) {
    out.error = { isTwilioRestError: err instanceof TwilioRestError, httpStatus: err.httpStatus, twilioCode: err.twilioCode };
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => { console.error(err); process.exit(1); });
`;

interface ChildOut {
  afterConstruct: { loaded: boolean; restModules: number };
  afterRequest: { loaded: boolean; restModules: number };
  call: { sid: string; status: string };
  sms: { sid: string; status: string };
  update: { sid: string; status: string };
  error: { isTwilioRestError: boolean; httpStatus: number; twilioCode: number };
}

describe('Twilio REST client loaded on first use', () => {
  let fake: FakeTwilioRest;
  beforeAll(async () => {
    fake = await startFakeTwilioRest();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('is not loaded by constructing the service; the first request loads it and requests are unchanged', async () => {
    const before = fake.requests.length;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--require', TSX_REQUIRE_HOOK, '-e', CHILD_SCRIPT],
        {
          cwd: ROOT,
          timeout: 60_000,
          env: { ...process.env, SID: FAKE_ACCOUNT_SID, TOKEN: FAKE_AUTH_TOKEN, BASE: fake.baseUrl },
        },
        (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out)),
      );
    });
    const out = JSON.parse(stdout) as ChildOut;

    expect(out.afterConstruct).toEqual({ loaded: false, restModules: 0 });
    expect(out.afterRequest.loaded).toBe(true);
    expect(out.afterRequest.restModules).toBeGreaterThan(50);

    expect(out.call.sid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(out.sms.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(out.update.sid).toBe(out.call.sid);
    expect(out.error).toEqual({ isTwilioRestError: true, httpStatus: 404, twilioCode: 20404 });

    const requests = fake.requests.slice(before);
    expect(requests.map((r) => [r.method, r.path, r.authorized, r.username])).toEqual([
      ['POST', `/2010-04-01/Accounts/${FAKE_ACCOUNT_SID}/Calls.json`, true, FAKE_ACCOUNT_SID],
      ['POST', `/2010-04-01/Accounts/${FAKE_ACCOUNT_SID}/Messages.json`, true, FAKE_ACCOUNT_SID],
      ['POST', `/2010-04-01/Accounts/${FAKE_ACCOUNT_SID}/Calls/${out.call.sid}.json`, true, FAKE_ACCOUNT_SID],
      ['POST', `/2010-04-01/Accounts/${FAKE_ACCOUNT_SID}/Calls/CAnot-a-call.json`, true, FAKE_ACCOUNT_SID],
    ]);
    expect(requests[0].params).toMatchObject({
      To: '+15550001111',
      From: '+15550002222',
      Url: 'https://example.test/answer',
      Method: 'POST',
      StatusCallback: 'https://example.test/status',
      StatusCallbackMethod: 'POST',
      StatusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
      Timeout: '20',
      MachineDetection: 'Enable',
    });
    expect(requests[1].params).toMatchObject({ To: '+15550001111', From: '+15550002222', Body: 'hello' });
    expect(requests[2].params).toEqual({ Status: 'completed' });
  }, 90_000);
});
