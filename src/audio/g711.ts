/**
 * G.711 mu-law codec on typed arrays, driven by precomputed lookup tables.
 *
 * - decode: a 256-entry Int16 table (one load per sample).
 * - encode: a 65536-entry Uint8 table indexed by the raw 16-bit sample (64 KiB, built once), so encoding is
 *   exact for every input (a 14-bit table indexed by `sample >> 2` would round negative samples differently
 *   from the reference encoder, which works on sign + magnitude).
 *
 * The tables reproduce the reference algorithm (ITU-T G.711 / Sun g711.c, the same one `alawmulaw` uses):
 * bias 0x84, clip 32635, output bits inverted. Both functions write into `out` when given and then allocate
 * nothing, which is what the per-frame path should do.
 */

/** The mu-law byte for digital silence (decodes to 0). Pad frames with it. */
export const MULAW_SILENCE = 0xff;

const BIAS = 0x84;
const CLIP = 32635;
const SEGMENT_BASE = [0, 132, 396, 924, 1980, 4092, 8316, 16764];

function decodeSampleSlow(code: number): number {
  const inverted = ~code & 0xff;
  const sign = inverted & 0x80;
  const exponent = (inverted >> 4) & 0x07;
  const mantissa = inverted & 0x0f;
  const magnitude = SEGMENT_BASE[exponent] + (mantissa << (exponent + 3));
  return sign !== 0 ? -magnitude : magnitude;
}

function encodeSampleSlow(sample: number): number {
  const sign = (sample >> 8) & 0x80;
  let magnitude = sign !== 0 ? -sample : sample;
  magnitude += BIAS;
  if (magnitude > CLIP) magnitude = CLIP;
  // exponent = position of the highest set bit among bits 7..14 of the biased magnitude.
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** code (0..255) -> linear PCM16 sample. */
export const MULAW_DECODE_TABLE: Int16Array = (() => {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) table[code] = decodeSampleSlow(code);
  return table;
})();

/** (sample & 0xffff) -> mu-law code. */
const ENCODE_TABLE: Uint8Array = (() => {
  const table = new Uint8Array(65536);
  for (let i = 0; i < 65536; i++) table[i] = encodeSampleSlow((i << 16) >> 16);
  return table;
})();

/** Encodes one PCM16 sample (values outside int16 are clamped). */
export function encodeMulawSample(sample: number): number {
  const clamped = sample > 32767 ? 32767 : sample < -32768 ? -32768 : sample | 0;
  return ENCODE_TABLE[clamped & 0xffff];
}

/** Decodes one mu-law byte. */
export function decodeMulawSample(code: number): number {
  return MULAW_DECODE_TABLE[code & 0xff];
}

/**
 * Decodes mu-law bytes to PCM16. Writes into `out` (which must hold `src.length` samples) when given, and
 * returns a view of exactly `src.length` samples (`out` itself when the lengths match).
 */
export function decodeMulaw(src: Uint8Array, out?: Int16Array): Int16Array {
  const n = src.length;
  let dst: Int16Array;
  if (out === undefined) {
    dst = new Int16Array(n);
  } else {
    if (out.length < n) throw new RangeError(`decodeMulaw: out holds ${out.length} samples, needs ${n}`);
    dst = out;
  }
  const table = MULAW_DECODE_TABLE;
  for (let i = 0; i < n; i++) dst[i] = table[src[i]];
  return dst.length === n ? dst : dst.subarray(0, n);
}

/**
 * Encodes PCM16 samples to mu-law. Writes into `out` (which must hold `src.length` bytes) when given, and
 * returns a view of exactly `src.length` bytes (`out` itself when the lengths match).
 */
export function encodeMulaw(src: Int16Array, out?: Uint8Array): Uint8Array {
  const n = src.length;
  let dst: Uint8Array;
  if (out === undefined) {
    dst = new Uint8Array(n);
  } else {
    if (out.length < n) throw new RangeError(`encodeMulaw: out holds ${out.length} bytes, needs ${n}`);
    dst = out;
  }
  const table = ENCODE_TABLE;
  for (let i = 0; i < n; i++) dst[i] = table[src[i] & 0xffff];
  return dst.length === n ? dst : dst.subarray(0, n);
}

// ---- A-law (G.711 A-law, ITU-T reference / Sun g711.c: even bits inverted with 0x55) ----------

/** The A-law byte for digital silence (decodes to +8, the smallest positive step). Pad frames with it. */
export const ALAW_SILENCE = 0xd5;

/** Upper bound of each A-law segment, on the 13-bit magnitude (sample >> 3). */
const ALAW_SEGMENT_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

