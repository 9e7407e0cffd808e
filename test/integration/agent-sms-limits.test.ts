/**
 * send_sms over real HTTP: the skill, run by the SkillRegistry, sends through the real
 * TwilioRestService (the official client) to the local fake of Twilio's REST API. Checks what Twilio
 * receives (template text, recipient, sender), the daily per-number limit across calls, that a
 * message Twilio refuses is neither relayed nor counted, and that refusals are logged with the
 * number masked.
 */
import { Writable } from 'node:stream';
import winston from 'winston';
import { SkillRegistry } from '../../src/agent/skill-registry';
import { loadAgentSettings, profileByName } from '../../src/agent/profiles';
import { BUILT_IN_SKILLS } from '../../src/agent/skills';
import { SmsLimiter } from '../../src/agent/skills/sms-limiter';
import type { SkillCall } from '../../src/agent/skills/types';
import { testConfig } from '../../src/config';
import { createLogger } from '../../src/logging/logger';
import { TwilioRestService } from '../../src/channels/twilio/twilio-rest-service';
import {
  startFakeTwilioRest,
  FAKE_ACCOUNT_SID,
  FAKE_AUTH_TOKEN,
  type FakeTwilioRest,
} from '../helpers/fake-twilio-rest';

const OUR_NUMBER = '+15559990000';

describe('send_sms through the Twilio REST API', () => {
  let fake: FakeTwilioRest;
  let twilio: TwilioRestService;
  const logLines: string[] = [];
  const skillLogger = winston.createLogger({
    level: 'info',
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk: Buffer, _enc, done) {
            logLines.push(chunk.toString('utf8'));
            done();
          },
        }),
      }),
    ],
  });
  const settings = loadAgentSettings(
    testConfig({
      TWILIO_ACCOUNT_SID: FAKE_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: FAKE_AUTH_TOKEN,
      TWILIO_PHONE_NUMBER: OUR_NUMBER,
    }),
    BUILT_IN_SKILLS,
    JSON.stringify({
      profiles: { default: { tools: ['send_sms'] } },
      sms: { maxPerNumberPerDay: 2, templates: { reference: { text: 'Your reference is {ref}.' } } },
    }),
  );
  const registry = new SkillRegistry(BUILT_IN_SKILLS, settings);
  const limiter = new SmsLimiter();

  beforeAll(async () => {
    fake = await startFakeTwilioRest(FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN);
    twilio = new TwilioRestService({
      accountSid: FAKE_ACCOUNT_SID,
      authToken: FAKE_AUTH_TOKEN,
      baseUrl: fake.baseUrl,
      logger: createLogger({ level: 'error', json: false, silent: true }),
    });
  });

  afterAll(async () => {
    await fake.close();
  });

  /** One tool call on a new call from `caller`. */
  const sendFrom = (caller: string, args: unknown) => {
    const call: SkillCall = {
      id: `call-${Math.random()}`,
      callSid: null,
      from: caller,
      to: OUR_NUMBER,
      direction: 'inbound',
      remoteNumber: caller,
      localNumber: OUR_NUMBER,
      profile: profileByName(settings, 'default'),
      hangUp: () => undefined,
      transfer: () => undefined,
    };
    return registry.invoke(
      'send_sms',
      JSON.stringify(args),
      { callId: call.id, call, logger: skillLogger, services: { twilio, settings, smsLimiter: limiter } },
      ['send_sms'],
    );
  };
  const messages = () => fake.requests.filter((r) => r.path.endsWith('/Messages.json'));
  const ref = { template: 'reference', variables: { ref: 'B-77' } };

  it('sends the filled template, and at most maxPerNumberPerDay to one number over several calls', async () => {
    await expect(sendFrom('+15550001001', ref)).resolves.toMatchObject({ ok: true, result: { status: 'queued' } });
    await expect(sendFrom('+15550001001', ref)).resolves.toMatchObject({ ok: true });
    await expect(sendFrom('+15550001001', ref)).resolves.toMatchObject({
      ok: false,
      error: { code: 'limit_reached', message: 'at most 2 text messages to this number per day' },
    });
    await expect(sendFrom('+15550001002', ref)).resolves.toMatchObject({ ok: true });
    expect(messages().map((m) => m.params)).toEqual([
      { To: '+15550001001', From: OUR_NUMBER, Body: 'Your reference is B-77.' },
      { To: '+15550001001', From: OUR_NUMBER, Body: 'Your reference is B-77.' },
      { To: '+15550001002', From: OUR_NUMBER, Body: 'Your reference is B-77.' },
    ]);
    expect(messages().every((m) => m.authorized)).toBe(true);
  });

  it('does not relay or count a message Twilio refuses', async () => {
    fake.failNext(400, 21211, "The 'To' number +15550001003 is not a valid phone number.");
    const outcome = await sendFrom('+15550001003', ref);
    expect(outcome).toEqual({
      ok: false,
      error: { code: 'send_failed', message: 'the text message could not be sent' },
      durationMs: expect.any(Number),
    });
    await expect(sendFrom('+15550001003', ref)).resolves.toMatchObject({ ok: true });
    await expect(sendFrom('+15550001003', ref)).resolves.toMatchObject({ ok: true });
    await expect(sendFrom('+15550001003', ref)).resolves.toMatchObject({ error: { code: 'limit_reached' } });
  });

  it('logs refusals with the number masked', async () => {
    logLines.length = 0;
    const before = messages().length;
    await sendFrom('+447700900123', ref);
    await sendFrom('+15550001004', { template: 'reference', variables: { ref: 'see evil.example' } });
    expect(messages().length).toBe(before);
    const logged = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.map((l) => [l.message, l.code, l.to])).toEqual([
      ['send_sms refused', 'destination_not_allowed', '+**********23'],
      ['send_sms refused', 'invalid_variable', '+*********04'],
    ]);
    expect(logLines.join('')).not.toMatch(/7700900123|5550001004/);
  });
});
