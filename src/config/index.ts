/**
 * Configuration: environment variables checked once at start by envalid, turned into a frozen,
 * typed Config. Every bad variable is reported with its own message, all in one ConfigError, before
 * the process exits: range checks live in the validators (intIn, numIn, ...), so a bad PORT never
 * hides a bad VAD_THRESHOLD. Checks that need several variables (production rules) run on the
 * variables that parsed and add to the same list.
 */
import { bool, cleanEnv, str, makeValidator, EnvError, type CleanedEnv } from 'envalid';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { parseTokenEntries, type ApiTokenEntry } from '../supervision/roles';

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

/** SQLite (`file:…`, the embedded default) or PostgreSQL (`postgres://` / `postgresql://`, src/db). */
const databaseUrl = makeValidator<string>((input) => {
  if (input.startsWith('file:') && input.length > 'file:'.length) return input;
  if (/^postgres(ql)?:\/\/./.test(input)) {
    try {
      new URL(input);
      return input;
    } catch {
      throw new EnvError('is not a valid postgres:// URL');
    }
  }
  throw new EnvError(
    'must be a SQLite URL such as file:./data/switchboard.db or a PostgreSQL URL such as postgres://user@host:5432/db',
  );
});

/** An optional URL of one of the given schemes ('' = not used). */
const optionalUrl = (schemes: string[]) =>
  makeValidator<string>((input) => {
    if (input === '') return input;
    let parsed: URL;
    try {
      parsed = new URL(input);
    } catch {
      throw new EnvError(`must be a ${schemes.map((s) => `${s}//`).join(' or ')} URL`);
    }
    if (!schemes.includes(parsed.protocol))
      throw new EnvError(`must be a ${schemes.map((s) => `${s}//`).join(' or ')} URL`);
    return input;
  });

/** API_TOKENS: `token`, `role:token` or `role:name:token` entries (src/supervision/roles.ts). */
const tokenList = makeValidator<ApiTokenEntry[]>((input) => {
  const entries = input
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  try {
    return parseTokenEntries(entries);
  } catch (err) {
    throw new EnvError((err as Error).message);
  }
});

/** Comma-separated STUN/TURN server URLs for WebRTC calls (stun:, stuns:, turn:, turns:). */
const iceServerList = makeValidator<string[]>((input) => {
  const urls = input
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  for (const url of urls) {
    if (!/^(stun|stuns|turn|turns):[^\s,]+$/i.test(url) || url.length > 256)
      throw new EnvError(
        `each entry must be a stun:, stuns:, turn: or turns: URL such as stun:stun.example.com:3478 (got "${url}")`,
      );
  }
  return urls;
});

function parseNumber(input: string): number {
  const text = input.trim();
  return text === '' ? Number.NaN : Number(text);
}

/** A whole number in [min, max]. */
function intIn(min: number, max: number) {
  return makeValidator<number>((input) => {
    const n = parseNumber(input);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new EnvError(`must be a whole number from ${min} to ${max} (got "${input}")`);
    }
    return n;
  });
}

/** A number in [min, max]. */
function numIn(min: number, max: number) {
  return makeValidator<number>((input) => {
    const n = parseNumber(input);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new EnvError(`must be a number from ${min} to ${max} (got "${input}")`);
    return n;
  });
}

/** 0 (off) or a whole number in [min, max]. */
function offOrIntIn(min: number, max: number) {
  return makeValidator<number>((input) => {
    const n = parseNumber(input);
    if (!Number.isInteger(n) || (n !== 0 && (n < min || n > max))) {
      throw new EnvError(`must be 0 (off) or a whole number from ${min} to ${max} (got "${input}")`);
    }
    return n;
  });
}

/**
 * PUBLIC_URL: http(s)://host[:port][/path], no query, no fragment, no credentials. Twilio signs
 * the exact URL it calls, and the stream URL is derived from it, so anything else breaks every call.
 * Returns the problem, or null when the URL is fine.
 */
export function publicUrlProblem(value: string): string | null {
  const example = 'such as https://calls.example.com or http://localhost:3000';
  if (!/^https?:\/\//i.test(value)) return `must start with http:// or https:// (${example}); got "${value}"`;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return `must be an absolute http(s) URL (${example}); got "${value}"`;
  }
  if (!parsed.hostname) return `must name a host (${example}); got "${value}"`;
  if (parsed.username || parsed.password) return 'must not contain a user name or password';
  if (value.includes('?')) return `must not have a query string (Twilio signs the exact URL); got "${value}"`;
  if (value.includes('#')) return `must not have a fragment; got "${value}"`;
  return null;
}

const publicUrlValidator = makeValidator<string>((input) => {
  const value = input.trim();
  if (value === '') return '';
  const problem = publicUrlProblem(value);
  if (problem) throw new EnvError(problem);
  return value;
});

const httpUrlOrEmpty = makeValidator<string>((input) => {
  const value = input.trim();
  if (value === '') return '';
  let ok = /^https?:\/\/[^\s/]+/i.test(value);
  if (ok) {
    try {
      new URL(value);
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new EnvError(`must be an http(s) URL such as https://api.twilio.com (got "${value}")`);
  return value;
});

const transferNumber = makeValidator<string>((input) => {
  const value = input.trim();
  if (value && !/^(\+[1-9]\d{1,14}|sip:\S{3,200})$/.test(value)) {
    throw new EnvError('must be an E.164 number (+15551234567) or a sip: URI');
  }
  return value;
});

/** Twilio auth tokens are 32 hexadecimal characters. */
const TWILIO_AUTH_TOKEN_PATTERN = /^[0-9a-fA-F]{32}$/;

/** Named ranges Express's `trust proxy` understands besides addresses and CIDRs. */
const TRUST_PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** One `trust proxy` entry: a named range, an IP, IP/prefix or IPv4/netmask. */
function validTrustEntry(entry: string): boolean {
  if (TRUST_PROXY_NAMES.has(entry)) return true;
  const [ip, mask, extra] = entry.split('/');
  const family = isIP(ip);
  if (!family || extra !== undefined) return false;
  if (mask === undefined) return true;
  if (/^\d{1,3}$/.test(mask)) return Number(mask) <= (family === 4 ? 32 : 128);
  return family === 4 && isIP(mask) === 4;
}

/**
 * TRUST_PROXY, as Express's `trust proxy` setting takes it: true/false, a hop count, or a
 * comma-separated list of addresses, CIDRs and named ranges (loopback, linklocal, uniquelocal).
 */
const trustProxy = makeValidator<boolean | number | string[]>((input) => {
  const value = input.trim();
  if (value === '' || value.toLowerCase() === 'false') return false;
  if (value.toLowerCase() === 'true') return true;
  if (/^\d{1,3}$/.test(value)) return Number(value);
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const bad = entries.filter((e) => !validTrustEntry(e));
  if (entries.length === 0 || bad.length > 0) {
    throw new EnvError(
      `must be true, false, a hop count, or a comma-separated list of IPs, CIDRs, loopback, linklocal, uniquelocal (bad: "${bad.join(', ')}")`,
    );
  }
  return entries;
});

/** URL_SIGNING_SECRET: empty (a random key per process) or at least 32 characters. */
const signingSecret = makeValidator<string>((input) => {
  if (input !== '' && input.length < 32) throw new EnvError('must be at least 32 characters (or empty: random)');
  return input;
});

const SPEC = {
  NODE_ENV: str({ choices: ['development', 'production', 'test'], default: 'development' }),
  PORT: intIn(1, 65535)({ default: 3000 }),
  HOST: str({ default: '0.0.0.0', desc: 'Interface to listen on' }),
  PUBLIC_URL: publicUrlValidator({ default: '', desc: 'Externally reachable base URL (Twilio calls it)' }),
  DATABASE_URL: databaseUrl({ default: DEFAULT_DATABASE_URL }),
  // Scale-out (docs/scaling.md): all empty = one instance with an in-process bus and local files.
  NATS_URL: optionalUrl(['nats:', 'tls:'])({
    default: '',
    desc: 'NATS with JetStream: the cluster bus (call events, instance heartbeats, call ownership leases)',
  }),
  NATS_PREFIX: str({ default: 'switchboard', desc: 'Prefix of the NATS subjects, stream and key-value buckets' }),
  REDIS_URL: optionalUrl(['redis:', 'rediss:'])({
    default: '',
    desc: 'Redis: cluster-wide rate limits, concurrent-call cap and single-use stream secrets',
  }),
  REDIS_PREFIX: str({ default: 'switchboard:', desc: 'Prefix of every Redis key' }),
  INSTANCE_ID: str({
    default: '',
    desc: "This instance's name in the cluster (default: host name, pid and a random suffix)",
  }),
  CLUSTER_MAX_CONCURRENT_CALLS: intIn(
    0,
    1_000_000,
  )({
    default: 0,
    desc: 'Most calls at once across all instances, kept in Redis (0 = only MAX_CONCURRENT_CALLS per instance)',
  }),
  CLUSTER_LEASE_TTL_MS: intIn(
    2000,
    300_000,
  )({ default: 15_000, desc: "How long an instance's lease on its calls lasts without a heartbeat" }),
  RECORDINGS_S3_BUCKET: str({
    default: '',
    desc: 'Upload recordings to this S3 bucket when a call ends (empty: local disk only)',
  }),
  RECORDINGS_S3_PREFIX: str({ default: 'recordings/', desc: 'Key prefix of the recordings in the bucket' }),
  S3_ENDPOINT: optionalUrl(['http:', 'https:'])({ default: '', desc: 'S3-compatible endpoint (empty: AWS)' }),
  S3_REGION: str({ default: 'us-east-1' }),
  S3_ACCESS_KEY_ID: str({ default: '' }),
  S3_SECRET_ACCESS_KEY: str({ default: '' }),
  S3_FORCE_PATH_STYLE: bool({ default: false, desc: 'Path-style bucket URLs (most S3-compatible servers)' }),
  RECORDING_STORAGE_PATH: str({ default: './recordings' }),
  LOG_LEVEL: str({ choices: [...LOG_LEVELS], default: 'info' }),
  LOG_PII: bool({ default: false, desc: 'Log phone numbers and transcript text' }),
  HELPER_THREADS_BATCH: bool({
    default: true,
    desc: "Run the process's helper threads under SCHED_BATCH (Linux, util-linux chrt) so a woken one never preempts the event loop",
  }),
  PRIVACY_POLICY_FILE: str({ default: '', desc: 'JSON file of per-profile privacy policy (src/privacy/policy.ts)' }),
  RECORDING_ENABLED: bool({ default: true, desc: 'Record calls unless a profile says otherwise' }),
  RECORDING_ENCRYPTION_KEY: str({
    default: '',
    desc: 'AES-256-GCM key of recordings at rest: 64 hex or base64 of 32 bytes',
  }),
  API_TOKENS: tokenList({
    default: [],
    desc: 'Comma-separated bearer tokens protecting /api, each `token` (admin) or `read-only|supervisor|admin:[name:]token`',
  }),
  TWILIO_ACCOUNT_SID: str({ default: '' }),
  TWILIO_AUTH_TOKEN: str({ default: '' }),
  TWILIO_PHONE_NUMBER: str({ default: '' }),
  TWILIO_SIGNATURE_VALIDATION: bool({ default: true }),
  STREAM_TOKEN_SECRET: str({
    default: '',
    desc: 'Key of the per-call stream tokens; the same on every instance behind one load balancer (empty: random per process)',
  }),
  STREAM_TOKEN_TTL_MS: intIn(
    1000,
    600_000,
  )({
    default: 30_000,
    desc: 'How long after the webhook its stream may start; a call whose stream has not started by then ends (stream-timeout)',
  }),
  OPENAI_API_KEY: str({ default: '' }),
  ALLOW_LOCAL_AI_IN_PRODUCTION: bool({
    default: false,
    desc: 'Let the local test AI server answer calls in production when OPENAI_API_KEY is empty',
  }),
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
  VAD_THRESHOLD: numIn(0, 1)({ default: 0.5 }),
  VAD_SILENCE_MS: intIn(0, 10_000)({ default: 500 }),
  VAD_PREFIX_PADDING_MS: intIn(0, 10_000)({ default: 300 }),
  VAD_EAGERNESS: str({ choices: ['low', 'medium', 'high', 'auto'], default: 'auto' }),
  TRANSCRIPTION_MODEL: str({ default: 'gpt-4o-transcribe' }),
  AGENT_TOOLS: str({ default: 'end_call', desc: 'Comma-separated tools of the default agent profile' }),
  AGENT_PROFILES_FILE: str({ default: '', desc: 'JSON file with agent profiles, transfer targets, HTTP endpoints' }),
  ALERT_RULES_FILE: str({
    default: '',
    desc: 'JSON file of alert rules (src/supervision/alert-rules.ts); API changes are written back',
  }),
  WEBHOOKS_FILE: str({
    default: '',
    desc: 'JSON file keeping outgoing webhook subscriptions (with their secrets, 0600) across restarts; empty: memory only',
  }),
  TRANSFER_NUMBER: transferNumber({ default: '', desc: 'Default transfer_call destination (E.164 or sip:)' }),
  TOOL_TIMEOUT_MS: intIn(100, 60_000)({ default: 5000, desc: 'Default time a tool call may run' }),
  TWILIO_API_BASE_URL: httpUrlOrEmpty({
    default: '',
    desc: 'Twilio REST API base URL (default https://api.twilio.com)',
  }),
  // Telnyx (the second telephony channel, src/channels/telnyx).
  TELNYX_PUBLIC_KEY: makeValidator<string>((input) => {
    const value = input.trim();
    if (value && !(/^[A-Za-z0-9+/]{43}=$/.test(value) && Buffer.from(value, 'base64').length === 32)) {
      throw new EnvError('must be the base64 Ed25519 public key of your Telnyx account (44 characters)');
    }
    return value;
  })({ default: '', desc: 'Checks telnyx-signature-ed25519 on /telnyx webhooks (required for Telnyx in production)' }),
  TELNYX_API_KEY: str({ default: '', desc: 'Telnyx API key (Call Control commands; optional)' }),
  TELNYX_SIGNATURE_TOLERANCE_S: intIn(10, 3600)({ default: 300, desc: 'Accepted age of a Telnyx webhook timestamp' }),
  TELNYX_STREAM_CODEC: str({ choices: ['PCMU', 'PCMA'], default: 'PCMU', desc: 'Codec of the Telnyx media stream' }),
  AI_RECONNECT_ATTEMPTS: intIn(0, 100)({ default: 5 }),
  AI_RECONNECT_BASE_MS: intIn(10, 60_000)({ default: 250 }),
  AI_RECONNECT_MAX_MS: intIn(10, 300_000)({ default: 5000 }),
  AI_SESSION_MAX_MS: intIn(
    1_000,
    3_600_000,
  )({
    default: 55 * 60 * 1000,
    // Seconds are allowed so tests can see a replacement mid-call; keep it near the provider's limit.
    desc: 'Replace the AI session after this long',
  }),
  PRICE_AUDIO_INPUT_PER_MTOK: numIn(0, 10_000)({ default: 32 }),
  PRICE_AUDIO_OUTPUT_PER_MTOK: numIn(0, 10_000)({ default: 64 }),
  PRICE_TEXT_INPUT_PER_MTOK: numIn(0, 10_000)({ default: 4 }),
  PRICE_TEXT_OUTPUT_PER_MTOK: numIn(0, 10_000)({ default: 16 }),
  PRICE_CACHED_INPUT_PER_MTOK: numIn(0, 10_000)({ default: 0.4 }),
  SENTIMENT_ANALYZER: str({ choices: ['local', 'model'], default: 'local' }),
  MAX_CONCURRENT_CALLS: intIn(1, 100_000)({ default: 500 }),
  SHUTDOWN_GRACE_MS: intIn(
    0,
    3_600_000,
  )({
    default: 30_000,
    desc: 'On SIGTERM/SIGINT, how long live calls may go on before they are closed',
  }),
  AI_CONNECT_TIMEOUT_MS: intIn(
    100,
    120_000,
  )({
    default: 10_000,
    desc: 'A Realtime handshake slower than this is retried',
  }),
  AI_KEEPALIVE_MS: offOrIntIn(
    100,
    600_000,
  )({
    default: 10_000,
    desc: 'WebSocket ping interval on the Realtime socket; an unanswered ping drops it (0 = off)',
  }),
  AI_IDLE_TIMEOUT_MS: intIn(
    100,
    600_000,
  )({
    default: 15_000,
    desc: 'A Realtime socket silent this long during a response is treated as dead and reconnected',
  }),
  API_RATE_LIMIT_PER_MIN: intIn(
    1,
    1_000_000_000,
  )({
    default: 600,
    desc: 'Requests per minute per API token (or IP) on /api',
  }),
  LOCAL_REALTIME_PORT: intIn(0, 65535)({ default: 0, desc: 'Port of the in-process local Realtime server (0 = any)' }),
  LOCAL_AI_THINK_MS: intIn(0, 10_000)({ default: 300, desc: 'Local AI think time before each answer' }),
  URL_SIGNING_SECRET: signingSecret({
    default: '',
    desc: 'HMAC key of signed recording URLs (default: random per process; URLs then die with a restart)',
  }),
  TRUST_PROXY: trustProxy({ default: false, desc: "Express's trust proxy: true/false, hop count, IP/CIDR list" }),
  PUBLIC_RATE_LIMIT_PER_MIN: intIn(
    1,
    1_000_000_000,
  )({
    default: 1200,
    desc: 'Requests per minute per client IP on /health, the dashboard, the API docs and unknown paths',
  }),
  WEBHOOK_RATE_LIMIT_PER_MIN: intIn(
    1,
    1_000_000_000,
  )({
    default: 6000,
    desc: 'Requests per minute per client IP on /twilio/* (and, counted apart, /streams upgrades)',
  }),
  SSE_MAX_CLIENTS: intIn(1, 100_000)({ default: 100, desc: 'Open /api/status streams in total' }),
  SSE_MAX_CLIENTS_PER_TOKEN: intIn(1, 100_000)({ default: 20, desc: 'Open /api/status streams per token (or IP)' }),
  HTTP_HEADERS_TIMEOUT_MS: intIn(100, 600_000)({ default: 10_000, desc: 'Time a client has to send request headers' }),
  HTTP_REQUEST_TIMEOUT_MS: intIn(
    100,
    3_600_000,
  )({ default: 30_000, desc: 'Time a client has to send a whole request' }),
  HTTP_KEEPALIVE_TIMEOUT_MS: intIn(100, 3_600_000)({ default: 5000, desc: 'Idle time of a kept-alive connection' }),
  HEALTH_CACHE_MS: intIn(0, 60_000)({ default: 1000, desc: 'How long /health reuses its database and disk probes' }),
  // Browser softphone over WebRTC (src/channels/webrtc).
  WEBRTC_ICE_SERVERS: iceServerList({
    default: [],
    desc: 'STUN/TURN URLs for web calls (empty: host candidates only)',
  }),
  WEBRTC_MAX_CALLS: intIn(1, 10_000)({ default: 50, desc: 'Web calls (peer connections) at once' }),
  // Cascaded engine (src/engines/pipeline) and echo engine (src/engines/echo).
  ECHO_DELAY_MS: intIn(
    0,
    10_000,
  )({ default: 500, desc: 'Echo engine: how long after the caller their audio comes back' }),
  PIPELINE_STT: str({ choices: ['local', 'deepgram', 'openai'], default: 'local' }),
  PIPELINE_LLM: str({ choices: ['auto', 'openai', 'backend', 'orchestrator', 'local'], default: 'auto' }),
  PIPELINE_TTS: str({ choices: ['espeak', 'openai', 'elevenlabs'], default: 'espeak' }),
  PIPELINE_STAGE_TIMEOUT_MS: intIn(
    100,
    120_000,
  )({ default: 8000, desc: 'A provider stage slower than this fails the turn' }),
  PIPELINE_LOCAL_STT_WORDS: str({ default: '', desc: 'Local recognizer: only these words (comma-separated grammar)' }),
  AI_CONVERSATION_ENABLED: bool({ default: true, desc: 'false: transcribe-only calls (no agent replies)' }),
  DEEPGRAM_API_URL: wsUrl({ default: 'wss://api.deepgram.com/v1/listen' }),
  DEEPGRAM_API_KEY: str({ default: '' }),
  DEEPGRAM_MODEL: str({ default: 'nova-3' }),
  OPENAI_TRANSCRIPTION_URL: wsUrl({ default: 'wss://api.openai.com/v1/realtime?intent=transcription' }),
  LLM_API_URL: httpUrlOrEmpty({ default: '', desc: 'OpenAI-compatible chat completions base URL (default OpenAI)' }),
  LLM_API_KEY: str({ default: '' }),
  LLM_MODEL: str({ default: 'gpt-4o-mini' }),
  BACKEND_API_BASE_URL: httpUrlOrEmpty({
    default: '',
    desc: 'Conversation backend: /conversation/start, /conversation/message',
  }),
  BACKEND_API_KEY: str({ default: '' }),
  BACKEND_API_TIMEOUT_MS: intIn(100, 120_000)({ default: 5000 }),
  ORCHESTRATOR_URL: httpUrlOrEmpty({ default: '', desc: 'Orchestrator: POST an utterance, get a reply and an intent' }),
  OPENAI_TTS_URL: httpUrlOrEmpty({ default: '', desc: 'OpenAI-compatible speech endpoint (default OpenAI)' }),
  OPENAI_TTS_MODEL: str({ default: 'gpt-4o-mini-tts' }),
  ELEVENLABS_API_URL: httpUrlOrEmpty({ default: '', desc: 'ElevenLabs-compatible base URL (default ElevenLabs)' }),
  ELEVENLABS_API_KEY: str({ default: '' }),
  ELEVENLABS_VOICE_ID: str({ default: 'JBFqnCBsd6RMkjVDRZzb' }),
  ELEVENLABS_MODEL: str({ default: 'eleven_flash_v2_5' }),
};

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host: string;
  /** Base URL without trailing slash. */
  readonly publicUrl: string;
  readonly databaseUrl: string;
  readonly recordingsDir: string;
  /** Scale-out services (docs/scaling.md); '' = not used (one instance, in-process bus). */
  readonly cluster: {
    readonly natsUrl: string;
    readonly natsPrefix: string;
    readonly redisUrl: string;
    readonly redisPrefix: string;
    /** This instance's name (INSTANCE_ID or host-pid-random). */
    readonly instanceId: string;
    readonly leaseTtlMs: number;
    /** Most calls at once across the instances (REDIS_URL; 0 = no cluster-wide cap). */
    readonly maxConcurrentCalls: number;
  };
  /** Where finished recordings are kept besides RECORDING_STORAGE_PATH (src/recordings/storage). */
  readonly recordingStorage: {
    readonly s3: {
      /** '' = no object storage: recordings stay on the local disk. */
      readonly bucket: string;
      readonly prefix: string;
      readonly endpoint: string;
      readonly region: string;
      readonly accessKeyId: string;
      readonly secretAccessKey: string;
      readonly forcePathStyle: boolean;
    };
  };
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly logPii: boolean;
  /** The process's other threads under SCHED_BATCH (src/runtime/helper-threads.ts). */
  readonly helperThreadsBatch: boolean;
  /** Redaction, consent, retention (src/privacy/policy.ts). */
  readonly privacy: {
    readonly policyFile: string;
    readonly recordingEnabled: boolean;
    /** RECORDING_ENCRYPTION_KEY ('' = recordings stored in the clear); checked at start (src/privacy/index.ts). */
    readonly recordingKey: string;
  };
  readonly apiTokens: readonly string[];
  /** The same tokens with their roles and names (src/supervision/roles.ts). */
  readonly apiTokenEntries: readonly ApiTokenEntry[];
  /** Alert rules file ('' = none: rules only through the API, kept in memory). */
  readonly alertRulesFile: string;
  /** Outgoing webhook subscriptions kept here across restarts ('' = memory only). */
  readonly webhooksFile: string;
  readonly twilio: {
    readonly accountSid: string;
    readonly authToken: string;
    readonly phoneNumber: string;
    /** True when webhooks and the stream handshake must carry a valid X-Twilio-Signature. */
    readonly validateSignatures: boolean;
    /** True when TWILIO_SIGNATURE_VALIDATION=false switched the checks off explicitly. */
    readonly signatureValidationDisabled: boolean;
    /** REST API base URL override ('' = api.twilio.com). */
    readonly apiBaseUrl: string;
    /** Key of the per-call single-use stream tokens ('' = random per process). */
    readonly streamTokenSecret: string;
    readonly streamTokenTtlMs: number;
  };
  /** Telnyx: TELNYX_* (webhook public key, signature tolerance, media stream codec). */
  readonly telnyx: {
    /** Base64 Ed25519 public key ('' = webhooks unchecked in development, refused in production). */
    readonly publicKey: string;
    readonly apiKey: string;
    readonly signatureToleranceS: number;
    readonly streamCodec: 'PCMU' | 'PCMA';
  };
  readonly openai: {
    readonly apiKey: string;
    readonly realtimeUrl: string;
    readonly model: string;
    readonly audioFormat: 'pcmu' | 'pcm16';
    /** True when no API key is set and the default URL is used: run the local Realtime server. */
    readonly useLocalServer: boolean;
    readonly localServerPort: number;
    /** The in-process local Realtime server's think time before each answer (ms). */
    readonly localThinkMs: number;
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
  /** HTTP hardening: proxies, rate limits of the unauthenticated surfaces, SSE caps, timeouts. */
  readonly http: {
    /** Express's `trust proxy` (false: X-Forwarded-* are ignored). */
    readonly trustProxy: boolean | number | readonly string[];
    /** HMAC key of signed recording URLs. */
    readonly urlSigningSecret: string;
    readonly publicRateLimitPerMin: number;
    readonly webhookRateLimitPerMin: number;
    readonly sseMaxClients: number;
    readonly sseMaxClientsPerToken: number;
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly healthCacheMs: number;
  };
  /** Cascaded (STT -> LLM -> TTS) and echo engines. */
  readonly pipeline: PipelineConfig;
  /** Web calls over WebRTC: STUN/TURN server URLs offered to the peer connection, and the cap. */
  readonly webrtc: { readonly iceServers: readonly string[]; readonly maxCalls: number };
}

/** The cascaded engine's providers and the echo engine (one block: PIPELINE_*, LLM_*, BACKEND_*, ...). */
export interface PipelineConfig {
  readonly echoDelayMs: number;
  readonly stt: 'local' | 'deepgram' | 'openai';
  /** 'auto': backend, else orchestrator, else an OpenAI-compatible model when LLM_API_URL/LLM_API_KEY/OPENAI_API_KEY is set, else local. */
  readonly llm: 'openai' | 'backend' | 'orchestrator' | 'local';
  readonly tts: 'espeak' | 'openai' | 'elevenlabs';
  readonly stageTimeoutMs: number;
  readonly localSttWords: readonly string[];
  readonly conversationEnabled: boolean;
  readonly deepgram: { readonly url: string; readonly apiKey: string; readonly model: string };
  readonly openaiTranscriptionUrl: string;
  readonly chat: { readonly url: string; readonly apiKey: string; readonly model: string };
  readonly backend: { readonly baseUrl: string; readonly apiKey: string; readonly timeoutMs: number };
  readonly orchestratorUrl: string;
  readonly openaiTts: { readonly url: string; readonly model: string; readonly apiKey: string };
  readonly elevenlabs: {
    readonly url: string;
    readonly apiKey: string;
    readonly voiceId: string;
    readonly model: string;
  };
}

function pipelineConfig(env: Env): PipelineConfig {
  const chatKey = env.LLM_API_KEY || env.OPENAI_API_KEY;
  let llm = env.PIPELINE_LLM as PipelineConfig['llm'] | 'auto';
  if (llm === 'auto') {
    if (env.BACKEND_API_BASE_URL) llm = 'backend';
    else if (env.ORCHESTRATOR_URL) llm = 'orchestrator';
    else if (env.LLM_API_URL || chatKey) llm = 'openai';
    else llm = 'local';
  }
  return {
    echoDelayMs: env.ECHO_DELAY_MS,
    stt: env.PIPELINE_STT as PipelineConfig['stt'],
    llm,
    tts: env.PIPELINE_TTS as PipelineConfig['tts'],
    stageTimeoutMs: env.PIPELINE_STAGE_TIMEOUT_MS,
    localSttWords: env.PIPELINE_LOCAL_STT_WORDS.split(',')
      .map((w) => w.trim().toLowerCase())
      .filter(Boolean),
    conversationEnabled: env.AI_CONVERSATION_ENABLED,
    deepgram: { url: env.DEEPGRAM_API_URL, apiKey: env.DEEPGRAM_API_KEY, model: env.DEEPGRAM_MODEL },
    openaiTranscriptionUrl: env.OPENAI_TRANSCRIPTION_URL,
    chat: {
      url: (env.LLM_API_URL || 'https://api.openai.com/v1').replace(/\/+$/, ''),
      apiKey: chatKey,
      model: env.LLM_MODEL,
    },
    backend: {
      baseUrl: env.BACKEND_API_BASE_URL.replace(/\/+$/, ''),
      apiKey: env.BACKEND_API_KEY,
      timeoutMs: env.BACKEND_API_TIMEOUT_MS,
    },
    orchestratorUrl: env.ORCHESTRATOR_URL,
    openaiTts: {
      url: env.OPENAI_TTS_URL || 'https://api.openai.com/v1/audio/speech',
      model: env.OPENAI_TTS_MODEL,
      apiKey: env.OPENAI_API_KEY,
    },
    elevenlabs: {
      url: (env.ELEVENLABS_API_URL || 'https://api.elevenlabs.io').replace(/\/+$/, ''),
      apiKey: env.ELEVENLABS_API_KEY,
      voiceId: env.ELEVENLABS_VOICE_ID,
      model: env.ELEVENLABS_MODEL,
    },
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = CleanedEnv<typeof SPEC>;

/**
 * Rules that keep production from starting insecure (NODE_ENV=production): an open API, a public
 * URL Twilio cannot reach over TLS, an implausible Twilio auth token, or the local test AI server
 * answering real callers. One message per problem; variables that failed to parse are skipped (they
 * are reported already).
 */
function productionProblems(env: Env, valid: (...names: (keyof typeof SPEC)[]) => boolean): string[] {
  const problems: string[] = [];
  if (valid('API_TOKENS') && env.API_TOKENS.length === 0) {
    problems.push(
      'API_TOKENS: is required in production (without it /api, call data and recordings are open to anyone)',
    );
  }
  if (valid('PUBLIC_URL')) {
    if (!env.PUBLIC_URL) {
      problems.push(
        'PUBLIC_URL: must be set in production to the https:// URL Twilio calls (e.g. https://calls.example.com)',
      );
    } else if (!/^https:\/\//i.test(env.PUBLIC_URL)) {
      problems.push(
        `PUBLIC_URL: must be https:// in production (Twilio sends call data to it); got "${env.PUBLIC_URL}"`,
      );
    }
  }
  if (valid('TWILIO_AUTH_TOKEN', 'TWILIO_SIGNATURE_VALIDATION')) {
    const token = env.TWILIO_AUTH_TOKEN.trim();
    if (!token && env.TWILIO_SIGNATURE_VALIDATION) {
      problems.push(
        'TWILIO_AUTH_TOKEN: is required in production to check Twilio signatures (set TWILIO_SIGNATURE_VALIDATION=false to run without them)',
      );
    } else if (token && !TWILIO_AUTH_TOKEN_PATTERN.test(token)) {
      // Never echo the value: it is a secret.
      problems.push(
        `TWILIO_AUTH_TOKEN: does not look like a Twilio auth token (32 hexadecimal characters; this one has ${token.length} characters${/^[0-9a-f]*$/i.test(token) ? '' : ', not all hexadecimal'})`,
      );
    }
  }
  if (
    valid('OPENAI_API_KEY', 'OPENAI_REALTIME_URL', 'ALLOW_LOCAL_AI_IN_PRODUCTION') &&
    !env.OPENAI_API_KEY.trim() &&
    env.OPENAI_REALTIME_URL === DEFAULT_REALTIME_URL &&
    !env.ALLOW_LOCAL_AI_IN_PRODUCTION
  ) {
    problems.push(
      'OPENAI_API_KEY: is required in production (without it the local test AI server answers real callers; set ALLOW_LOCAL_AI_IN_PRODUCTION=true to allow that)',
    );
  }
  return problems;
}

/** Reads and checks the environment. Throws one ConfigError listing every bad variable. */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const failed = new Set<string>();
  const env = cleanEnv(environment, SPEC, {
    reporter: ({ errors }) => {
      for (const [name, error] of Object.entries(errors)) {
        const err = error as Error;
        failed.add(name);
        problems.push(`${name}: ${err.message || 'is invalid'}`);
      }
    },
  });
  /** True when every named variable parsed (a failed one cannot be read from `env`). */
  const valid = (...names: (keyof typeof SPEC)[]): boolean => names.every((n) => !failed.has(n));

  if (valid('AI_RECONNECT_BASE_MS', 'AI_RECONNECT_MAX_MS') && env.AI_RECONNECT_MAX_MS < env.AI_RECONNECT_BASE_MS) {
    problems.push(
      `AI_RECONNECT_MAX_MS: must be at least AI_RECONNECT_BASE_MS (${env.AI_RECONNECT_BASE_MS}); got ${env.AI_RECONNECT_MAX_MS}`,
    );
  }
  if (
    valid('HTTP_HEADERS_TIMEOUT_MS', 'HTTP_REQUEST_TIMEOUT_MS') &&
    env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS
  ) {
    problems.push(
      `HTTP_HEADERS_TIMEOUT_MS: must not be more than HTTP_REQUEST_TIMEOUT_MS (${env.HTTP_REQUEST_TIMEOUT_MS}); got ${env.HTTP_HEADERS_TIMEOUT_MS}`,
    );
  }
  if (valid('NODE_ENV') && env.NODE_ENV === 'production') problems.push(...productionProblems(env, valid));
  if (problems.length) throw new ConfigError(problems);

  const publicUrl = (env.PUBLIC_URL || `http://localhost:${env.PORT}`).replace(/\/+$/, '');
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
    cluster: {
      natsUrl: env.NATS_URL,
      natsPrefix: env.NATS_PREFIX,
      redisUrl: env.REDIS_URL,
      redisPrefix: env.REDIS_PREFIX,
      instanceId: env.INSTANCE_ID || `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
      leaseTtlMs: env.CLUSTER_LEASE_TTL_MS,
      maxConcurrentCalls: env.CLUSTER_MAX_CONCURRENT_CALLS,
    },
    recordingStorage: {
      s3: {
        bucket: env.RECORDINGS_S3_BUCKET,
        prefix: env.RECORDINGS_S3_PREFIX,
        endpoint: env.S3_ENDPOINT,
        region: env.S3_REGION,
        accessKeyId: env.S3_ACCESS_KEY_ID,
        secretAccessKey: env.S3_SECRET_ACCESS_KEY,
        forcePathStyle: env.S3_FORCE_PATH_STYLE,
      },
    },
    logLevel: env.LOG_LEVEL as Config['logLevel'],
    logPii: env.LOG_PII,
    helperThreadsBatch: env.HELPER_THREADS_BATCH,
    privacy: {
      policyFile: env.PRIVACY_POLICY_FILE,
      recordingEnabled: env.RECORDING_ENABLED,
      recordingKey: env.RECORDING_ENCRYPTION_KEY,
    },
    apiTokens: env.API_TOKENS.map((e) => e.token),
    apiTokenEntries: env.API_TOKENS,
    alertRulesFile: env.ALERT_RULES_FILE,
    webhooksFile: env.WEBHOOKS_FILE,
    twilio: {
      accountSid: env.TWILIO_ACCOUNT_SID,
      authToken: env.TWILIO_AUTH_TOKEN,
      phoneNumber: env.TWILIO_PHONE_NUMBER,
      validateSignatures: env.TWILIO_SIGNATURE_VALIDATION && Boolean(env.TWILIO_AUTH_TOKEN),
      signatureValidationDisabled: !env.TWILIO_SIGNATURE_VALIDATION,
      apiBaseUrl: env.TWILIO_API_BASE_URL,
      streamTokenSecret: env.STREAM_TOKEN_SECRET,
      streamTokenTtlMs: env.STREAM_TOKEN_TTL_MS,
    },
    telnyx: {
      publicKey: env.TELNYX_PUBLIC_KEY,
      apiKey: env.TELNYX_API_KEY,
      signatureToleranceS: env.TELNYX_SIGNATURE_TOLERANCE_S,
      streamCodec: env.TELNYX_STREAM_CODEC as 'PCMU' | 'PCMA',
    },
    openai: {
      apiKey: env.OPENAI_API_KEY,
      realtimeUrl: env.OPENAI_REALTIME_URL,
      model: env.OPENAI_REALTIME_MODEL,
      audioFormat: env.OPENAI_AUDIO_FORMAT as 'pcmu' | 'pcm16',
      useLocalServer,
      localServerPort: env.LOCAL_REALTIME_PORT,
      localThinkMs: env.LOCAL_AI_THINK_MS,
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
    http: {
      trustProxy: env.TRUST_PROXY,
      urlSigningSecret: env.URL_SIGNING_SECRET || randomBytes(32).toString('hex'),
      publicRateLimitPerMin: env.PUBLIC_RATE_LIMIT_PER_MIN,
      webhookRateLimitPerMin: env.WEBHOOK_RATE_LIMIT_PER_MIN,
      sseMaxClients: env.SSE_MAX_CLIENTS,
      sseMaxClientsPerToken: env.SSE_MAX_CLIENTS_PER_TOKEN,
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: env.HTTP_KEEPALIVE_TIMEOUT_MS,
      healthCacheMs: env.HEALTH_CACHE_MS,
    },
    pipeline: pipelineConfig(env),
    webrtc: { iceServers: env.WEBRTC_ICE_SERVERS, maxCalls: env.WEBRTC_MAX_CALLS },
  });
}

/**
 * What is insecure about this configuration, one log line each, for every start: switched-off
 * signature checks, unencrypted upstream URLs, PII in the logs, the local AI in production; outside
 * production, one summary line naming every protection that is off ("protections off: ...").
 * Pure: the caller (main.ts) logs them with logger.warn.
 */
export function securityWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.twilio.signatureValidationDisabled) {
    warnings.push(
      'SECURITY: TWILIO_SIGNATURE_VALIDATION=false: Twilio webhooks and media streams are accepted without a signature check; anyone who finds the URL can start calls and feed them audio',
    );
  }
  if (/^ws:\/\//i.test(config.openai.realtimeUrl)) {
    warnings.push(
      `SECURITY: OPENAI_REALTIME_URL is unencrypted ws:// (${hostOf(config.openai.realtimeUrl)}): call audio, transcripts and the API key cross the network in clear`,
    );
  }
  if (/^http:\/\//i.test(config.twilio.apiBaseUrl)) {
    warnings.push(
      `SECURITY: TWILIO_API_BASE_URL is unencrypted http:// (${hostOf(config.twilio.apiBaseUrl)}): Twilio credentials, phone numbers and SMS text cross the network in clear`,
    );
  }
  if (config.logPii)
    warnings.push('SECURITY: LOG_PII=true: phone numbers, transcripts and tool arguments are written to the logs');
  if (config.env === 'production' && config.openai.useLocalServer) {
    warnings.push(
      'SECURITY: ALLOW_LOCAL_AI_IN_PRODUCTION=true: calls are answered by the local test AI server, not OpenAI',
    );
  }
  if (config.env !== 'production') {
    const off: string[] = [];
    if (config.apiTokens.length === 0) off.push('API open (no API_TOKENS)');
    if (!config.twilio.validateSignatures && !config.twilio.signatureValidationDisabled) {
      off.push('Twilio signatures not checked (no TWILIO_AUTH_TOKEN)');
    }
    if (config.openai.useLocalServer) off.push('local AI server (no OPENAI_API_KEY)');
    if (/^http:\/\//i.test(config.publicUrl)) off.push(`no TLS on PUBLIC_URL (${config.publicUrl})`);
    if (off.length) warnings.push(`protections off: ${off.join(', ')}`);
  }
  return warnings;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'bad URL';
  }
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
