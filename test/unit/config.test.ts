import { readFileSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { ConfigError, loadConfig, DEFAULT_REALTIME_URL } from '../../src/config';

/** Production with every protection on: loads without a problem. */
const SECURE_PRODUCTION = {
  NODE_ENV: 'production',
  API_TOKENS: 'prod-api-token-0123456789',
  PUBLIC_URL: 'https://calls.example.com',
  TWILIO_AUTH_TOKEN: '0123456789abcdef0123456789ABCDEF',
  OPENAI_API_KEY: 'sk-test-key',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('runs on embedded defaults with no environment at all', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.publicUrl).toBe('http://localhost:3000');
    expect(c.databaseUrl).toBe('file:./data/switchboard.db');
    expect(c.recordingsDir).toBe('./recordings');
    expect(c.openai).toMatchObject({
      realtimeUrl: DEFAULT_REALTIME_URL,
      model: 'gpt-realtime',
      useLocalServer: true,
      reconnectAttempts: 5,
    });
    expect(c.twilio.validateSignatures).toBe(false);
    expect(c.apiTokens).toEqual([]);
    expect(Object.isFrozen(c.openai)).toBe(true);
  });

  it('derives PUBLIC_URL from PORT and strips a trailing slash', () => {
    expect(loadConfig({ PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
    expect(loadConfig({ PUBLIC_URL: 'https://calls.example.com/' }).publicUrl).toBe('https://calls.example.com');
  });

  it('reports every bad variable with its own message', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      DATABASE_URL: 'mysql://x',
      OPENAI_REALTIME_URL: 'http://not-a-ws',
      LOG_LEVEL: 'loud',
      API_TOKENS: 'short',
    });
    expect(problems).toHaveLength(5);
    for (const name of ['PORT', 'DATABASE_URL', 'OPENAI_REALTIME_URL', 'LOG_LEVEL', 'API_TOKENS']) {
      expect(problems.some((p) => p.startsWith(`${name}:`))).toBe(true);
    }
  });

  it('refuses to start in production without a Twilio auth token unless signature checks are switched off', () => {
    const problems = problemsOf({ ...SECURE_PRODUCTION, TWILIO_AUTH_TOKEN: '' });
    expect(problems).toEqual([expect.stringMatching(/^TWILIO_AUTH_TOKEN: is required/)]);
    expect(problemsOf({ ...SECURE_PRODUCTION, TWILIO_AUTH_TOKEN: '', TWILIO_SIGNATURE_VALIDATION: 'false' })).toEqual(
      [],
    );
    expect(loadConfig(SECURE_PRODUCTION).twilio.validateSignatures).toBe(true);
  });

  it('uses the real OpenAI endpoint when an API key is set, and a custom endpoint when a URL is set', () => {
    expect(loadConfig({ OPENAI_API_KEY: 'sk-test' }).openai.useLocalServer).toBe(false);
    expect(loadConfig({ OPENAI_REALTIME_URL: 'ws://127.0.0.1:9000/v1/realtime' }).openai.useLocalServer).toBe(false);
  });

  it('parses API tokens and semantic VAD', () => {
    const c = loadConfig({
      API_TOKENS: 'aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb',
      VAD_TYPE: 'semantic_vad',
      VAD_EAGERNESS: 'high',
    });
    expect(c.apiTokens).toEqual(['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb']);
    expect(c.agent.vad).toEqual({ type: 'semantic_vad', eagerness: 'high' });
  });
});

/** The names of the variables a ConfigError's problems are about ("NAME: message"). */
function namesIn(problems: string[]): string[] {
  return problems.map((p) => p.slice(0, p.indexOf(':')));
}

