/**
 * send_sms rules (issue 10, finding 5/6): templates with declared variables, free text only where a
 * profile allows it, an allow-list of country codes, per-call / per-number / per-day limits, refusals
 * as data and logged with the number masked. Run through SkillRegistry.invoke (schema validation
 * included) with a recording stand-in for the Twilio REST service.
 */
import { SkillRegistry } from '../../src/agent/skill-registry';
import { loadAgentSettings, profileByName, type AgentSettings } from '../../src/agent/profiles';
import { BUILT_IN_SKILLS } from '../../src/agent/skills';
import { countryCallingCode, maskNumber } from '../../src/agent/skills/phone-numbers';
import { SmsLimiter } from '../../src/agent/skills/sms-limiter';
import type { SkillCall } from '../../src/agent/skills/types';
import { ConfigError, testConfig } from '../../src/config';
import { TwilioRestError, type TwilioRestService } from '../../src/channels/twilio/twilio-rest-service';
import type { Logger } from '../../src/logging/logger';

const OUR_NUMBER = '+15559990000';
const TWILIO_ENV = {
  TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
  TWILIO_AUTH_TOKEN: 'test-twilio-auth-token-0123456789',
  TWILIO_PHONE_NUMBER: OUR_NUMBER,
};

const PROFILES = {
  profiles: {
    default: { tools: ['send_sms'] },
    chatty: { tools: ['send_sms'], sms: { allowFreeText: true, maxFreeTextChars: 40 } },
    uk: { tools: ['send_sms'], sms: { countryCodes: ['+44'] } },
    nowhere: { tools: ['send_sms'], sms: { countryCodes: [] } },
    other: {
      tools: ['send_sms'],
      sms: { templates: { callback: { text: 'We will call you back at {time}.' } } },
    },
  },
  sms: {
    maxPerCall: 2,
    maxPerNumberPerDay: 3,
    maxPerDay: 5,
    templates: {
      order_confirmation: {
        text: 'Order {orderId} is confirmed for {date}. Thank you!',
        description: 'confirms an order',
        variables: { orderId: { pattern: '[A-Z][0-9]{3,8}', description: 'a letter and 3 to 8 digits' } },
      },
      reference: { text: 'Your reference: {ref}' },
    },
  },
};

function load(file: unknown = PROFILES, env: Record<string, string> = TWILIO_ENV): AgentSettings {
  return loadAgentSettings(testConfig(env), BUILT_IN_SKILLS, JSON.stringify(file));
}

interface Harness {
  registry: SkillRegistry;
  settings: AgentSettings;
  sent: { to: string; from: string; body: string }[];
  warnings: { message: string; meta: Record<string, unknown> }[];
  limiter: SmsLimiter;
  clock: { now: number };
  failNext?: Error;
  invoke(
    args: unknown,
    opts?: { profile?: string; to?: string; call?: SkillCall },
  ): ReturnType<SkillRegistry['invoke']>;
  newCall(profile?: string, to?: string): SkillCall;
}

function harness(file: unknown = PROFILES): Harness {
  const settings = load(file);
  const registry = new SkillRegistry(BUILT_IN_SKILLS, settings);
  const clock = { now: Date.UTC(2026, 11, 2, 9) };
  const limiter = new SmsLimiter(() => clock.now);
  const h: Harness = {
    registry,
    settings,
    sent: [],
    warnings: [],
    limiter,
    clock,
    newCall(profile = 'default', to = '+15551234567') {
      return {
        id: 'call-1',
        callSid: 'CA1',
        from: to,
        to: OUR_NUMBER,
        direction: 'inbound',
        remoteNumber: to,
        localNumber: OUR_NUMBER,
        profile: profileByName(settings, profile),
        hangUp: () => undefined,
        transfer: () => undefined,
      };
    },
    invoke(args, opts = {}) {
      const call = opts.call ?? h.newCall(opts.profile, opts.to);
      const twilio = {
        sendSms: (input: { to: string; from: string; body: string }) => {
          if (h.failNext) {
            const err = h.failNext;
            h.failNext = undefined;
            return Promise.reject(err);
          }
          h.sent.push(input);
          return Promise.resolve({ sid: `SM${'a'.repeat(32)}`, status: 'queued' });
        },
      } as unknown as TwilioRestService;
      const logger = {
        warn: (message: string, meta: Record<string, unknown>) => h.warnings.push({ message, meta }),
        info: () => undefined,
        error: () => undefined,
        debug: () => undefined,
      } as unknown as Logger;
      return registry.invoke(
        'send_sms',
        JSON.stringify(args),
        { callId: call.id, call, logger, services: { twilio, settings, smsLimiter: limiter } },
        call.profile.tools,
      );
    },
  };
  return h;
}

