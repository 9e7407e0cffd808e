/**
 * Telnyx media streaming over WebSocket: one interface per message (names mirror the wire, which is
 * snake_case), a parser that validates shape at the edge and never throws, and string-template
 * builders for what we send. Source: developers.telnyx.com/docs/voice/programmable-voice/media-streaming
 * and the AsyncAPI page api-reference/websockets/stream-call-media-over-websocket.
 *
 * Telnyx -> us: `connected`, `start` (stream_id, start.call_control_id, start.media_format, and the
 * TeXML <Parameter>s as start.custom_parameters), `media` (media.payload: base64 RTP payload without
 * headers; track, chunk, timestamp), `mark` (the echo of one we sent), `dtmf`, `error`, `stop`.
 * Numbers such as sequence_number, chunk and timestamp arrive as strings.
 * Us -> Telnyx (bidirectional RTP mode): `media` {payload}, `mark` {name}, `clear` — without stream_id,
 * exactly as the documentation's examples.
 */
import type { AudioFormat } from '../../conversation/audio-format';
import { base64Message } from '../../audio/base64-message';

export interface TelnyxMediaFormat {
  encoding: string;
  sample_rate: number;
  channels: number;
}

export interface TelnyxConnectedMessage {
  event: 'connected';
  version: string;
}

export interface TelnyxStartMessage {
  event: 'start';
  sequence_number: number;
  stream_id: string;
  start: {
    call_control_id: string;
    call_session_id: string;
    user_id: string;
    from: string;
    to: string;
    client_state: string;
    custom_parameters: Record<string, string>;
    media_format: TelnyxMediaFormat;
  };
}

export interface TelnyxMediaMessage {
  event: 'media';
  sequence_number: number;
  stream_id: string;
  media: {
    track: string;
    chunk: number;
    /** Milliseconds since the stream started (a string on the wire). */
    timestamp: number;
    /** Base64 audio exactly as received (it can pass through untouched). */
    payload: string;
  };
}

export interface TelnyxMarkMessage {
  event: 'mark';
  sequence_number: number;
  stream_id: string;
  mark: { name: string };
}

export interface TelnyxDtmfMessage {
  event: 'dtmf';
  sequence_number: number;
  stream_id: string;
  dtmf: { digit: string };
}

export interface TelnyxErrorMessage {
  event: 'error';
  stream_id: string;
  payload: { code: number; title: string; detail: string };
}

export interface TelnyxStopMessage {
  event: 'stop';
  sequence_number: number;
  stream_id: string;
  stop: { call_control_id: string };
}

export type TelnyxInboundMessage =
  | TelnyxConnectedMessage
  | TelnyxStartMessage
  | TelnyxMediaMessage
  | TelnyxMarkMessage
  | TelnyxDtmfMessage
  | TelnyxErrorMessage
  | TelnyxStopMessage;

export type TelnyxParseResult = { ok: true; message: TelnyxInboundMessage } | { ok: false; reason: string };

/** Largest decoded media payload accepted: 2 s of 8 kHz G.711 (Telnyx sends 20 ms = 160 bytes). */
export const MAX_MEDIA_PAYLOAD_BYTES = 16000;
/** Longest raw message the parser looks at (the socket enforces its own, smaller bound). */
export const MAX_PARSE_CHARS = 256 * 1024;
/** stream_id is a UUID; call_control_id looks like `v3:MdI91X4l...` (letters, digits, `:`, `-`, `_`). */
const ID = /^[A-Za-z0-9_.:-]{1,256}$/;
const MAX_MARK_NAME_CHARS = 256;
const MAX_PARAMETERS = 64;
const MAX_PARAMETER_CHARS = 4096;
const MAX_SHORT_STRING = 256;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DTMF_DIGIT = /^[0-9*#A-Da-d]$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Telnyx sends numbers as strings ("5"); accept either, NaN when it is neither. */
function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.length > 0 && value.length <= 16) return Number(value);
  return NaN;
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

function shortString(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, MAX_SHORT_STRING) : '';
}

function base64DecodedLength(b64: string): number {
  const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - padding;
}

function fail(reason: string): TelnyxParseResult {
  return { ok: false, reason };
}