describe('configuration errors: every bad variable in one message (issue 11.4)', () => {
  const cases: Array<[string, Record<string, string>, string[]]> = [
    [
      'parse errors and range errors together',
      { PORT: 'abc', API_TOKENS: 'short', OPENAI_AUDIO_FORMAT: 'mp3', VAD_THRESHOLD: '2' },
      ['PORT', 'API_TOKENS', 'OPENAI_AUDIO_FORMAT', 'VAD_THRESHOLD'],
    ],
    [
      'a range error beside a parse error',
      { MAX_CONCURRENT_CALLS: '-1', SHUTDOWN_GRACE_MS: 'soon' },
      ['MAX_CONCURRENT_CALLS', 'SHUTDOWN_GRACE_MS'],
    ],
    ['a negative silence', { VAD_SILENCE_MS: '-5' }, ['VAD_SILENCE_MS']],
    [
      'every numeric variable out of its range at once',
      {
        PORT: '70000',
        LOCAL_REALTIME_PORT: '-1',
        VAD_THRESHOLD: '1.5',
        VAD_SILENCE_MS: '-5',
        VAD_PREFIX_PADDING_MS: 'abc',
        TOOL_TIMEOUT_MS: '50',
        AI_RECONNECT_ATTEMPTS: '1.5',
        AI_RECONNECT_BASE_MS: '0',
        AI_RECONNECT_MAX_MS: '-1',
        AI_SESSION_MAX_MS: '99999999',
        AI_CONNECT_TIMEOUT_MS: '0',
        AI_IDLE_TIMEOUT_MS: '-3',
        AI_KEEPALIVE_MS: '5',
        PRICE_AUDIO_INPUT_PER_MTOK: '-1',
        PRICE_AUDIO_OUTPUT_PER_MTOK: 'x',
        PRICE_TEXT_INPUT_PER_MTOK: '-0.1',
        PRICE_TEXT_OUTPUT_PER_MTOK: '1e9',
        PRICE_CACHED_INPUT_PER_MTOK: '',
        MAX_CONCURRENT_CALLS: '0',
        SHUTDOWN_GRACE_MS: '-1',
        API_RATE_LIMIT_PER_MIN: '0',
      },
      [
        'PORT',
        'LOCAL_REALTIME_PORT',
        'VAD_THRESHOLD',
        'VAD_SILENCE_MS',
        'VAD_PREFIX_PADDING_MS',
        'TOOL_TIMEOUT_MS',
        'AI_RECONNECT_ATTEMPTS',
        'AI_RECONNECT_BASE_MS',
        'AI_RECONNECT_MAX_MS',
        'AI_SESSION_MAX_MS',
        'AI_CONNECT_TIMEOUT_MS',
        'AI_IDLE_TIMEOUT_MS',
        'AI_KEEPALIVE_MS',
        'PRICE_AUDIO_INPUT_PER_MTOK',
        'PRICE_AUDIO_OUTPUT_PER_MTOK',
        'PRICE_TEXT_INPUT_PER_MTOK',
        'PRICE_TEXT_OUTPUT_PER_MTOK',
        'PRICE_CACHED_INPUT_PER_MTOK',
        'MAX_CONCURRENT_CALLS',
        'SHUTDOWN_GRACE_MS',
        'API_RATE_LIMIT_PER_MIN',
      ],
    ],
    [
      'bad strings and URLs with bad numbers',
      {
        TRANSFER_NUMBER: '555-1234',
        TWILIO_API_BASE_URL: 'api.twilio.com',
        PUBLIC_URL: 'localhost:3603',
        AI_RECONNECT_ATTEMPTS: '-1',
        VAD_TYPE: 'loud',
      },
      ['TRANSFER_NUMBER', 'TWILIO_API_BASE_URL', 'PUBLIC_URL', 'AI_RECONNECT_ATTEMPTS', 'VAD_TYPE'],
    ],
    [
      'production rules beside parse errors',
      { NODE_ENV: 'production', PORT: 'abc', VAD_THRESHOLD: '2' },
      ['PORT', 'VAD_THRESHOLD', 'API_TOKENS', 'PUBLIC_URL', 'TWILIO_AUTH_TOKEN', 'OPENAI_API_KEY'],
    ],
    [
      'reconnect ceiling below its base',
      { AI_RECONNECT_BASE_MS: '2000', AI_RECONNECT_MAX_MS: '1000' },
      ['AI_RECONNECT_MAX_MS'],
    ],
  ];

  it.each(cases)('%s: one ConfigError names each bad variable once', (_label, env, names) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(namesIn(problems).sort()).toEqual([...names].sort());
    // The message shows them all, one line each.
    for (const name of names) expect((error as ConfigError).message).toContain(`  - ${name}: `);
  });

  it('accepts the edges of every range', () => {
    const c = loadConfig({
      PORT: '65535',
      VAD_THRESHOLD: '0',
      VAD_SILENCE_MS: '0',
      AI_KEEPALIVE_MS: '0',
      SHUTDOWN_GRACE_MS: '0',
      AI_RECONNECT_ATTEMPTS: '0',
      MAX_CONCURRENT_CALLS: '1',
      TOOL_TIMEOUT_MS: '60000',
      PRICE_CACHED_INPUT_PER_MTOK: '0',
    });
    expect(c.port).toBe(65535);
    expect(c.agent.vad).toMatchObject({ threshold: 0, silenceMs: 0 });
    expect(c.ai.keepaliveMs).toBe(0);
    expect(loadConfig({ VAD_THRESHOLD: '1' }).agent.vad).toMatchObject({ threshold: 1 });
  });
});

