/**
 * The uplink's fast path for the telephony media streams (Twilio, Telnyx): a media message read
 * straight from the WebSocket frame's bytes.
 *
 * A media message arrives every 20 ms per call. Read as text it costs a string of the whole
 * message (~380 characters), a regular-expression match with six captured strings and three
 * result objects before the payload reaches the conversation; at 100 calls that was ~18 % of what
 * the main thread allocated (the young-generation garbage that scavenges pause for). Here the
 * bytes are compared in place and only the payload becomes a string.
 *
 * Both providers send the same layout with their own spelling of two keys:
 * `{"event":"media","<sequence>":"N","media":{"track":"inbound|outbound","chunk":"N",
 * "timestamp":"N","payload":"<base64>"},"<stream>":"<id>"}`. A reader accepts exactly what its
 * provider's text fast path accepts (that layout, string-typed numbers of at most 15 digits, no
 * whitespace, no escapes, a canonical base64 payload within the provider's bound) and, in
 * addition, only the stream's own id. Every byte it admits is ASCII, so a byte match is a text
 * match. Anything else returns false and takes the general parser, whose answers (and protocol
 * errors) are unchanged; tests compare the two on mutated messages.
 */

/** What the conversation needs from a media message (filled in place: no object per frame). */
export interface MediaFields {
  /** Base64 audio exactly as received. */
  payload: string;
  timestampMs: number;
  sequenceNumber: number;
  /** The `outbound` track (our own audio echoed back), not the caller's. */
  outbound: boolean;
}

/**
 * The payload read into `fields`, which no longer holds it. A stream keeps one MediaFields for its
 * whole life, so a payload left in it stays alive until the next frame (20 ms): at 100 calls that
 * was 100 strings (~25 KB, over half of what survived each young-generation GC) alive and copied at
 * every scavenge, where the frame's string otherwise dies before the next one.
 */
export function takePayload(fields: MediaFields): string {
  const payload = fields.payload;
  fields.payload = '';
  return payload;
}

/** A stream id the reader compares byte for byte: only characters that JSON never escapes. */
const PLAIN_ID = /^[A-Za-z0-9_.:-]{1,256}$/;

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const INBOUND = ascii('inbound');
const OUTBOUND = ascii('outbound');
const AFTER_TRACK = ascii('","chunk":"');
const AFTER_CHUNK = ascii('","timestamp":"');
const AFTER_TIMESTAMP = ascii('","payload":"');
const QUOTE = 0x22;
const CLOSE_BRACE = 0x7d;
const EQUALS = 0x3d;
/** Digits in a number field (as the text fast paths: at most 15, exact in a double). */
const MAX_DIGITS = 15;

/** A non-empty payload of the base64 alphabet, padded with at most two '=' (as the text fast paths). */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Where `lit` ends if `buf` holds it at `at`, else -1. */
function literal(buf: Uint8Array, at: number, lit: Uint8Array): number {
  if (at < 0 || at + lit.length > buf.length) return -1;
  for (let i = 0; i < lit.length; i++) if (buf[at + i] !== lit[i]) return -1;
  return at + lit.length;
}

/** Where the last digits() run ended (module state instead of a result object per call). */
let digitsEnd = 0;
/** The number of a 1–15 digit run at `at` that ends with a quote (digitsEnd: the quote); -1 when there is none. */
function digits(buf: Uint8Array, at: number): number {
  let value = 0;
  let i = at;
  for (; i < buf.length && i - at <= MAX_DIGITS; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) break;
    value = value * 10 + d;
  }
  const count = i - at;
  if (count === 0 || count > MAX_DIGITS || buf[i] !== QUOTE) return -1;
  digitsEnd = i;
  return value;
}

/** One provider's media layout: how it spells the sequence number's and the stream id's keys. */
export class MediaReader {
  private readonly head: Uint8Array;
  private readonly afterSequence: Uint8Array;
  private readonly afterPayload: Uint8Array;
  private readonly maxPayloadBytes: number;
  /** Longest base64 text of maxPayloadBytes. */
  private readonly maxPayloadChars: number;

  constructor(layout: { sequenceKey: string; streamKey: string; maxPayloadBytes: number }) {
    this.head = ascii(`{"event":"media","${layout.sequenceKey}":"`);
    this.afterSequence = ascii('","media":{"track":"');
    this.afterPayload = ascii(`"},"${layout.streamKey}":"`);
    this.maxPayloadBytes = layout.maxPayloadBytes;
    this.maxPayloadChars = Math.ceil(layout.maxPayloadBytes / 3) * 4;
  }

  /** The id's bytes for read(), or undefined when it holds characters the reader must not compare raw. */
  static streamId(id: string): Buffer | undefined {
    return PLAIN_ID.test(id) ? Buffer.from(id, 'latin1') : undefined;
  }

  /**
   * Reads a WebSocket message (as `ws` hands it over) that is a media message of the stream
   * `streamId` (from MediaReader.streamId), at most maxBytes long, into `out`. Returns false, with
   * `out` unspecified, for anything the general parser has to look at.
   */
  read(data: unknown, streamId: Uint8Array, maxBytes: number, out: MediaFields): boolean {
    if (!Buffer.isBuffer(data) || data.length > maxBytes) return false;
    const buf = data;
    let at = literal(buf, 0, this.head);
    if (at < 0) return false;
    const sequenceNumber = digits(buf, at);
    if (sequenceNumber < 0) return false;
    at = literal(buf, digitsEnd, this.afterSequence);
    if (at < 0) return false;
    const outbound = buf[at] === 0x6f; /* o */
    at = literal(buf, literal(buf, at, outbound ? OUTBOUND : INBOUND), AFTER_TRACK);
    if (at < 0 || digits(buf, at) < 0) return false;
    at = literal(buf, digitsEnd, AFTER_CHUNK);
    if (at < 0) return false;
    const timestampMs = digits(buf, at);
    if (timestampMs < 0) return false;
    at = literal(buf, digitsEnd, AFTER_TIMESTAMP);
    if (at < 0) return false;
    // The payload runs to the next quote: found by memchr, checked by a compiled regular expression
    // on the string the conversation needs anyway (a byte loop here cost more than both).
    const payloadEnd = buf.indexOf(QUOTE, at);
    if (payloadEnd < 0 || payloadEnd - at > this.maxPayloadChars) return false;
    const payload = buf.toString('latin1', at, payloadEnd);
    const length = payload.length;
    if (length % 4 !== 0 || !BASE64.test(payload)) return false;
    const padding = payload.charCodeAt(length - 1) === EQUALS ? (payload.charCodeAt(length - 2) === EQUALS ? 2 : 1) : 0;
    if ((length / 4) * 3 - padding > this.maxPayloadBytes) return false;
    at = literal(buf, literal(buf, payloadEnd, this.afterPayload), streamId);
    if (at < 0 || at + 2 !== buf.length || buf[at] !== QUOTE || buf[at + 1] !== CLOSE_BRACE) return false;
    out.payload = payload;
    out.timestampMs = timestampMs;
    out.sequenceNumber = sequenceNumber;
    out.outbound = outbound;
    return true;
  }
}
