/**
 * The two client WebSocket protocols for apps, parsed at the edge into typed messages (every bad
 * message becomes a ProtocolError with a stable code, answered as an `error` message) and built back
 * with one function per server message. Documented in docs/app-websocket-protocols.md.
 *
 * Voice gateway (streaming audio, `/voice-gateway`):
 *   client `{"type":"init","callId","languageHint":"auto|ar|en|ru|…"}` (first, once),
 *          `{"type":"audio","callId","chunk":"<base64 PCM16 16 kHz mono>"}`,
 *          extensions: `{"type":"text","callId","text"}`, `{"type":"ping"}`;
 *   server `{"type":"ready"}`, `{"type":"audio_out","chunk"}`,
 *          `{"type":"transcript","role":"caller|assistant","text"}`, `{"type":"error","message"}`,
 *          extensions: `{"type":"clear"}` (barge-in: drop queued agent audio), `{"type":"pong"}`.
 * Orchestrator (turn by turn, `/ws`):
 *   client `audio` {audio_data, user_id, session_id, context}, `text` {text, …}, `ping`;
 *   server `connection`, `audio_ack`, `audio_response` {transcribed_text, intent, response,
 *          voice_url}, `text_response`, `error`, `pong`, each with an ISO `timestamp`.
 */
/** `auto` or an ISO 639 code with an optional region (the same rule as the web-call API's languageHint). */
export const LANGUAGE_HINT_PATTERN = /^(auto|[a-z]{2,3}(-[A-Za-z0-9]{2,8})?)$/;
/** Audio both protocols carry: 16-bit little-endian PCM, 16 kHz, mono. */
export const APP_AUDIO_RATE_HZ = 16_000;
/** Largest message read on the voice gateway (a chunk of ~2 s of audio plus its envelope). */
export const GATEWAY_MAX_MESSAGE_BYTES = 96 * 1024;
/** Largest decoded audio chunk on the voice gateway (2 s). */
export const GATEWAY_MAX_CHUNK_BYTES = 64_000;
/** Largest message read on the orchestrator (one utterance of up to 20 s, base64). */
export const ORCHESTRATOR_MAX_MESSAGE_BYTES = 900 * 1024;
/** Longest utterance of an orchestrator `audio` message (20 s of PCM16 16 kHz). */
export const ORCHESTRATOR_MAX_AUDIO_BYTES = 640_000;
/** Shortest: 100 ms. */
export const ORCHESTRATOR_MIN_AUDIO_BYTES = 3_200;
/** Longest text message. */
export const MAX_TEXT_CHARS = 2_000;
/** Largest `context` object (as JSON). */
export const MAX_CONTEXT_CHARS = 2_048;
const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/]*={0,2}$/;

export class ProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type GatewayClientMessage =
  | { type: 'init'; callId: string; languageHint: string }
  | { type: 'audio'; callId: string; chunk: Buffer }
  | { type: 'text'; callId: string; text: string }
  | { type: 'ping' };

export interface OrchestratorEnvelope {
  userId?: string;
  sessionId?: string;
  context?: Record<string, unknown>;
}

export type OrchestratorClientMessage =
  | ({ type: 'audio'; audio: Buffer } & OrchestratorEnvelope)
  | ({ type: 'text'; text: string } & OrchestratorEnvelope)
  | { type: 'ping' };