describe('PUBLIC_URL (issue 11.3)', () => {
  it.each([
    'localhost:3603',
    'calls.example.com',
    'ftp://calls.example.com',
    'ws://calls.example.com',
    'https://calls.example.com/?x=1',
    'https://calls.example.com?',
    'https://calls.example.com/#top',
    'https://user:pw@calls.example.com',
    'http://',
    'https:// calls.example.com',
  ])('refuses %j with a PUBLIC_URL message', (value) => {
    const problems = problemsOf({ PUBLIC_URL: value });
    expect(namesIn(problems)).toEqual(['PUBLIC_URL']);
    expect(problems[0]).not.toContain('pw@');
  });

  it.each([
    ['http://localhost:3603', 'http://localhost:3603'],
    ['https://calls.example.com/switchboard/', 'https://calls.example.com/switchboard'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['HTTPS://Calls.Example.com', 'HTTPS://Calls.Example.com'],
  ])('accepts %j', (value, expected) => {
    expect(loadConfig({ PUBLIC_URL: value }).publicUrl).toBe(expected);
  });

  it('treats an empty PUBLIC_URL (PUBLIC_URL= in .env) as unset', () => {
    expect(loadConfig({ PUBLIC_URL: '', PORT: '3608' }).publicUrl).toBe('http://localhost:3608');
  });
});

describe('production refuses to start insecure (issue 10.3)', () => {
  it('starts with every protection on', () => {
    const c = loadConfig(SECURE_PRODUCTION);
    expect(c.env).toBe('production');
    expect(c.openai.useLocalServer).toBe(false);
  });

  it('names every problem of a bare production start at once, one line each', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(namesIn(problems)).toEqual(['API_TOKENS', 'PUBLIC_URL', 'TWILIO_AUTH_TOKEN', 'OPENAI_API_KEY']);
    expect(problems.find((p) => p.startsWith('OPENAI_API_KEY'))).toContain('ALLOW_LOCAL_AI_IN_PRODUCTION=true');
  });

  it.each<[string, Record<string, string>, string, RegExp]>([
    ['no API token', { API_TOKENS: '' }, 'API_TOKENS', /required in production/],
    ['a plain-http public URL', { PUBLIC_URL: 'http://calls.example.com' }, 'PUBLIC_URL', /https:\/\/ in production/],
    ['no public URL', { PUBLIC_URL: '' }, 'PUBLIC_URL', /must be set in production/],
    ['a short auth token', { TWILIO_AUTH_TOKEN: 'secret' }, 'TWILIO_AUTH_TOKEN', /32 hexadecimal/],
    [
      'a 31-digit auth token',
      { TWILIO_AUTH_TOKEN: '0123456789abcdef0123456789abcde' },
      'TWILIO_AUTH_TOKEN',
      /31 characters/,
    ],
    [
      'a non-hex auth token',
      { TWILIO_AUTH_TOKEN: 'crash-test-twilio-token-00000001' },
      'TWILIO_AUTH_TOKEN',
      /not all hex/,
    ],
    ['no OpenAI key (the local AI would answer)', { OPENAI_API_KEY: '' }, 'OPENAI_API_KEY', /local test AI/],
  ])('refuses %s', (_label, change, name, message) => {
    const problems = problemsOf({ ...SECURE_PRODUCTION, ...change });
    expect(namesIn(problems)).toEqual([name]);
    expect(problems[0]).toMatch(message);
    // A secret is never echoed back.
    if (change.TWILIO_AUTH_TOKEN) expect(problems[0]).not.toContain(change.TWILIO_AUTH_TOKEN);
  });

  it('lets the local AI answer in production only when ALLOW_LOCAL_AI_IN_PRODUCTION=true says so', () => {
    const c = loadConfig({ ...SECURE_PRODUCTION, OPENAI_API_KEY: '', ALLOW_LOCAL_AI_IN_PRODUCTION: 'true' });
    expect(c.openai.useLocalServer).toBe(true);
    // Another Realtime endpoint without a key is not the local server: allowed.
    expect(
      problemsOf({ ...SECURE_PRODUCTION, OPENAI_API_KEY: '', OPENAI_REALTIME_URL: 'wss://realtime.example.com/v1' }),
    ).toEqual([]);
  });

  it('applies none of the production rules in development or test', () => {
    expect(problemsOf({ NODE_ENV: 'development', TWILIO_AUTH_TOKEN: 'secret' })).toEqual([]);
    expect(problemsOf({ NODE_ENV: 'test' })).toEqual([]);
  });
});

