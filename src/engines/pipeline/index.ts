/**
 * The cascaded engine's factory: providers chosen from the configuration (PIPELINE_STT,
 * PIPELINE_LLM, PIPELINE_TTS and their blocks), the rest from the call's agent profile.
 */
import type { AgentEngine, EngineContext } from '../../conversation/engine';
import { ConversationBackendLlm } from './llm/backend';
import { LocalLlm } from './llm/local';
import { OpenAiChatLlm } from './llm/openai-chat';
import { OrchestratorLlm } from './llm/orchestrator';
import { PipelineEngine } from './pipeline-engine';
import type { LlmProvider, SttProvider, TtsProvider } from './providers';
import { DeepgramStt } from './stt/deepgram';
import { OpenAiTranscriptionStt } from './stt/openai-transcription';
import { PocketsphinxStt } from './stt/pocketsphinx';
import { ElevenLabsTts } from './tts/elevenlabs';
import { EspeakTts } from './tts/espeak';
import { OpenAiSpeechTts } from './tts/openai-speech';
import type { Config } from '../../config';
import { bcp47Language, instructionsWithLanguage, transcriptionLanguage } from '../../agent/language';

/** One local recognizer per process (it holds the grammar file). */
let localStt: { words: string; provider: PocketsphinxStt } | undefined;

/** `languageHint`: the conversation's language, for providers that take one (the local one does not). */
export function sttProvider(config: Config, languageHint?: string): SttProvider {
  const p = config.pipeline;
  switch (p.stt) {
    case 'deepgram': {
      const language = bcp47Language(languageHint);
      return new DeepgramStt({
        ...p.deepgram,
        connectTimeoutMs: config.ai.connectTimeoutMs,
        ...(language ? { language } : {}),
      });
    }
    case 'openai': {
      const language = transcriptionLanguage(languageHint);
      return new OpenAiTranscriptionStt({
        url: p.openaiTranscriptionUrl,
        apiKey: config.openai.apiKey,
        model: config.agent.transcriptionModel,
        connectTimeoutMs: config.ai.connectTimeoutMs,
        ...(language ? { language } : {}),
      });
    }
    default: {
      const words = p.localSttWords.join(',');
      if (localStt?.words !== words) localStt = { words, provider: new PocketsphinxStt(p.localSttWords) };
      return localStt.provider;
    }
  }
}

export function llmProvider(config: Config): LlmProvider {
  const p = config.pipeline;
  switch (p.llm) {
    case 'openai':
      return new OpenAiChatLlm(p.chat);
    case 'backend':
      return new ConversationBackendLlm(p.backend);
    case 'orchestrator':
      return new OrchestratorLlm({ url: p.orchestratorUrl, apiKey: p.backend.apiKey, timeoutMs: p.backend.timeoutMs });
    default:
      return new LocalLlm();
  }
}

export function ttsProvider(config: Config, voice: string): TtsProvider {
  const p = config.pipeline;
  switch (p.tts) {
    case 'openai':
      return new OpenAiSpeechTts({ ...p.openaiTts, voice });
    case 'elevenlabs':
      return new ElevenLabsTts(p.elevenlabs);
    default:
      return new EspeakTts();
  }
}

export function createPipelineEngine(ctx: EngineContext): AgentEngine {
  const { config, profile } = ctx;
  const vad = profile.vad.type === 'server_vad' ? profile.vad : { threshold: 0.5, silenceMs: 500 };
  const llm = llmProvider(config);
  return new PipelineEngine({
    callId: ctx.callId,
    logger: ctx.logger,
    stt: sttProvider(config, profile.languageHint),
    llm,
    tts: ttsProvider(config, profile.voice),
    instructions: instructionsWithLanguage(profile.instructions, profile.languageHint),
    greeting: profile.greetsFirst ? profile.greeting : undefined,
    tools: ctx.tools,
    vad: { threshold: vad.threshold, silenceMs: vad.silenceMs },
    stageTimeoutMs: config.pipeline.stageTimeoutMs,
    conversationEnabled: config.pipeline.conversationEnabled,
    host: ctx.host,
  });
}