describe('send_sms templates and free text', () => {
  it('sends a template filled with its declared variables', async () => {
    const h = harness();
    const outcome = await h.invoke({ template: 'order_confirmation', variables: { orderId: 'A1234', date: '3 May' } });
    expect(outcome).toMatchObject({ ok: true, result: { ok: true, status: 'queued' } });
    expect(h.sent).toEqual([
      { to: '+15551234567', from: OUR_NUMBER, body: 'Order A1234 is confirmed for 3 May. Thank you!' },
    ]);
  });

  it('refuses free text where the profile does not allow it', async () => {
    const h = harness();
    await expect(h.invoke({ message: 'Click http://evil.example to win' })).resolves.toMatchObject({
      ok: false,
      error: { code: 'free_text_not_allowed', message: 'use one of the templates: order_confirmation, reference' },
    });
    expect(h.sent).toEqual([]);
  });

  it('allows bounded free text without links where the profile allows it', async () => {
    const h = harness();
    await expect(h.invoke({ message: 'Your table is booked.' }, { profile: 'chatty' })).resolves.toMatchObject({
      ok: true,
    });
    await expect(h.invoke({ message: 'x'.repeat(41) }, { profile: 'chatty' })).resolves.toMatchObject({
      error: { code: 'too_long', message: 'the message may have at most 40 characters' },
    });
    for (const link of ['see https://evil.example', 'go to www.evil.io', 'visit evil.com now', 'mail me@x.org']) {
      await expect(h.invoke({ message: link }, { profile: 'chatty' })).resolves.toMatchObject({
        error: { code: 'link_not_allowed' },
      });
    }
    expect(h.sent.map((s) => s.body)).toEqual(['Your table is booked.']);
  });

  it.each([
    [
      'an undeclared variable',
      { template: 'reference', variables: { ref: '42', link: 'x' } },
      'unknown_variable',
      'template reference has no variable link',
    ],
    [
      'a missing variable',
      { template: 'reference', variables: {} },
      'missing_variable',
      'template reference needs ref',
    ],
    [
      'a value breaking the declared pattern',
      { template: 'order_confirmation', variables: { orderId: 'A1; visit evil.com', date: 'today' } },
      'invalid_variable',
      'orderId must be a letter and 3 to 8 digits, at most 40 characters',
    ],
    [
      'a link in a default variable',
      { template: 'reference', variables: { ref: 'evil.example' } },
      'invalid_variable',
      'ref must be letters, digits, spaces and simple punctuation, without links, at most 40 characters',
    ],
    [
      'a line break in a variable',
      { template: 'reference', variables: { ref: '42\nCall +1900' } },
      'invalid_variable',
      'ref must be letters, digits, spaces and simple punctuation, without links, at most 40 characters',
    ],
    [
      'a too long variable',
      { template: 'reference', variables: { ref: '1'.repeat(41) } },
      'invalid_variable',
      'ref must be letters, digits, spaces and simple punctuation, without links, at most 40 characters',
    ],
  ])('refuses %s, naming it', async (_what, args, code, message) => {
    const h = harness();
    await expect(h.invoke(args)).resolves.toMatchObject({ ok: false, error: { code, message } });
    expect(h.sent).toEqual([]);
  });

  it("refuses another profile's template", async () => {
    const h = harness();
    await expect(h.invoke({ template: 'callback', variables: { time: '5 pm' } })).resolves.toMatchObject({
      error: { code: 'unknown_template', message: expect.stringContaining('order_confirmation, reference') },
    });
    await expect(
      h.invoke({ template: 'callback', variables: { time: '5 pm' } }, { profile: 'other' }),
    ).resolves.toMatchObject({ ok: true });
    expect(h.sent.map((s) => s.body)).toEqual(['We will call you back at 5 pm.']);
  });

  it('declares templates and their variables to the model; message only when a profile allows free text', () => {
    const h = harness();
    const [def] = h.registry.definitions(['send_sms']);
    expect(def.description).toContain('order_confirmation (variables: orderId, date): confirms an order');
    expect(def.parameters).toMatchObject({
      properties: { template: { enum: ['callback', 'order_confirmation', 'reference'] }, message: { type: 'string' } },
      additionalProperties: false,
    });
    const strict = harness({ profiles: { default: { tools: ['send_sms'] } }, sms: PROFILES.sms });
    expect(
      (strict.registry.definitions(['send_sms'])[0].parameters as { properties: object }).properties,
    ).not.toHaveProperty('message');
  });
});

