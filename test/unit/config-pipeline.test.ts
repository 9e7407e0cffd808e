import { type ConfigError, loadConfig, testConfig } from '../../src/config';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ NODE_ENV: 'test', ...env });
    return [];
  } catch (err) {
    return (err as ConfigError).problems;
  }
}

describe('pipeline configuration', () => {
  it('chooses the language model automatically: backend, else orchestrator, else chat with a key or URL, else local', () => {
    expect(testConfig().pipeline.llm).toBe('local');
    expect(testConfig({ OPENAI_API_KEY: 'sk-test' }).pipeline.llm).toBe('openai');
    expect(testConfig({ LLM_API_URL: 'http://127.0.0.1:8000/v1' }).pipeline.llm).toBe('openai');
    expect(testConfig({ ORCHESTRATOR_URL: 'http://o.test/x', LLM_API_KEY: 'k' }).pipeline.llm).toBe('orchestrator');
    expect(
      testConfig({ BACKEND_API_BASE_URL: 'http://b.test/', ORCHESTRATOR_URL: 'http://o.test/x' }).pipeline.llm,
    ).toBe('backend');
    expect(testConfig({ PIPELINE_LLM: 'local', OPENAI_API_KEY: 'sk-test' }).pipeline.llm).toBe('local');
  });

  it('defaults: local recognizer, espeak-ng, replies on, chat key from OPENAI_API_KEY, URLs without a trailing slash', () => {
    const p = testConfig({ OPENAI_API_KEY: 'sk-test', BACKEND_API_BASE_URL: 'http://b.test/api/' }).pipeline;
    expect(p).toMatchObject({
      stt: 'local',
      tts: 'espeak',
      conversationEnabled: true,
      stageTimeoutMs: 8000,
      echoDelayMs: 500,
    });
    expect(p.chat).toEqual({ url: 'https://api.openai.com/v1', apiKey: 'sk-test', model: 'gpt-4o-mini' });
    expect(p.backend.baseUrl).toBe('http://b.test/api');
    expect(testConfig({ PIPELINE_LOCAL_STT_WORDS: ' Yes, NO ,,help ' }).pipeline.localSttWords).toEqual([
      'yes',
      'no',
      'help',
    ]);
  });

  it('names every bad pipeline variable at once', () => {
    const found = problems({
      PIPELINE_STT: 'whisper',
      PIPELINE_STAGE_TIMEOUT_MS: '50',
      ECHO_DELAY_MS: '-1',
      DEEPGRAM_API_URL: 'https://not-a-websocket',
      LLM_API_URL: 'ftp://x',
      AI_CONVERSATION_ENABLED: 'maybe',
    }).map((p) => p.split(':')[0]);
    expect(found.sort()).toEqual(
      [
        'AI_CONVERSATION_ENABLED',
        'DEEPGRAM_API_URL',
        'ECHO_DELAY_MS',
        'LLM_API_URL',
        'PIPELINE_STAGE_TIMEOUT_MS',
        'PIPELINE_STT',
      ].sort(),
    );
  });
});
