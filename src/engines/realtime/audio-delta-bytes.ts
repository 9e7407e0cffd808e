/**
 * The downlink's fast path: an agent audio delta (`response.output_audio.delta`, or its beta name
 * `response.audio.delta`) read straight from the WebSocket message's bytes, its base64 decoded
 * into the audio buffer without a string.
 *
 * The general path makes a string of the whole message (~1.1 KB for 100 ms of G.711), JSON.parse
 * makes another of the delta and an object with four more strings, and the engine then decodes the
 * delta: ~8 % of what the main thread allocated at 100 calls (the garbage scavenges pause for).
 * Here only the two ids become strings.
 *
 * What it accepts: one flat JSON object (keys in any order, none escaped, whitespace allowed)
 * whose values are strings, numbers or literals, with a `type` of one of the two names, `item_id`
 * and `response_id` strings of ASCII without escapes, and a `delta` of canonical base64 (a
 * multiple of four characters of the standard alphabet, padded with at most two '='), each key
 * once. For these JSON.parse gives the same values and the general path the same audio; anything
 * else (an escape, a nested value, a duplicate key, other base64 spellings Node would also
 * accept) returns false and takes the general path, whose answers and protocol errors are
 * unchanged. test/unit/audio-delta-bytes.test.ts compares the two on mutated messages.
 */

/** What the engine needs from an audio delta. */
export interface AudioDelta {
  itemId: string;
  responseId: string;
  audio: Buffer;
}

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const KEY_TYPE = ascii('type');
const KEY_ITEM = ascii('item_id');
const KEY_RESPONSE = ascii('response_id');
const KEY_DELTA = ascii('delta');
const GA_TYPE = ascii('response.output_audio.delta');
const BETA_TYPE = ascii('response.audio.delta');
const TRUE = ascii('true');
const FALSE = ascii('false');
const NULL = ascii('null');

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const EQUALS = 0x3d;

/** The value of each base64 character of the standard alphabet; -1 for every other byte. */
const BASE64_VALUE = new Int8Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  .split('')
  .forEach((c, i) => (BASE64_VALUE[c.charCodeAt(0)] = i));

const isWhitespace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;

function skipWhitespace(buf: Buffer, at: number): number {
  while (at < buf.length && isWhitespace(buf[at])) at++;
  return at;
}

function equalsBytes(buf: Buffer, start: number, end: number, lit: Uint8Array): boolean {
  if (end - start !== lit.length) return false;
  for (let i = 0; i < lit.length; i++) if (buf[start + i] !== lit[i]) return false;
  return true;
}

/** Whether the string the last stringEnd() read held an escape (module state: no result object per call). */
let escaped = false;
const isHex = (b: number): boolean => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
/** The bytes that may follow a backslash in JSON: " \ / b f n r t (u is checked on its own). */
const SIMPLE_ESCAPE = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

/**
 * Where the string whose opening quote is at `at` - 1 ends (its closing quote); -1 for an invalid
 * escape, a control character or no end. `escaped` tells whether it held a (valid) escape.
 */
function stringEnd(buf: Buffer, at: number): number {
  escaped = false;
  for (; at < buf.length; at++) {
    const b = buf[at];
    if (b === QUOTE) return at;
    if (b < 0x20) return -1;
    if (b !== BACKSLASH) continue;
    escaped = true;
    const next = buf[++at];
    if (next === 0x75 /* u */) {
      if (!(isHex(buf[at + 1]) && isHex(buf[at + 2]) && isHex(buf[at + 3]) && isHex(buf[at + 4]))) return -1;
      at += 4;
    } else if (!SIMPLE_ESCAPE.has(next)) return -1;
  }
  return -1;
}

/** Where a JSON number starting at `at` ends; -1 if it is not one (RFC 8259's grammar). */
function numberEnd(buf: Buffer, at: number): number {
  if (buf[at] === 0x2d /* - */) at++;
  if (buf[at] === 0x30 /* 0 */) at++;
  else if (isDigit(buf[at])) while (isDigit(buf[at])) at++;
  else return -1;
  if (buf[at] === 0x2e /* . */) {
    at++;
    if (!isDigit(buf[at])) return -1;
    while (isDigit(buf[at])) at++;
  }
  if (buf[at] === 0x65 || buf[at] === 0x45 /* e E */) {
    at++;
    if (buf[at] === 0x2b || buf[at] === 0x2d /* + - */) at++;
    if (!isDigit(buf[at])) return -1;
    while (isDigit(buf[at])) at++;
  }
  return at;
}

function isAscii(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] >= 0x80) return false;
  return true;
}