/** The documented media layout, matched whole: no JSON escapes can hide in these character classes. */
const TELNYX_MEDIA =
  /^\{"event":"media","sequence_number":"(\d{1,15})","media":\{"track":"(inbound|outbound)","chunk":"(\d{1,15})","timestamp":"(\d{1,15})","payload":"([A-Za-z0-9+/]+={0,2})"\},"stream_id":"([A-Za-z0-9_.:-]{1,256})"\}$/;

function parseMediaFast(raw: string): TelnyxParseResult | undefined {
  // "media", not "mark": both start with m at 10, the regular expression is tried on media alone.
  if (raw.charCodeAt(10) !== 109 /* m */ || raw.charCodeAt(11) !== 101 /* e */) return undefined;
  const m = TELNYX_MEDIA.exec(raw);
  if (m === null) return undefined;
  const payload = m[5];
  if (payload.length % 4 !== 0 || base64DecodedLength(payload) > MAX_MEDIA_PAYLOAD_BYTES) return undefined;
  return {
    ok: true,
    message: {
      event: 'media',
      sequence_number: Number(m[1]),
      stream_id: m[6],
      media: { track: m[2], chunk: Number(m[3]), timestamp: Number(m[4]), payload },
    },
  };
}

/** Parses and validates one text frame from Telnyx. Never throws. */
export function parseTelnyxMessage(raw: string): TelnyxParseResult {
  if (raw.length > MAX_PARSE_CHARS) return fail('message too large');
  const fast = raw.length <= 32 * 1024 ? parseMediaFast(raw) : undefined;
  if (fast) return fast;
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return fail('invalid JSON');
  }
  if (!isObject(data)) return fail('message is not a JSON object');
  const event = data.event;
  if (typeof event !== 'string') return fail('missing event');
  const name = event.slice(0, 32);
  if (event === 'connected') return { ok: true, message: { event, version: shortString(data.version) } };

  const streamId = data.stream_id;
  if (!isId(streamId)) return fail(`${name}: missing stream_id`);
  const sequence = data.sequence_number === undefined ? 0 : toNumber(data.sequence_number);
  if (!Number.isFinite(sequence)) return fail(`${name}: sequence_number is not numeric`);

  switch (event) {
    case 'media':
      return parseMedia(data, streamId, sequence);
    case 'start':
      return parseStart(data, streamId, sequence);
    case 'mark': {
      const mark = data.mark;
      if (!isObject(mark) || typeof mark.name !== 'string') return fail('mark: missing mark.name');
      if (mark.name.length > MAX_MARK_NAME_CHARS) return fail('mark: name too long');
      return {
        ok: true,
        message: { event, sequence_number: sequence, stream_id: streamId, mark: { name: mark.name } },
      };
    }
    case 'dtmf': {
      const dtmf = data.dtmf;
      if (!isObject(dtmf) || typeof dtmf.digit !== 'string') return fail('dtmf: missing dtmf.digit');
      if (!DTMF_DIGIT.test(dtmf.digit)) return fail('dtmf: invalid digit');
      return {
        ok: true,
        message: { event, sequence_number: sequence, stream_id: streamId, dtmf: { digit: dtmf.digit } },
      };
    }
    case 'error': {
      const payload = isObject(data.payload) ? data.payload : {};
      const code = toNumber(payload.code);
      return {
        ok: true,
        message: {
          event,
          stream_id: streamId,
          payload: {
            code: Number.isFinite(code) ? code : 0,
            title: shortString(payload.title),
            detail: shortString(payload.detail),
          },
        },
      };
    }
    case 'stop': {
      const stop = isObject(data.stop) ? data.stop : {};
      return {
        ok: true,
        message: {
          event,
          sequence_number: sequence,
          stream_id: streamId,
          stop: { call_control_id: isId(stop.call_control_id) ? stop.call_control_id : '' },
        },
      };
    }
    default:
      return fail(`unknown event: ${name}`);
  }
}