/** Parses one text frame into a JSON object with a string `type`. */
function parseEnvelope(data: Buffer, maxBytes: number): Record<string, unknown> & { type: string } {
  if (data.length > maxBytes) {
    throw new ProtocolError('message_too_large', `messages may be at most ${maxBytes} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch {
    throw new ProtocolError('invalid_json', 'send one JSON object per message');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ProtocolError('invalid_json', 'send one JSON object per message');
  }
  const message = parsed as Record<string, unknown>;
  if (typeof message.type !== 'string') throw new ProtocolError('missing_type', 'every message needs a string "type"');
  return message as Record<string, unknown> & { type: string };
}

function requiredString(message: Record<string, unknown>, field: string, max: number): string {
  const value = message[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw new ProtocolError('invalid_field', `${field}: a non-empty string is required`);
  }
  if (value.length > max) throw new ProtocolError('invalid_field', `${field}: at most ${max} characters`);
  return value;
}

function optionalId(message: Record<string, unknown>, field: string): string | undefined {
  const value = message[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new ProtocolError('invalid_field', `${field}: 1 to 64 letters, digits or _ . : -`);
  }
  return value;
}

/** Base64 PCM16 audio: valid base64, a whole number of samples, within `min`..`max` decoded bytes. */
function pcmAudio(message: Record<string, unknown>, field: string, min: number, max: number): Buffer {
  const value = message[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw new ProtocolError('invalid_audio', `${field}: base64 PCM16 16 kHz mono audio is required`);
  }
  if (value.length > Math.ceil(max / 3) * 4 || value.length % 4 !== 0 || !BASE64_PATTERN.test(value)) {
    throw new ProtocolError('invalid_audio', `${field}: not base64, or over ${max} bytes of audio`);
  }
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length % 2 !== 0) throw new ProtocolError('invalid_audio', `${field}: PCM16 needs an even number of bytes`);
  if (bytes.length > max) throw new ProtocolError('invalid_audio', `${field}: over ${max} bytes of audio`);
  if (bytes.length < min) throw new ProtocolError('invalid_audio', `${field}: at least ${min} bytes of audio`);
  return bytes;
}

function text(message: Record<string, unknown>): string {
  const value = requiredString(message, 'text', MAX_TEXT_CHARS).trim();
  if (!value) throw new ProtocolError('invalid_field', 'text: must not be blank');
  // Control characters other than line breaks and tabs are refused (they never belong in a chat line).
  if (/\p{Cc}/u.test(value.replace(/[\n\r\t]/g, ''))) {
    throw new ProtocolError('invalid_field', 'text: control characters are not allowed');
  }
  return value;
}

export function parseGatewayMessage(data: Buffer): GatewayClientMessage {
  const message = parseEnvelope(data, GATEWAY_MAX_MESSAGE_BYTES);
  switch (message.type) {
    case 'ping':
      return { type: 'ping' };
    case 'init': {
      const callId = optionalId(message, 'callId');
      if (!callId) throw new ProtocolError('invalid_field', 'callId: required');
      const hint = message.languageHint ?? 'auto';
      if (typeof hint !== 'string' || !LANGUAGE_HINT_PATTERN.test(hint)) {
        throw new ProtocolError('invalid_field', 'languageHint: "auto" or an ISO 639 code such as "en", "ar", "ru"');
      }
      return { type: 'init', callId, languageHint: hint };
    }
    case 'audio':
    case 'text': {
      const callId = optionalId(message, 'callId');
      if (!callId) throw new ProtocolError('invalid_field', 'callId: required');
      if (message.type === 'text') return { type: 'text', callId, text: text(message) };
      return { type: 'audio', callId, chunk: pcmAudio(message, 'chunk', 2, GATEWAY_MAX_CHUNK_BYTES) };
    }
    default:
      throw new ProtocolError('unknown_type', `unknown message type "${message.type.slice(0, 32)}"`);
  }
}

function envelope(message: Record<string, unknown>): OrchestratorEnvelope {
  const context = message.context;
  if (context !== undefined && context !== null) {
    if (typeof context !== 'object' || Array.isArray(context)) {
      throw new ProtocolError('invalid_field', 'context: a JSON object');
    }
    if (JSON.stringify(context).length > MAX_CONTEXT_CHARS) {
      throw new ProtocolError('invalid_field', `context: at most ${MAX_CONTEXT_CHARS} characters of JSON`);
    }
  }
  return {
    userId: optionalId(message, 'user_id'),
    sessionId: optionalId(message, 'session_id'),
    context: (context ?? undefined) as Record<string, unknown> | undefined,
  };
}

export function parseOrchestratorMessage(data: Buffer): OrchestratorClientMessage {
  const message = parseEnvelope(data, ORCHESTRATOR_MAX_MESSAGE_BYTES);
  switch (message.type) {
    case 'ping':
      return { type: 'ping' };
    case 'text':
      return { type: 'text', text: text(message), ...envelope(message) };
    case 'audio':
      return {
        type: 'audio',
        audio: pcmAudio(message, 'audio_data', ORCHESTRATOR_MIN_AUDIO_BYTES, ORCHESTRATOR_MAX_AUDIO_BYTES),
        ...envelope(message),
      };
    default:
      throw new ProtocolError('unknown_type', `unknown message type "${message.type.slice(0, 32)}"`);
  }
}

// ---- server messages ---------------------------------------------------------------------------

const now = (): string => new Date().toISOString();

export const gateway = {
  ready: (callId: string, conversationId: string) => JSON.stringify({ type: 'ready', callId, conversationId }),
  audioOut: (chunk: Buffer) => JSON.stringify({ type: 'audio_out', chunk: chunk.toString('base64') }),
  transcript: (role: 'caller' | 'assistant', text: string) => JSON.stringify({ type: 'transcript', role, text }),
  clear: () => '{"type":"clear"}',
  pong: () => JSON.stringify({ type: 'pong', timestamp: now() }),
  error: (code: string, message: string) => JSON.stringify({ type: 'error', code, message }),
};

export const orchestrator = {
  connection: (sessionId: string) =>
    JSON.stringify({ type: 'connection', status: 'connected', session_id: sessionId, timestamp: now() }),
  audioAck: (bytes: number, durationMs: number) =>
    JSON.stringify({ type: 'audio_ack', bytes, duration_ms: durationMs, timestamp: now() }),
  audioResponse: (r: { transcribedText: string; intent: string; response: string; voiceUrl: string | null }) =>
    JSON.stringify({
      type: 'audio_response',
      transcribed_text: r.transcribedText,
      intent: r.intent,
      response: r.response,
      voice_url: r.voiceUrl,
      timestamp: now(),
    }),
  textResponse: (response: string, intent: string) =>
    JSON.stringify({ type: 'text_response', response, intent, timestamp: now() }),
  pong: () => JSON.stringify({ type: 'pong', timestamp: now() }),
  error: (code: string, message: string) => JSON.stringify({ type: 'error', code, message, timestamp: now() }),
};
