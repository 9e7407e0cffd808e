/**
 * Twilio Media Streams wire protocol: one interface per message (names mirror the wire), a
 * parser that validates shape at the edge, and string-template serializers for what we send.
 *
 * Hot path: a media message arrives every 20 ms per call. Measured on this 2-core machine (Node 20):
 * `JSON.parse` of a 379-byte media message costs ~0.83 µs, and parse + all checks below (base64
 * alphabet, lengths, numeric timestamp) ~1.1 µs. 500 calls x 50 messages/s = 25,000 messages/s
 * ≈ 28 ms of CPU per second (under 3% of one core).
 *
 * Media messages in Twilio's own layout (the key order and string-typed numbers Twilio sends) take a
 * fast path: one anchored regular expression that matches the WHOLE message, with character classes
 * that admit no JSON escapes, so a match means exactly what JSON.parse would have read, already
 * validated. It avoids JSON.parse and its intermediate objects (about half of the parse cost, seen
 * in CPU profiles of `npm run bench`). Anything else — other key orders, extra fields, whitespace,
 * bad values — falls through to the general JSON.parse path and its checks, so behaviour on
 * unusual or hostile input is unchanged.
 */
import { base64Message } from '../../audio/base64-message';

export type TwilioTrack = 'inbound' | 'outbound';

export interface TwilioMediaFormat {
  encoding: string;
  sampleRate: number;
  channels: number;
}

export interface TwilioConnectedMessage {
  event: 'connected';
  protocol: string;
  version: string;
}

export interface TwilioStartMessage {
  event: 'start';
  sequenceNumber: number;
  streamSid: string;
  start: {
    accountSid: string;
    streamSid: string;
    callSid: string;
    tracks: string[];
    mediaFormat: TwilioMediaFormat;
    customParameters: Record<string, string>;
  };
}

export interface TwilioMediaMessage {
  event: 'media';
  sequenceNumber: number;
  streamSid: string;
  media: {
    track: string;
    chunk: number;
    /** Milliseconds since the stream started (a string on the wire). */
    timestamp: number;
    /** Base64 mu-law exactly as received (not decoded: it can pass through to the AI untouched). */
    payload: string;
  };
}

export interface TwilioMarkMessage {
  event: 'mark';
  sequenceNumber: number;
  streamSid: string;
  mark: { name: string };
}

export interface TwilioDtmfMessage {
  event: 'dtmf';
  sequenceNumber: number;
  streamSid: string;
  dtmf: { track: string; digit: string };
}

export interface TwilioStopMessage {
  event: 'stop';
  sequenceNumber: number;
  streamSid: string;
  stop: { accountSid: string; callSid: string };
}

export type TwilioInboundMessage =
  | TwilioConnectedMessage
  | TwilioStartMessage
  | TwilioMediaMessage
  | TwilioMarkMessage
  | TwilioDtmfMessage
  | TwilioStopMessage;

export type TwilioInboundEvent = TwilioInboundMessage['event'];

export type ParseResult = { ok: true; message: TwilioInboundMessage } | { ok: false; reason: string };

/** Largest decoded media payload accepted: 2 s of 8 kHz mu-law (Twilio sends 160 bytes). */
export const MAX_MEDIA_PAYLOAD_BYTES = 16000;
/** Longest raw message the parser looks at (the transport enforces its own, usually smaller, bound). */
export const MAX_PARSE_CHARS = 256 * 1024;
/** Twilio SIDs are 34 alphanumerics; allow a little more, but only characters safe in a JSON string. */
const SID = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_MARK_NAME_CHARS = 256;
const MAX_PARAMETERS = 64;
const MAX_PARAMETER_CHARS = 4096;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DTMF_DIGIT = /^[0-9*#A-Da-dw]$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Twilio sends numbers as strings ("5"); accept either, return NaN when it is neither. */
function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.length > 0 && value.length <= 16) return Number(value);
  return NaN;
}

function isSid(value: unknown): value is string {
  return typeof value === 'string' && SID.test(value);
}

/** Decoded size of a well-formed base64 string, without decoding it. */
export function base64DecodedLength(b64: string): number {
  const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - padding;
}

/** True for canonical base64 (length a multiple of 4, standard alphabet, at most two '=' at the end). */
export function isBase64(value: string): boolean {
  return value.length % 4 === 0 && BASE64.test(value);
}

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}