function parseMedia(data: Json, streamId: string, sequence: number): TelnyxParseResult {
  const media = data.media;
  if (!isObject(media)) return fail('media: missing media');
  const payload = media.payload;
  if (typeof payload !== 'string') return fail('media: payload is not a string');
  if (payload.length === 0) return fail('media: empty payload');
  if (payload.length % 4 !== 0 || !BASE64.test(payload)) return fail('media: payload is not base64');
  if (base64DecodedLength(payload) > MAX_MEDIA_PAYLOAD_BYTES) return fail('media: payload too large');
  const timestamp = media.timestamp === undefined ? 0 : toNumber(media.timestamp);
  if (!Number.isFinite(timestamp) || timestamp < 0) return fail('media: timestamp is not a non-negative number');
  const chunk = media.chunk === undefined ? 0 : toNumber(media.chunk);
  if (!Number.isFinite(chunk)) return fail('media: chunk is not numeric');
  const track = typeof media.track === 'string' ? media.track.slice(0, 16) : 'inbound';
  return {
    ok: true,
    message: {
      event: 'media',
      sequence_number: sequence,
      stream_id: streamId,
      media: { track, chunk, timestamp, payload },
    },
  };
}

function parseStart(data: Json, streamId: string, sequence: number): TelnyxParseResult {
  const start = data.start;
  if (!isObject(start)) return fail('start: missing start');
  if (!isId(start.call_control_id)) return fail('start: missing start.call_control_id');
  if (!isObject(start.media_format)) return fail('start: missing start.media_format');
  const format = start.media_format;
  const media_format: TelnyxMediaFormat = {
    encoding: shortString(format.encoding),
    sample_rate: toNumber(format.sample_rate),
    channels: format.channels === undefined ? 1 : toNumber(format.channels),
  };
  const custom_parameters: Record<string, string> = {};
  if (start.custom_parameters !== undefined && start.custom_parameters !== null) {
    if (!isObject(start.custom_parameters)) return fail('start: custom_parameters is not an object');
    const entries = Object.entries(start.custom_parameters);
    if (entries.length > MAX_PARAMETERS) return fail('start: too many custom_parameters');
    for (const [key, value] of entries) {
      if (typeof value !== 'string' || value.length > MAX_PARAMETER_CHARS || key.length > MAX_SHORT_STRING) {
        return fail('start: custom_parameters values must be short strings');
      }
      custom_parameters[key] = value;
    }
  }
  return {
    ok: true,
    message: {
      event: 'start',
      sequence_number: sequence,
      stream_id: streamId,
      start: {
        call_control_id: start.call_control_id,
        call_session_id: shortString(start.call_session_id),
        user_id: shortString(start.user_id),
        from: shortString(start.from),
        to: shortString(start.to),
        client_state: shortString(start.client_state),
        custom_parameters,
        media_format,
      },
    },
  };
}

/**
 * The audio format of a stream's media_format: PCMU or PCMA at 8 kHz mono (the older docs spell them
 * `audio/x-mulaw` / `audio/x-alaw`). Anything else (G722, OPUS, L16, AMR-WB, stereo) is undefined:
 * our TeXML asks for PCMU or PCMA, so another format means a misconfigured stream.
 */
export function audioFormatOf(format: TelnyxMediaFormat): AudioFormat | undefined {
  if (format.sample_rate !== 8000 || format.channels !== 1) return undefined;
  const encoding = format.encoding.toUpperCase();
  if (encoding === 'PCMU' || encoding === 'AUDIO/X-MULAW') return { encoding: 'pcmu', sampleRateHz: 8000 };
  if (encoding === 'PCMA' || encoding === 'AUDIO/X-ALAW') return { encoding: 'pcma', sampleRateHz: 8000 };
  return undefined;
}

// ---- Us -> Telnyx ------------------------------------------------------------------------------
// payload is base64 we produced (no escaping needed); mark names are JSON-escaped.

const MEDIA_PREFIX = Buffer.from('{"event":"media","media":{"payload":"');
const MEDIA_SUFFIX = Buffer.from('"}}');

/**
 * `{"event":"media",...}`: base64 RTP payload (G.711, no headers), 20 ms to 30 s per message, as
 * bytes in one buffer (base64Message: no concatenated string for the socket to flatten). Send it
 * as a text frame.
 */
export function telnyxMediaMessage(payloadBase64: string): Buffer {
  return base64Message(MEDIA_PREFIX, payloadBase64, MEDIA_SUFFIX);
}

/** `{"event":"mark",...}`: echoed once the media sent before it has played (at once if nothing is queued). */
export function telnyxMarkMessage(name: string): string {
  return `{"event":"mark","mark":{"name":${JSON.stringify(name)}}}`;
}

/** `{"event":"clear"}`: stops what is playing, empties the queue and echoes every queued mark. */
export function telnyxClearMessage(): string {
  return '{"event":"clear"}';
}
