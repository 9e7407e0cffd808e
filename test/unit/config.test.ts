import { ConfigError, loadConfig, DEFAULT_REALTIME_URL } from '../../src/config';

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
      DATABASE_URL: 'postgres://x',
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
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([expect.stringMatching(/^TWILIO_AUTH_TOKEN:/)]);
    expect(problemsOf({ NODE_ENV: 'production', TWILIO_SIGNATURE_VALIDATION: 'false' })).toEqual([]);
    expect(loadConfig({ NODE_ENV: 'production', TWILIO_AUTH_TOKEN: 'secret' }).twilio.validateSignatures).toBe(true);
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