/** A media message exactly as Twilio lays it out; payload length and size are checked after the match. */
const TWILIO_MEDIA =
  /^\{"event":"media","sequenceNumber":"(\d{1,15})","media":\{"track":"(inbound|outbound)","chunk":"(\d{1,15})","timestamp":"(\d{1,15})","payload":"([A-Za-z0-9+/]+={0,2})"\},"streamSid":"([A-Za-z0-9_.-]{1,64})"\}$/;

/** The fast path: a media message in Twilio's layout, or undefined to take the general path. */
function parseTwilioMediaFast(raw: string): ParseResult | undefined {
  // "media", not "mark": both start with m at 10, the regular expression is tried on media alone.
  if (raw.charCodeAt(10) !== 109 /* m */ || raw.charCodeAt(11) !== 101 /* e */) return undefined;
  const m = TWILIO_MEDIA.exec(raw);
  if (m === null) return undefined;
  const payload = m[5];
  // Non-canonical lengths and oversized payloads get the general path's exact error.
  if (payload.length % 4 !== 0 || base64DecodedLength(payload) > MAX_MEDIA_PAYLOAD_BYTES) return undefined;
  return {
    ok: true,
    message: {
      event: 'media',
      sequenceNumber: Number(m[1]),
      streamSid: m[6],
      media: { track: m[2], chunk: Number(m[3]), timestamp: Number(m[4]), payload },
    },
  };
}

/**
 * Parses and validates one text frame from Twilio. Never throws: anything unexpected is
 * `{ ok: false, reason }` with a short, static-ish reason suitable for logs and counters.
 */
export function parseTwilioMessage(raw: string): ParseResult {
  if (raw.length > MAX_PARSE_CHARS) return fail('message too large');
  const fast = raw.length <= 32 * 1024 ? parseTwilioMediaFast(raw) : undefined;
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

  if (event === 'connected') {
    return {
      ok: true,
      message: {
        event,
        protocol: typeof data.protocol === 'string' ? data.protocol : '',
        version: typeof data.version === 'string' ? data.version : '',
      },
    };
  }

  const streamSid = data.streamSid;
  if (!isSid(streamSid)) return fail(`${event.slice(0, 32)}: missing streamSid`);
  // sequenceNumber is informative only; tolerate its absence (some proxies drop it) as 0.
  const sequenceNumber = data.sequenceNumber === undefined ? 0 : toNumber(data.sequenceNumber);
  if (!Number.isFinite(sequenceNumber)) return fail(`${event.slice(0, 32)}: sequenceNumber is not numeric`);

  switch (event) {
    case 'media':
      return parseMedia(data, streamSid, sequenceNumber);
    case 'start':
      return parseStart(data, streamSid, sequenceNumber);
    case 'mark': {
      const mark = data.mark;
      if (!isObject(mark) || typeof mark.name !== 'string') return fail('mark: missing mark.name');
      if (mark.name.length > MAX_MARK_NAME_CHARS) return fail('mark: name too long');
      return { ok: true, message: { event, sequenceNumber, streamSid, mark: { name: mark.name } } };
    }
    case 'dtmf': {
      const dtmf = data.dtmf;
      if (!isObject(dtmf) || typeof dtmf.digit !== 'string') return fail('dtmf: missing dtmf.digit');
      if (!DTMF_DIGIT.test(dtmf.digit)) return fail('dtmf: invalid digit');
      const track = typeof dtmf.track === 'string' ? dtmf.track : 'inbound_track';
      return { ok: true, message: { event, sequenceNumber, streamSid, dtmf: { track, digit: dtmf.digit } } };
    }
    case 'stop': {
      const stop = isObject(data.stop) ? data.stop : {};
      return {
        ok: true,
        message: {
          event,
          sequenceNumber,
          streamSid,
          stop: {
            accountSid: typeof stop.accountSid === 'string' ? stop.accountSid : '',
            callSid: typeof stop.callSid === 'string' ? stop.callSid : '',
          },
        },
      };
    }
    default:
      return fail(`unknown event: ${event.slice(0, 32)}`);
  }
}

