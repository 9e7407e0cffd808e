/**
 * LOG_PII (issue 10.9): the logger masks personal data unless LOG_PII=true — phone numbers keep
 * their last two digits, text and tool arguments become their length — and the code that logged
 * Twilio's error text and end_call's reason raw now logs them under PII fields.
 */
import { PassThrough } from 'node:stream';
import { createLogger, maskPhone, PII_FIELDS, type Logger } from '../../src/logging/logger';
import { endCallSkill } from '../../src/agent/skills/end-call';
import type { SkillContext } from '../../src/agent/skills/types';
import { TwilioRestService } from '../../src/channels/twilio/twilio-rest-service';
import { FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, startFakeTwilioRest } from '../helpers/fake-twilio-rest';

interface Captured {
  logger: Logger;
  /** Every line written so far. */
  text(): string;
  /** The JSON lines written so far. */
  lines(): Record<string, unknown>[];
}

function capture(pii: boolean, json = true): Captured {
  const stream = new PassThrough();
  let out = '';
  stream.on('data', (c: Buffer) => (out += c.toString()));
  const logger = createLogger({ level: 'info', json, pii, stream });
  return {
    logger,
    text: () => out,
    lines: () =>
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

const CALLER = '+15551234542';
const CALLED = '+15559876500';
const SAID = 'My name is Ada Lovelace and I live at 12 Elm Street';

function logEverything(logger: Logger): { args: Record<string, unknown> } {
  const args = { to: '+15550001111', body: 'Your code is 4242' };
  logger.info(`call from ${CALLER}`, {
    callSid: 'CA0001',
    status: 'in-progress',
    from: CALLER,
    to: CALLED,
    caller: CALLER,
    callerId: CALLED,
    transcript: SAID,
    text: SAID,
    callerName: 'Ada Lovelace',
    smsText: 'Your code is 4242',
    arguments: args,
    twilioError: `The 'To' number ${CALLED} is not a valid phone number.`,
    endCallReason: 'Ada is moving house',
    nested: { call: { from: CALLER, durationMs: 1200 } },
  });
  return { args };
}

describe('PII in the logs', () => {
  it('masks every PII field (and numbers inside any text) when LOG_PII is false', async () => {
    const c = capture(false);
    const { args } = logEverything(c.logger);
    await flush();
    const [line] = c.lines();
    const all = c.text();
    for (const secret of [CALLER, CALLED, '+15550001111', 'Ada', 'Elm Street', '4242', 'moving house']) {
      expect(all).not.toContain(secret);
    }
    expect(line).toMatchObject({
      message: 'call from +*********42',
      callSid: 'CA0001',
      status: 'in-progress',
      from: '+*********42',
      to: '+*********00',
      caller: '+*********42',
      callerId: '+*********00',
      transcript: `[pii: ${SAID.length} chars]`,
      callerName: '[pii: 12 chars]',
      arguments: '[pii]',
      nested: { call: { from: '+*********42', durationMs: 1200 } },
    });
    expect(line.twilioError).toMatch(/^\[pii: \d+ chars\]$/);
    expect(line.endCallReason).toBe('[pii: 19 chars]');
    // The caller's own objects are left alone.
    expect(args.to).toBe('+15550001111');
  });

  it('logs everything as is when LOG_PII is true', async () => {
    const c = capture(true);
    logEverything(c.logger);
    await flush();
    const [line] = c.lines();
    expect(line).toMatchObject({
      message: `call from ${CALLER}`,
      from: CALLER,
      transcript: SAID,
      callerName: 'Ada Lovelace',
      arguments: { to: '+15550001111', body: 'Your code is 4242' },
      endCallReason: 'Ada is moving house',
    });
  });

  it('masks fields a child logger carries, in the readable (non-JSON) format too', async () => {
    const c = capture(false, false);
    c.logger.child({ callId: 'call-1', from: CALLER }).warn('caller said something', { transcript: SAID });
    await flush();
    expect(c.text()).toContain('"from":"+*********42"');
    expect(c.text()).toContain('"callId":"call-1"');
    expect(c.text()).not.toContain(CALLER);
    expect(c.text()).not.toContain('Lovelace');
  });

  it('masks phone numbers to their last two digits', () => {
    expect(maskPhone('+15551234542')).toBe('+*********42');
    expect(maskPhone('+*********42')).toBe('+*********42');
    expect(PII_FIELDS.phone).toEqual(expect.arrayContaining(['from', 'to', 'caller', 'callerId', 'number']));
    expect(PII_FIELDS.text).toEqual(
      expect.arrayContaining(['transcript', 'callerName', 'smsText', 'arguments', 'twilioError', 'endCallReason']),
    );
  });
});

describe('call sites that logged PII raw', () => {
  it("end_call's reason goes through the PII rule", async () => {
    for (const pii of [false, true]) {
      const c = capture(pii);
      let hungUp = false;
      const ctx = {
        callId: 'call-1',
        call: { hangUp: () => (hungUp = true) },
        logger: c.logger,
      } as unknown as SkillContext;
      await endCallSkill.handler({ reason: 'Ada Lovelace said goodbye' }, ctx);
      await flush();
      expect(hungUp).toBe(true);
      const line = c.lines().find((l) => l.message === 'agent ends the call');
      expect(line?.endCallReason).toBe(pii ? 'Ada Lovelace said goodbye' : '[pii: 25 chars]');
      expect(c.text().includes('Lovelace')).toBe(pii);
    }
  });

  it("Twilio's REST error text goes through the PII rule", async () => {
    const fake = await startFakeTwilioRest();
    try {
      for (const pii of [false, true]) {
        const c = capture(pii);
        const twilio = new TwilioRestService({
          accountSid: FAKE_ACCOUNT_SID,
          authToken: FAKE_AUTH_TOKEN,
          baseUrl: fake.baseUrl,
          logger: c.logger,
        });
        fake.failNext(400, 21211, `The 'To' number ${CALLED} is not a valid phone number.`);
        await expect(twilio.sendSms({ to: CALLED, from: '+15005550006', body: 'Your code is 4242' })).rejects.toThrow(
          /Twilio send sms failed/,
        );
        await flush();
        const line = c.lines().find((l) => l.message === 'Twilio API request failed');
        expect(line).toMatchObject({ what: 'send sms', httpStatus: 400, twilioCode: 21211 });
        if (pii) expect(line?.twilioError).toContain(CALLED);
        else expect(line?.twilioError).toMatch(/^\[pii: \d+ chars\]$/);
        expect(c.text().includes(CALLED)).toBe(pii);
      }
    } finally {
      await fake.close();
    }
  });
});