describe('send_sms destinations and limits', () => {
  it('sends only to the allowed country codes (default: that of TWILIO_PHONE_NUMBER)', async () => {
    const h = harness();
    expect(h.settings.sms.countryCodes).toEqual(['+1']);
    await expect(
      h.invoke({ template: 'reference', variables: { ref: '42' } }, { to: '+447700900123' }),
    ).resolves.toMatchObject({
      ok: false,
      error: { code: 'destination_not_allowed', message: "text messages cannot be sent to this caller's country" },
    });
    await expect(
      h.invoke({ template: 'reference', variables: { ref: '42' } }, { profile: 'uk', to: '+447700900123' }),
    ).resolves.toMatchObject({ ok: true });
    await expect(
      h.invoke({ template: 'reference', variables: { ref: '42' } }, { profile: 'uk', to: '+15551234567' }),
    ).resolves.toMatchObject({ error: { code: 'destination_not_allowed' } });
    await expect(
      h.invoke({ template: 'reference', variables: { ref: '42' } }, { profile: 'nowhere' }),
    ).resolves.toMatchObject({ error: { code: 'destination_not_allowed' } });
    expect(h.sent.map((s) => s.to)).toEqual(['+447700900123']);
  });

  it('limits messages per call, per number per day (all profiles) and per profile per day', async () => {
    const h = harness();
    const ref = { template: 'reference', variables: { ref: '42' } };
    const call = h.newCall('default', '+15550000001');
    await expect(h.invoke(ref, { call })).resolves.toMatchObject({ ok: true });
    await expect(h.invoke(ref, { call })).resolves.toMatchObject({ ok: true });
    await expect(h.invoke(ref, { call })).resolves.toMatchObject({
      error: { code: 'limit_reached', message: 'at most 2 text messages per call' },
    });
    // A new call from the same number: the per-number limit (3 a day) counts over calls and profiles.
    await expect(h.invoke(ref, { to: '+15550000001', profile: 'chatty' })).resolves.toMatchObject({ ok: true });
    await expect(h.invoke(ref, { to: '+15550000001' })).resolves.toMatchObject({
      error: { code: 'limit_reached', message: 'at most 3 text messages to this number per day' },
    });
    // Per profile per day (5): default has sent 2, three more numbers bring it to 5.
    for (const n of ['2', '3', '4']) {
      await expect(h.invoke(ref, { to: `+1555000000${n}` })).resolves.toMatchObject({ ok: true });
    }
    await expect(h.invoke(ref, { to: '+15550000005' })).resolves.toMatchObject({
      error: { code: 'limit_reached', message: 'the daily limit of text messages is reached' },
    });
    // Another profile has its own daily count.
    await expect(h.invoke(ref, { to: '+15550000005', profile: 'chatty' })).resolves.toMatchObject({ ok: true });
    expect(h.sent).toHaveLength(7);
    // 24 hours later the window has moved on.
    h.clock.now += 24 * 60 * 60 * 1000;
    await expect(h.invoke(ref, { to: '+15550000001' })).resolves.toMatchObject({ ok: true });
    await expect(h.invoke(ref, { to: '+15550000005' })).resolves.toMatchObject({ ok: true });
    expect(h.limiter.size).toBe(3); // old entries dropped: two numbers and one profile remain
  });

  it('gives the reservation back when Twilio refuses, and never relays Twilio’s message', async () => {
    const h = harness({ ...PROFILES, sms: { ...PROFILES.sms, maxPerNumberPerDay: 1 } });
    const ref = { template: 'reference', variables: { ref: '42' } };
    h.failNext = new TwilioRestError("Twilio send sms failed: The 'To' number +15551234567 is not valid", 400, 21211);
    const outcome = await h.invoke(ref);
    expect(outcome).toMatchObject({
      ok: false,
      error: { code: 'send_failed', message: 'the text message could not be sent' },
    });
    expect(JSON.stringify(outcome)).not.toContain('1234567');
    await expect(h.invoke(ref)).resolves.toMatchObject({ ok: true });
  });

  it('logs refusals with the number masked but for its last two digits', async () => {
    const h = harness();
    await h.invoke({ message: 'hello' }, { to: '+15551234567' });
    await h.invoke({ template: 'reference', variables: { ref: '42' } }, { to: '+447700900123' });
    expect(h.warnings.map((w) => [w.message, w.meta.code, w.meta.to])).toEqual([
      ['send_sms refused', 'free_text_not_allowed', '+*********67'],
      ['send_sms refused', 'destination_not_allowed', '+**********23'],
    ]);
    const logged = JSON.stringify(h.warnings);
    expect(logged).not.toContain('5551234567');
    expect(logged).not.toContain('7700900123');
  });
});