function parseMedia(data: Json, streamSid: string, sequenceNumber: number): ParseResult {
  const media = data.media;
  if (!isObject(media)) return fail('media: missing media');
  const payload = media.payload;
  if (typeof payload !== 'string') return fail('media: payload is not a string');
  if (payload.length === 0) return fail('media: empty payload');
  if (!isBase64(payload)) return fail('media: payload is not base64');
  if (base64DecodedLength(payload) > MAX_MEDIA_PAYLOAD_BYTES) return fail('media: payload too large');
  const timestamp = toNumber(media.timestamp);
  if (!Number.isFinite(timestamp) || timestamp < 0) return fail('media: timestamp is not a non-negative number');
  const chunk = media.chunk === undefined ? 0 : toNumber(media.chunk);
  if (!Number.isFinite(chunk)) return fail('media: chunk is not numeric');
  const track = typeof media.track === 'string' ? media.track : 'inbound';
  return {
    ok: true,
    message: { event: 'media', sequenceNumber, streamSid, media: { track, chunk, timestamp, payload } },
  };
}

function parseStart(data: Json, streamSid: string, sequenceNumber: number): ParseResult {
  const start = data.start;
  if (!isObject(start)) return fail('start: missing start');
  if (!isSid(start.callSid)) return fail('start: missing start.callSid');
  const accountSid = isSid(start.accountSid) ? start.accountSid : '';
  const tracks = Array.isArray(start.tracks) ? start.tracks.filter((t): t is string => typeof t === 'string') : [];
  const format = isObject(start.mediaFormat) ? start.mediaFormat : {};
  const mediaFormat: TwilioMediaFormat = {
    encoding: typeof format.encoding === 'string' ? format.encoding : 'audio/x-mulaw',
    sampleRate: Number.isFinite(toNumber(format.sampleRate)) ? toNumber(format.sampleRate) : 8000,
    channels: Number.isFinite(toNumber(format.channels)) ? toNumber(format.channels) : 1,
  };
  const customParameters: Record<string, string> = {};
  if (start.customParameters !== undefined) {
    if (!isObject(start.customParameters)) return fail('start: customParameters is not an object');
    const entries = Object.entries(start.customParameters);
    if (entries.length > MAX_PARAMETERS) return fail('start: too many customParameters');
    for (const [key, value] of entries) {
      if (typeof value !== 'string' || value.length > MAX_PARAMETER_CHARS) {
        return fail('start: customParameters values must be short strings');
      }
      customParameters[key] = value;
    }
  }
  return {
    ok: true,
    message: {
      event: 'start',
      sequenceNumber,
      streamSid,
      start: { accountSid, streamSid, callSid: start.callSid, tracks, mediaFormat, customParameters },
    },
  };
}

// ---- Server -> Twilio -------------------------------------------------------------------------
// String templates: streamSid is validated on the way in (SID pattern) and payload is base64, so neither
// needs escaping; mark names are JSON-escaped because callers may pass anything.

/** `{"event":"media",...}` carrying base64 raw 8 kHz mu-law (whole 20 ms frames avoid jitter). */
export function mediaMessage(streamSid: string, payloadBase64: string): string {
  return `{"event":"media","streamSid":"${streamSid}","media":{"payload":"${payloadBase64}"}}`;
}

const MEDIA_SUFFIX = Buffer.from('"}}');

/** What comes before the payload in every media message of a stream (mediaMessageBytes). */
export function mediaMessagePrefix(streamSid: string): Buffer {
  return Buffer.from(`{"event":"media","streamSid":"${streamSid}","media":{"payload":"`);
}

/**
 * mediaMessage's bytes (UTF-8), written into one buffer from the stream's prefix: send it as a text
 * frame. 100 ms of agent audio is a ~1.1 KB message; as a string it was concatenated, then flattened
 * into a new string when the socket wrote it: ~1.1 KB of young-generation garbage a chunk. The buffer
 * comes from Node's pool, outside V8's heap (steady, 100 calls: 1.3 % fewer scavenges,
 * docs/benchmarks/bridge.md).
 */
export function mediaMessageBytes(prefix: Buffer, payloadBase64: string): Buffer {
  return base64Message(prefix, payloadBase64, MEDIA_SUFFIX);
}

/** `{"event":"mark",...}`: Twilio echoes it once every byte of audio sent before it has played. */
export function markMessage(streamSid: string, name: string): string {
  return `{"event":"mark","streamSid":"${streamSid}","mark":{"name":${JSON.stringify(name)}}}`;
}

/** `{"event":"clear",...}`: empties Twilio's playback buffer and makes it echo every pending mark. */
export function clearMessage(streamSid: string): string {
  return `{"event":"clear","streamSid":"${streamSid}"}`;
}
