/** SkillRegistry (validation, timeouts, errors as data) and agent profile loading (clear config errors). */
import { SkillRegistry } from '../../src/agent/skill-registry';
import { loadAgentSettings, profileForNumber, profileByName } from '../../src/agent/profiles';
import { BUILT_IN_SKILLS } from '../../src/agent/skills';
import { defineSkill, SkillError, type SkillCall } from '../../src/agent/skills/types';
import { ConfigError, testConfig } from '../../src/config';
import { createLogger } from '../../src/logging/logger';

const logger = createLogger({ level: 'error', json: false, silent: true });
const settings = loadAgentSettings(testConfig(), BUILT_IN_SKILLS);

const echo = defineSkill<{ n: number }>({
  name: 'echo',
  description: 'echo',
  parameters: {
    type: 'object',
    properties: { n: { type: 'integer', minimum: 1 } },
    required: ['n'],
    additionalProperties: false,
  },
  handler: (args) => ({ doubled: args.n * 2 }),
});
let aborted = false;
const hang = defineSkill<Record<string, never>>({
  name: 'hang',
  description: 'never finishes',
  parameters: { type: 'object' },
  timeoutMs: 50,
  handler: (_args, ctx) =>
    new Promise(() => {
      ctx.signal.addEventListener('abort', () => (aborted = true));
    }),
});
const boom = defineSkill({
  name: 'boom',
  description: 'throws',
  parameters: { type: 'object' },
  handler: () => {
    throw new SkillError('not_found', 'no such order');
  },
});

const registry = new SkillRegistry([echo, hang, boom], settings);
const ctx = { callId: 'c1', call: {} as SkillCall, logger, services: { twilio: undefined, settings } };
const all = ['echo', 'hang', 'boom'];

describe('SkillRegistry.invoke', () => {
  it('validates the arguments and runs the handler', async () => {
    await expect(registry.invoke('echo', '{"n":4}', ctx, all)).resolves.toMatchObject({
      ok: true,
      result: { doubled: 8 },
    });
  });

  it.each([
    ['not json', '{n:', 'the arguments are not valid JSON'],
    ['a missing field', '{}', "arguments: must have required property 'n'"],
    ['a wrong type', '{"n":"4"}', 'n: must be integer'],
    ['an unknown field', '{"n":1,"x":2}', 'arguments: unknown field x'],
  ])('refuses %s as data', async (_what, args, message) => {
    await expect(registry.invoke('echo', args, ctx, all)).resolves.toMatchObject({
      ok: false,
      error: { code: 'invalid_arguments', message },
    });
  });

  it('refuses unknown tools and tools outside the profile', async () => {
    await expect(registry.invoke('nope', '{}', ctx, all)).resolves.toMatchObject({ error: { code: 'unknown_tool' } });
    await expect(registry.invoke('echo', '{"n":1}', ctx, ['boom'])).resolves.toMatchObject({
      error: { code: 'unknown_tool' },
    });
  });

  it('times out a handler and aborts its signal', async () => {
    const outcome = await registry.invoke('hang', '{}', ctx, all);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'timeout' } });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(49);
    expect(aborted).toBe(true);
  });

  it("returns a skill's error as data", async () => {
    await expect(registry.invoke('boom', '', ctx, all)).resolves.toMatchObject({
      ok: false,
      error: { code: 'not_found', message: 'no such order' },
    });
  });

  it('builds tool definitions from the profile list', () => {
    expect(registry.definitions(['boom', 'missing', 'echo']).map((d) => d.name)).toEqual(['boom', 'echo']);
    expect(registry.definitions(['echo'])[0]).toMatchObject({ type: 'function', parameters: { required: ['n'] } });
  });
});

describe('loadAgentSettings', () => {
  const problems = (file: unknown, env: Record<string, string> = {}): string[] => {
    try {
      loadAgentSettings(testConfig(env), BUILT_IN_SKILLS, typeof file === 'string' ? file : JSON.stringify(file));
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
  };

  it('builds the default profile from AGENT_* with end_call', () => {
    const p = profileByName(settings, undefined);
    expect(p).toMatchObject({ name: 'default', tools: ['end_call'], voice: 'marin', greetsFirst: true });
  });

  it('reads profiles, chosen by name or dialled number', () => {
    const s = loadAgentSettings(
      testConfig({ TRANSFER_NUMBER: '+15550001111' }),
      BUILT_IN_SKILLS,
      JSON.stringify({ profiles: { sales: { voice: 'cedar', numbers: ['+15550002222'], tools: ['transfer_call'] } } }),
    );
    expect(profileForNumber(s, '+15550002222')).toMatchObject({ name: 'sales', voice: 'cedar' });
    expect(profileForNumber(s, '+19999999999').name).toBe('default');
    expect(s.transferTargets.default).toMatchObject({ number: '+15550001111' });
  });

  it('reports every problem with its place', () => {
    expect(problems('{oops')[0]).toMatch(/^AGENT_PROFILES_FILE: not valid JSON/);
    expect(
      problems({
        profiles: {
          a: { tools: ['fly'], numbers: ['12345'], color: 'red' },
          b: { tools: ['transfer_call', 'send_sms', 'http_lookup'] },
        },
      }),
    ).toEqual([
      'AGENT_PROFILES_FILE: profiles.a: unknown field "color"',
      'AGENT_PROFILES_FILE: profiles.a.numbers.0: must match pattern "^\\+[1-9][0-9]{1,14}$"',
    ]);
    expect(problems({ profiles: { a: { tools: ['fly'] }, b: { tools: ['transfer_call', 'send_sms'] } } })).toEqual([
      'AGENT_PROFILES_FILE: profiles.a: unknown tool "fly" (known: end_call, transfer_call, http_lookup, send_sms, set_disposition)',
      'AGENT_PROFILES_FILE: profiles.b: tool transfer_call needs a transfer destination (TRANSFER_NUMBER or transferTargets in AGENT_PROFILES_FILE)',
      'AGENT_PROFILES_FILE: profiles.b: tool send_sms needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER to send messages',
    ]);
    expect(problems({ httpEndpoints: { x: { url: 'file:///etc/passwd' } } })).toEqual([
      'AGENT_PROFILES_FILE: httpEndpoints.x.url: must match pattern "^https?://"',
    ]);
    expect(problems({}, { AGENT_TOOLS: 'end_call,teleport' })[0]).toMatch(/^AGENT_TOOLS: unknown tool "teleport"/);
    expect(problems({ profiles: { a: { numbers: ['+15550001111'] }, b: { numbers: ['+15550001111'] } } })).toEqual([
      'AGENT_PROFILES_FILE: profiles.b.numbers: +15550001111 is already used by profile a',
    ]);
  });

  it('refuses a bad TRANSFER_NUMBER at config time', () => {
    expect(() => testConfig({ TRANSFER_NUMBER: 'call bob' })).toThrow(/TRANSFER_NUMBER: must be an E.164 number/);
  });
});