describe('.env.example', () => {
  it('is a configuration the server starts with, as copied to .env', () => {
    const parsed = dotenv.parse(readFileSync(path.join(__dirname, '..', '..', '.env.example')));
    expect(parsed.PUBLIC_URL).toBe('');
    const c = loadConfig(parsed);
    expect(c.publicUrl).toBe('http://localhost:3000');
    expect(c.logPii).toBe(false);
    expect(c.agent.vad).toMatchObject({ type: 'server_vad', threshold: 0.5, silenceMs: 500 });
  });
});

describe('scale-out configuration', () => {
  it('takes a PostgreSQL DATABASE_URL and the cluster services, and names a bad one', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://sb@db.internal:5432/switchboard',
      NATS_URL: 'nats://127.0.0.1:4222',
      REDIS_URL: 'redis://127.0.0.1:6379',
      INSTANCE_ID: 'sb-1',
      RECORDINGS_S3_BUCKET: 'calls',
      S3_ENDPOINT: 'http://127.0.0.1:4569',
    });
    expect(config.databaseUrl).toBe('postgres://sb@db.internal:5432/switchboard');
    expect(config.cluster).toMatchObject({ natsUrl: 'nats://127.0.0.1:4222', redisUrl: 'redis://127.0.0.1:6379' });
    expect(config.cluster.instanceId).toBe('sb-1');
    expect(config.recordingStorage.s3).toMatchObject({ bucket: 'calls', endpoint: 'http://127.0.0.1:4569' });
    expect(loadConfig({}).cluster.natsUrl).toBe('');
    expect(loadConfig({}).cluster.instanceId).toMatch(/-\d+-[0-9a-f]{6}$/);
    const problems = problemsOf({ NATS_URL: 'http://nats', REDIS_URL: 'nope', DATABASE_URL: 'postgres://' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['DATABASE_URL', 'NATS_URL', 'REDIS_URL']);
  });
});