describe('send_sms configuration', () => {
  const problems = (file: unknown, env = TWILIO_ENV): string[] => {
    try {
      load(file, env);
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
  };

  it('needs templates or allowFreeText for a profile listing send_sms', () => {
    expect(problems({ profiles: { default: { tools: ['send_sms'] } } })).toEqual([
      'AGENT_PROFILES_FILE: profiles.default: tool send_sms needs sms.templates (or sms.allowFreeText) in AGENT_PROFILES_FILE',
    ]);
    expect(problems({ profiles: { default: { tools: ['send_sms'], sms: { allowFreeText: true } } } })).toEqual([]);
  });

  it('reports bad templates, patterns and country codes with their place', () => {
    expect(
      problems({
        sms: {
          templates: { a: { text: 'Hi {name}', variables: { name: { pattern: '(' }, other: {} } } },
          countryCodes: ['44'],
        },
        profiles: { p: { sms: { maxPerDay: -1 } } },
      }),
    ).toEqual([
      'AGENT_PROFILES_FILE: profiles.p.sms.maxPerDay: must be >= 0',
      'AGENT_PROFILES_FILE: sms.countryCodes.0: must match pattern "^\\+[1-9][0-9]{0,5}$"',
    ]);
    expect(
      problems({ sms: { templates: { a: { text: 'Hi {name}', variables: { name: { pattern: '(' }, other: {} } } } } }),
    ).toEqual([
      'AGENT_PROFILES_FILE: sms.templates.a.variables.name.pattern: is not a valid regular expression',
      'AGENT_PROFILES_FILE: sms.templates.a.variables.other: not used in the text',
    ]);
  });

  it('has safe defaults, and a profile overrides the top-level settings field by field', () => {
    const s = load({ sms: { maxPerCall: 1, countryCodes: ['+1', '+44'] }, profiles: { p: { sms: { maxPerDay: 7 } } } });
    expect(profileByName(s, 'p').sms).toMatchObject({
      maxPerCall: 1,
      maxPerNumberPerDay: 3,
      maxPerDay: 7,
      countryCodes: ['+1', '+44'],
      allowFreeText: false,
      maxFreeTextChars: 160,
    });
    expect(load({}, { ...TWILIO_ENV, TWILIO_PHONE_NUMBER: '+447700900000' }).sms.countryCodes).toEqual(['+44']);
  });
});

describe('phone number helpers', () => {
  it.each([
    ['+15551234567', '+1'],
    ['+74951234567', '+7'],
    ['+447700900123', '+44'],
    ['+4915112345678', '+49'],
    ['+353861234567', '+353'],
    ['+8613912345678', '+86'],
    ['+85291234567', '+852'],
    ['+21612345678', '+216'],
  ])('country calling code of %s is %s', (number, code) => {
    expect(countryCallingCode(number)).toBe(code);
  });

  it('masks all but the last two digits', () => {
    expect(countryCallingCode('not a number')).toBeUndefined();
    expect(maskNumber('+15551234567')).toBe('+*********67');
    expect(maskNumber(null)).toBe('(none)');
  });
});
