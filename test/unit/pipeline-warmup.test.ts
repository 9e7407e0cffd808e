/**
 * The HTTP client's start-up is paid when a cascaded call starts, not inside its first turn: an
 * engine with a provider over HTTP warms it (once per process), an all-local engine does not.
 */
import { PCMU_8K } from '../../src/conversation/audio-format';
import { createLogger } from '../../src/logging/logger';
import { PipelineEngine } from '../../src/engines/pipeline/pipeline-engine';
import type { LlmProvider, SttProvider, TtsProvider } from '../../src/engines/pipeline/providers';
import * as warmup from '../../src/engines/pipeline/warmup';

const stt: SttProvider = {
  name: 'stub',
  inputFormat: PCMU_8K,
  open: () =>
    Promise.resolve({
      send: () => undefined,
      speechStarted: () => undefined,
      finalize: () => Promise.resolve(''),
      close: () => undefined,
    }),
};
const llm = (name: string): LlmProvider => ({ name, supportsTools: false, respond: () => Promise.resolve({}) });
const tts = (name: string): TtsProvider => ({ name, outputFormat: PCMU_8K, synthesize: () => Promise.resolve() });

function engine(llmName: string, ttsName: string): PipelineEngine {
  return new PipelineEngine({
    callId: 'warm',
    logger: createLogger({ level: 'error', json: false, silent: true }),
    stt,
    llm: llm(llmName),
    tts: tts(ttsName),
    instructions: 'test',
    tools: [],
    vad: { threshold: 0.5, silenceMs: 300 },
    stageTimeoutMs: 1000,
    conversationEnabled: true,
  });
}

describe('HTTP client warm-up', () => {
  afterEach(() => jest.restoreAllMocks());

  it('an engine with an HTTP provider warms the client at start; an all-local one does not', async () => {
    const spy = jest.spyOn(warmup, 'warmHttpClient').mockResolvedValue(undefined);
    const local = engine('local', 'espeak');
    await local.start();
    expect(spy).not.toHaveBeenCalled();
    for (const [l, t] of [
      ['openai-chat', 'espeak'],
      ['local', 'elevenlabs'],
    ]) {
      const e = engine(l, t);
      await e.start();
      e.close();
    }
    expect(spy).toHaveBeenCalledTimes(2);
    local.close();
  });

  it('warms once per process, through a throw-away loopback server, and settles', async () => {
    const first = warmup.warmHttpClient();
    expect(warmup.warmHttpClient()).toBe(first);
    await expect(first).resolves.toBeUndefined();
  });
});
