/**
 * Configuration: environment variables checked once at start by envalid, turned into a frozen,
 * typed Config. Every bad variable is reported with its own message before the process exits.
 */
import { bool, cleanEnv, num, port, str, url, makeValidator, EnvError } from 'envalid';

export const DEFAULT_DATABASE_URL = 'file:./data/switchboard.db';
export const DEFAULT_REALTIME_URL = 'wss://api.openai.com/v1/realtime';

const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;
const VOICES = ['alloy', 'ash', 'ballad', 'cedar', 'coral', 'echo', 'marin', 'sage', 'shimmer', 'verse'];

const wsUrl = makeValidator<string>((input) => {
  let parsed: URL;
  try {
    parsed = new URL(input);
  } catch {
    throw new EnvError('must be a ws:// or wss:// URL');
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new EnvError('must be a ws:// or wss:// URL');
  return input;
});

const sqliteUrl = makeValidator<string>((input) => {
  if (!input.startsWith('file:') || input.length <= 'file:'.length) {
    throw new EnvError('must be a SQLite URL such as file:./data/switchboard.db');
  }
  return input;
});

const tokenList = makeValidator<string[]>((input) => {
  const tokens = input
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (tokens.some((t) => t.length < 16)) throw new EnvError('each token must be at least 16 characters');
  return tokens;
});

const positiveNum = makeValidator<number>((input) => {
  const n = Number(input);
  if (!Number.isFinite(n) || n < 0) throw new EnvError('must be a non-negative number');
  return n;
});

const SPEC = {
  NODE_ENV: str({ choices: ['development', 'production', 'test'], default: 'development' }),
  PORT: port({ default: 3000 }),
  HOST: str({ default: '0.0.0.0', desc: 'Interface to listen on' }),
  PUBLIC_URL: url({ default: undefined, desc: 'Externally reachable base URL (Twilio calls it)' }),
  DATABASE_URL: sqliteUrl({ default: DEFAULT_DATABASE_URL }),
  RECORDING_STORAGE_PATH: str({ default: './recordings' }),
  LOG_LEVEL: str({ choices: [...LOG_LEVELS], default: 'info' }),
  LOG_PII: bool({ default: false, desc: 'Log phone numbers and transcript text' }),
  API_TOKENS: tokenList({ default: [], desc: 'Comma-separated bearer tokens protecting /api' }),
  TWILIO_ACCOUNT_SID: str({ default: '' }),
  TWILIO_AUTH_TOKEN: str({ default: '' }),
  TWILIO_PHONE_NUMBER: str({ default: '' }),
  TWILIO_SIGNATURE_VALIDATION: bool({ default: true }),
  OPENAI_API_KEY: str({ default: '' }),
  OPENAI_REALTIME_URL: wsUrl({ default: DEFAULT_REALTIME_URL }),
  OPENAI_REALTIME_MODEL: str({ default: 'gpt-realtime' }),
  OPENAI_AUDIO_FORMAT: str({ choices: ['pcmu', 'pcm16'], default: 'pcmu' }),
  AGENT_VOICE: str({ choices: VOICES, default: 'marin' }),
  AGENT_INSTRUCTIONS: str({
    default:
      'You are a friendly, concise call-center agent for Switchboard. Greet the caller, find out what they need, and help them. Keep answers short: this is a phone call.',
  }),
  AGENT_GREETING: str({ default: 'Greet the caller and ask how you can help.' }),
  AGENT_GREETS_FIRST: bool({ default: true }),
  VAD_TYPE: str({ choices: ['server_vad', 'semantic_vad'], default: 'server_vad' }),
  VAD_THRESHOLD: num({ default: 0.5 }),
  VAD_SILENCE_MS: num({ default: 500 }),
  VAD_PREFIX_PADDING_MS: num({ default: 300 }),
  VAD_EAGERNESS: str({ choices: ['low', 'medium', 'high', 'auto'], default: 'auto' }),
  TRANSCRIPTION_MODEL: str({ default: 'gpt-4o-transcribe' }),
  AGENT_TOOLS: str({ default: 'end_call', desc: 'Comma-separated tools of the default agent profile' }),
  AGENT_PROFILES_FILE: str({ default: '', desc: 'JSON file with agent profiles, transfer targets, HTTP endpoints' }),
  TRANSFER_NUMBER: str({ default: '', desc: 'Default transfer_call destination (E.164 or sip:)' }),
  TOOL_TIMEOUT_MS: num({ default: 5000, desc: 'Default time a tool call may run' }),
  TWILIO_API_BASE_URL: str({ default: '', desc: 'Twilio REST API base URL (default https://api.twilio.com)' }),
  AI_RECONNECT_ATTEMPTS: num({ default: 5 }),
  AI_RECONNECT_BASE_MS: num({ default: 250 }),
  AI_RECONNECT_MAX_MS: num({ default: 5000 }),
  AI_SESSION_MAX_MS: num({ default: 55 * 60 * 1000, desc: 'Replace the AI session after this long' }),
  PRICE_AUDIO_INPUT_PER_MTOK: positiveNum({ default: 32 }),
  PRICE_AUDIO_OUTPUT_PER_MTOK: positiveNum({ default: 64 }),
  PRICE_TEXT_INPUT_PER_MTOK: positiveNum({ default: 4 }),
  PRICE_TEXT_OUTPUT_PER_MTOK: positiveNum({ default: 16 }),
  PRICE_CACHED_INPUT_PER_MTOK: positiveNum({ default: 0.4 }),
  SENTIMENT_ANALYZER: str({ choices: ['local', 'model'], default: 'local' }),
  MAX_CONCURRENT_CALLS: num({ default: 500 }),
  SHUTDOWN_GRACE_MS: positiveNum({
    default: 30_000,
    desc: 'On SIGTERM/SIGINT, how long live calls may go on before they are closed',
  }),
  AI_CONNECT_TIMEOUT_MS: positiveNum({ default: 10_000, desc: 'A Realtime handshake slower than this is retried' }),
  AI_KEEPALIVE_MS: positiveNum({
    default: 10_000,
    desc: 'WebSocket ping interval on the Realtime socket; an unanswered ping drops it (0 = off)',
  }),
  AI_IDLE_TIMEOUT_MS: positiveNum({
    default: 15_000,
    desc: 'A Realtime socket silent this long during a response is treated as dead and reconnected',
  }),
  API_RATE_LIMIT_PER_MIN: positiveNum({ default: 600, desc: 'Requests per minute per API token (or IP) on /api' }),
  LOCAL_REALTIME_PORT: num({ default: 0, desc: 'Port of the in-process local Realtime server (0 = any)' }),
};

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host: string;
  /** Base URL without trailing slash. */
  readonly publicUrl: string;
  readonly databaseUrl: string;
  readonly recordingsDir: string;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly logPii: boolean;
  readonly apiTokens: readonly string[];
  readonly twilio: {
    readonly accountSid: string;
    readonly authToken: string;
    readonly phoneNumber: string;
    /** True when webhooks and the stream handshake must carry a valid X-Twilio-Signature. */
    readonly validateSignatures: boolean;
    /** REST API base URL override ('' = api.twilio.com). */
    readonly apiBaseUrl: string;
  };
  readonly openai: {
    readonly apiKey: string;
    readonly realtimeUrl: string;
    readonly model: string;
    readonly audioFormat: 'pcmu' | 'pcm16';
    /** True when no API key is set and the default URL is used: run the local Realtime server. */
    readonly useLocalServer: boolean;
    readonly localServerPort: number;
    readonly reconnectAttempts: number;
    readonly reconnectBaseMs: number;
    readonly reconnectMaxMs: number;
    readonly sessionMaxMs: number;
  };
  readonly agent: {
    readonly voice: string;
    readonly instructions: string;
    readonly greeting: string;
    readonly greetsFirst: boolean;
    readonly transcriptionModel: string;
    /** Tools of the default profile (AGENT_TOOLS). */
    readonly tools: readonly string[];
    readonly profilesFile: string;
    readonly transferNumber: string;
    readonly toolTimeoutMs: number;
    readonly vad:
      | {
          readonly type: 'server_vad';
          readonly threshold: number;
          readonly silenceMs: number;
          readonly prefixPaddingMs: number;
        }
      | { readonly type: 'semantic_vad'; readonly eagerness: 'low' | 'medium' | 'high' | 'auto' };
  };
  readonly pricing: {
    readonly audioInputPerMTok: number;
    readonly audioOutputPerMTok: number;
    readonly textInputPerMTok: number;
    readonly textOutputPerMTok: number;
    readonly cachedInputPerMTok: number;
  };
  readonly sentimentAnalyzer: 'local' | 'model';
  readonly maxConcurrentCalls: number;
  /** On SIGTERM/SIGINT live calls may go on this long before they are closed. */
  readonly shutdownGraceMs: number;
  readonly ai: { readonly connectTimeoutMs: number; readonly idleTimeoutMs: number; readonly keepaliveMs: number };
  readonly api: { readonly rateLimitPerMin: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and checks the environment. Throws ConfigError listing every bad variable. */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const env = cleanEnv(environment, SPEC, {
    reporter: ({ errors }) => {
      for (const [name, error] of Object.entries(errors)) {
        const err = error as Error;
        problems.push(`${name}: ${err.message || 'is invalid'}`);
      }
    },
  });
  if (problems.length) throw new ConfigError(problems);

  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  if (env.NODE_ENV === 'production' && env.TWILIO_SIGNATURE_VALIDATION && !env.TWILIO_AUTH_TOKEN) {
    problems.push(
      'TWILIO_AUTH_TOKEN: is required in production to check Twilio signatures (set TWILIO_SIGNATURE_VALIDATION=false to run without them)',
    );
  }
  if (env.AI_RECONNECT_ATTEMPTS < 0 || !Number.isInteger(env.AI_RECONNECT_ATTEMPTS)) {
    problems.push('AI_RECONNECT_ATTEMPTS: must be a whole number >= 0');
  }
  if (env.VAD_THRESHOLD < 0 || env.VAD_THRESHOLD > 1) problems.push('VAD_THRESHOLD: must be between 0 and 1');
  if (env.MAX_CONCURRENT_CALLS < 1) problems.push('MAX_CONCURRENT_CALLS: must be at least 1');
  if (env.TRANSFER_NUMBER && !/^(\+[1-9]\d{1,14}|sip:\S{3,200})$/.test(env.TRANSFER_NUMBER)) {
    problems.push('TRANSFER_NUMBER: must be an E.164 number (+15551234567) or a sip: URI');
  }
  if (env.TOOL_TIMEOUT_MS < 100 || env.TOOL_TIMEOUT_MS > 60_000) problems.push('TOOL_TIMEOUT_MS: must be 100..60000');
  if (env.TWILIO_API_BASE_URL && !/^https?:\/\/[^\s/]+/.test(env.TWILIO_API_BASE_URL)) {
    problems.push('TWILIO_API_BASE_URL: must be an http(s) URL');
  }
  if (env.AI_CONNECT_TIMEOUT_MS <= 0) problems.push('AI_CONNECT_TIMEOUT_MS: must be greater than 0');
  if (env.AI_IDLE_TIMEOUT_MS <= 0) problems.push('AI_IDLE_TIMEOUT_MS: must be greater than 0');
  if (env.API_RATE_LIMIT_PER_MIN < 1) problems.push('API_RATE_LIMIT_PER_MIN: must be at least 1');
  if (problems.length) throw new ConfigError(problems);

  const useLocalServer = !env.OPENAI_API_KEY && env.OPENAI_REALTIME_URL === DEFAULT_REALTIME_URL;
  const vad =
    env.VAD_TYPE === 'semantic_vad'
      ? ({ type: 'semantic_vad', eagerness: env.VAD_EAGERNESS as 'low' | 'medium' | 'high' | 'auto' } as const)
      : ({
          type: 'server_vad',
          threshold: env.VAD_THRESHOLD,
          silenceMs: env.VAD_SILENCE_MS,
          prefixPaddingMs: env.VAD_PREFIX_PADDING_MS,
        } as const);

  return deepFreeze<Config>({
    env: env.NODE_ENV as Config['env'],
    port: env.PORT,
    host: env.HOST,
    publicUrl,
    databaseUrl: env.DATABASE_URL,
    recordingsDir: env.RECORDING_STORAGE_PATH,
    logLevel: env.LOG_LEVEL as Config['logLevel'],
    logPii: env.LOG_PII,
    apiTokens: env.API_TOKENS,
    twilio: {
      accountSid: env.TWILIO_ACCOUNT_SID,
      authToken: env.TWILIO_AUTH_TOKEN,
      phoneNumber: env.TWILIO_PHONE_NUMBER,
      validateSignatures: env.TWILIO_SIGNATURE_VALIDATION && Boolean(env.TWILIO_AUTH_TOKEN),
      apiBaseUrl: env.TWILIO_API_BASE_URL,
    },
    openai: {
      apiKey: env.OPENAI_API_KEY,
      realtimeUrl: env.OPENAI_REALTIME_URL,
      model: env.OPENAI_REALTIME_MODEL,
      audioFormat: env.OPENAI_AUDIO_FORMAT as 'pcmu' | 'pcm16',
      useLocalServer,
      localServerPort: env.LOCAL_REALTIME_PORT,
      reconnectAttempts: env.AI_RECONNECT_ATTEMPTS,
      reconnectBaseMs: env.AI_RECONNECT_BASE_MS,
      reconnectMaxMs: env.AI_RECONNECT_MAX_MS,
      sessionMaxMs: env.AI_SESSION_MAX_MS,
    },
    agent: {
      voice: env.AGENT_VOICE,
      instructions: env.AGENT_INSTRUCTIONS,
      greeting: env.AGENT_GREETING,
      greetsFirst: env.AGENT_GREETS_FIRST,
      transcriptionModel: env.TRANSCRIPTION_MODEL,
      tools: env.AGENT_TOOLS.split(',')
        .map((t) => t.trim())
        .filter(Boolean),
      profilesFile: env.AGENT_PROFILES_FILE,
      transferNumber: env.TRANSFER_NUMBER,
      toolTimeoutMs: env.TOOL_TIMEOUT_MS,
      vad,
    },
    pricing: {
      audioInputPerMTok: env.PRICE_AUDIO_INPUT_PER_MTOK,
      audioOutputPerMTok: env.PRICE_AUDIO_OUTPUT_PER_MTOK,
      textInputPerMTok: env.PRICE_TEXT_INPUT_PER_MTOK,
      textOutputPerMTok: env.PRICE_TEXT_OUTPUT_PER_MTOK,
      cachedInputPerMTok: env.PRICE_CACHED_INPUT_PER_MTOK,
    },
    sentimentAnalyzer: env.SENTIMENT_ANALYZER as 'local' | 'model',
    maxConcurrentCalls: env.MAX_CONCURRENT_CALLS,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    ai: {
      connectTimeoutMs: env.AI_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: env.AI_IDLE_TIMEOUT_MS,
      keepaliveMs: env.AI_KEEPALIVE_MS,
    },
    api: { rateLimitPerMin: env.API_RATE_LIMIT_PER_MIN },
  });
}

/** Builds a Config for tests: defaults plus overrides given as environment variables. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'error', ...overrides });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