/** The bytes of canonical base64 in buf[start, end); undefined for anything else (or nothing). */
function decodeBase64(buf: Buffer, start: number, end: number): Buffer | undefined {
  const length = end - start;
  if (length === 0 || length % 4 !== 0) return undefined;
  const padding = buf[end - 1] === EQUALS ? (buf[end - 2] === EQUALS ? 2 : 1) : 0;
  const out = Buffer.allocUnsafe((length / 4) * 3 - padding);
  const full = padding === 0 ? end : end - 4;
  let o = 0;
  for (let i = start; i < full; i += 4) {
    const a = BASE64_VALUE[buf[i]];
    const b = BASE64_VALUE[buf[i + 1]];
    const c = BASE64_VALUE[buf[i + 2]];
    const d = BASE64_VALUE[buf[i + 3]];
    if ((a | b | c | d) < 0) return undefined;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 0xff;
    out[o++] = v & 0xff;
  }
  if (padding > 0) {
    const a = BASE64_VALUE[buf[full]];
    const b = BASE64_VALUE[buf[full + 1]];
    const c = padding === 1 ? BASE64_VALUE[buf[full + 2]] : 0;
    if ((a | b | c) < 0) return undefined;
    const v = (a << 18) | (b << 12) | (c << 6);
    out[o++] = v >> 16;
    if (padding === 1) out[o++] = (v >> 8) & 0xff;
  }
  return out;
}

/**
 * Reads a WebSocket message (as `ws` hands it over) that is an agent audio delta into `out`.
 * Returns false, with `out` unspecified, for anything the general parser has to look at.
 */
export function readAudioDelta(data: unknown, out: AudioDelta): boolean {
  if (!Buffer.isBuffer(data)) return false;
  const buf = data;
  let at = skipWhitespace(buf, 0);
  if (buf[at] !== OPEN_BRACE) return false;
  let typeOk = false;
  let seenType = false;
  let itemStart = -1;
  let itemEnd = -1;
  let responseStart = -1;
  let responseEnd = -1;
  let deltaStart = -1;
  let deltaEnd = -1;
  at = skipWhitespace(buf, at + 1);
  for (;;) {
    if (buf[at] !== QUOTE) return false;
    const keyStart = at + 1;
    const keyEnd = stringEnd(buf, keyStart);
    // An escaped key may spell one of ours: the parser decides.
    if (keyEnd < 0 || escaped) return false;
    at = skipWhitespace(buf, keyEnd + 1);
    if (buf[at] !== COLON) return false;
    at = skipWhitespace(buf, at + 1);
    const valueStart = at;
    const isDelta = equalsBytes(buf, keyStart, keyEnd, KEY_DELTA);
    // A string value without escapes: the only kind the values we read may be.
    let stringValue = false;
    const first = buf[at];
    if (isDelta && first === QUOTE) {
      // The audio, most of the message: its end found by memchr. An escape or a control character
      // before that quote is not base64, so the decoding below refuses it.
      const end = buf.indexOf(QUOTE, at + 1);
      if (end < 0) return false;
      stringValue = true;
      at = end + 1;
    } else if (first === QUOTE) {
      const end = stringEnd(buf, at + 1);
      if (end < 0) return false;
      stringValue = !escaped;
      at = end + 1;
    } else if (first === 0x2d || isDigit(first)) {
      at = numberEnd(buf, at);
      if (at < 0) return false;
    } else if (equalsBytes(buf, at, at + 4, TRUE) || equalsBytes(buf, at, at + 4, NULL)) {
      at += 4;
    } else if (equalsBytes(buf, at, at + 5, FALSE)) {
      at += 5;
    } else {
      return false; // an object, an array or not JSON
    }
    // A string value's content, without its quotes.
    const start = valueStart + 1;
    const end = at - 1;
    if (equalsBytes(buf, keyStart, keyEnd, KEY_TYPE)) {
      if (seenType) return false;
      seenType = true;
      typeOk = stringValue && (equalsBytes(buf, start, end, GA_TYPE) || equalsBytes(buf, start, end, BETA_TYPE));
      if (!typeOk) return false;
    } else if (equalsBytes(buf, keyStart, keyEnd, KEY_ITEM)) {
      if (itemStart >= 0 || !stringValue || !isAscii(buf, start, end)) return false;
      itemStart = start;
      itemEnd = end;
    } else if (equalsBytes(buf, keyStart, keyEnd, KEY_RESPONSE)) {
      if (responseStart >= 0 || !stringValue || !isAscii(buf, start, end)) return false;
      responseStart = start;
      responseEnd = end;
    } else if (isDelta) {
      if (deltaStart >= 0 || !stringValue) return false;
      deltaStart = start;
      deltaEnd = end;
    }
    at = skipWhitespace(buf, at);
    if (buf[at] === COMMA) {
      at = skipWhitespace(buf, at + 1);
      continue;
    }
    if (buf[at] !== CLOSE_BRACE) return false;
    break;
  }
  if (skipWhitespace(buf, at + 1) !== buf.length) return false;
  if (!typeOk || itemStart < 0 || responseStart < 0 || deltaStart < 0) return false;
  const audio = decodeBase64(buf, deltaStart, deltaEnd);
  if (!audio) return false;
  out.itemId = buf.toString('latin1', itemStart, itemEnd);
  out.responseId = buf.toString('latin1', responseStart, responseEnd);
  out.audio = audio;
  return true;
}