function decodeAlawSampleSlow(code: number): number {
  const value = (code & 0xff) ^ 0x55;
  const segment = (value & 0x70) >> 4;
  let magnitude = (value & 0x0f) << 4;
  if (segment === 0) magnitude += 8;
  else magnitude = (magnitude + 0x108) << (segment - 1);
  return (value & 0x80) !== 0 ? magnitude : -magnitude;
}

function encodeAlawSampleSlow(sample: number): number {
  let value = sample >> 3;
  let mask: number;
  if (value >= 0) {
    mask = 0xd5;
  } else {
    mask = 0x55;
    value = -value - 1;
  }
  let segment = 0;
  while (segment < 8 && value > ALAW_SEGMENT_END[segment]) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  const mantissa = segment < 2 ? (value >> 1) & 0x0f : (value >> segment) & 0x0f;
  return ((segment << 4) | mantissa) ^ mask;
}

/** A-law code (0..255) -> linear PCM16 sample. */
export const ALAW_DECODE_TABLE: Int16Array = (() => {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) table[code] = decodeAlawSampleSlow(code);
  return table;
})();

/** (sample & 0xffff) -> A-law code. */
const ALAW_ENCODE_TABLE: Uint8Array = (() => {
  const table = new Uint8Array(65536);
  for (let i = 0; i < 65536; i++) table[i] = encodeAlawSampleSlow((i << 16) >> 16);
  return table;
})();

/** A-law code -> the mu-law code of the same sound (decode, then encode: one table load per sample). */
const ALAW_TO_MULAW_TABLE: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let code = 0; code < 256; code++) table[code] = ENCODE_TABLE[ALAW_DECODE_TABLE[code] & 0xffff];
  return table;
})();

/** Mu-law code -> the A-law code of the same sound. */
const MULAW_TO_ALAW_TABLE: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let code = 0; code < 256; code++) table[code] = ALAW_ENCODE_TABLE[MULAW_DECODE_TABLE[code] & 0xffff];
  return table;
})();

/** Encodes one PCM16 sample to A-law (values outside int16 are clamped). */
export function encodeAlawSample(sample: number): number {
  const clamped = sample > 32767 ? 32767 : sample < -32768 ? -32768 : sample | 0;
  return ALAW_ENCODE_TABLE[clamped & 0xffff];
}

/** Decodes one A-law byte. */
export function decodeAlawSample(code: number): number {
  return ALAW_DECODE_TABLE[code & 0xff];
}

function outputOf<T extends Uint8Array | Int16Array>(
  name: string,
  n: number,
  out: T | undefined,
  make: (n: number) => T,
): T {
  if (out === undefined) return make(n);
  if (out.length < n) throw new RangeError(`${name}: out holds ${out.length}, needs ${n}`);
  return out;
}

/** Decodes A-law bytes to PCM16 (into `out` when given; returns a view of exactly `src.length` samples). */
export function decodeAlaw(src: Uint8Array, out?: Int16Array): Int16Array {
  const n = src.length;
  const dst = outputOf('decodeAlaw', n, out, (k) => new Int16Array(k));
  for (let i = 0; i < n; i++) dst[i] = ALAW_DECODE_TABLE[src[i]];
  return dst.length === n ? dst : dst.subarray(0, n);
}

/** Encodes PCM16 samples to A-law (into `out` when given; returns a view of exactly `src.length` bytes). */
export function encodeAlaw(src: Int16Array, out?: Uint8Array): Uint8Array {
  const n = src.length;
  const dst = outputOf('encodeAlaw', n, out, (k) => new Uint8Array(k));
  for (let i = 0; i < n; i++) dst[i] = ALAW_ENCODE_TABLE[src[i] & 0xffff];
  return dst.length === n ? dst : dst.subarray(0, n);
}

/** A-law bytes -> mu-law bytes of the same sound (G.711 to G.711: no PCM in between). `out` may be `src`. */
export function alawToMulaw(src: Uint8Array, out?: Uint8Array): Uint8Array {
  const n = src.length;
  const dst = outputOf('alawToMulaw', n, out, (k) => new Uint8Array(k));
  for (let i = 0; i < n; i++) dst[i] = ALAW_TO_MULAW_TABLE[src[i]];
  return dst.length === n ? dst : dst.subarray(0, n);
}

/** Mu-law bytes -> A-law bytes of the same sound. `out` may be `src`. */
export function mulawToAlaw(src: Uint8Array, out?: Uint8Array): Uint8Array {
  const n = src.length;
  const dst = outputOf('mulawToAlaw', n, out, (k) => new Uint8Array(k));
  for (let i = 0; i < n; i++) dst[i] = MULAW_TO_ALAW_TABLE[src[i]];
  return dst.length === n ? dst : dst.subarray(0, n);
}
