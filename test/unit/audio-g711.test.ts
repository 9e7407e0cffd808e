import { mulaw } from 'alawmulaw';
import {
  MULAW_DECODE_TABLE,
  MULAW_SILENCE,
  decodeMulaw,
  decodeMulawSample,
  encodeMulaw,
  encodeMulawSample,
} from '../../src/audio/g711';

const ALL_CODES = Uint8Array.from({ length: 256 }, (_, i) => i);

describe('G.711 mu-law codec', () => {
  it('decodes every one of the 256 codes exactly like alawmulaw', () => {
    const decoded = decodeMulaw(ALL_CODES);
    for (let code = 0; code < 256; code++) expect(decoded[code]).toBe(mulaw.decodeSample(code) | 0); // | 0: the reference returns -0 for 0x7F
    expect(Array.from(decoded)).toEqual(Array.from(mulaw.decode(ALL_CODES), (v) => v | 0));
  });

  it('encodes every 16-bit sample value exactly like alawmulaw', () => {
    const samples = new Int16Array(65536);
    for (let i = 0; i < 65536; i++) samples[i] = i - 32768;
    const ours = encodeMulaw(samples);
    const reference = mulaw.encode(samples);
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) if (ours[i] !== (reference[i] & 0xff)) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('round-trips every code through decode and encode (negative zero 0x7F becomes 0xFF)', () => {
    const back = encodeMulaw(decodeMulaw(ALL_CODES));
    for (let code = 0; code < 256; code++) expect(back[code]).toBe(code === 0x7f ? 0xff : code);
  });

  it('knows the G.711 reference values', () => {
    expect(MULAW_SILENCE).toBe(0xff);
    expect(decodeMulawSample(0xff)).toBe(0);
    expect(decodeMulawSample(0x00)).toBe(-32124);
    expect(decodeMulawSample(0x80)).toBe(32124);
    expect(decodeMulawSample(0xfe)).toBe(8);
    expect(decodeMulawSample(0x7e)).toBe(-8);
    expect(decodeMulawSample(0x7f)).toBe(0);
    expect(encodeMulawSample(0)).toBe(0xff);
    expect(encodeMulawSample(32767)).toBe(0x80);
    expect(encodeMulawSample(-32768)).toBe(0x00);
    expect(encodeMulawSample(1_000_000)).toBe(0x80); // clamped
    expect(MULAW_DECODE_TABLE).toHaveLength(256);
  });

  it('writes into the given output arrays without allocating new ones', () => {
    const pcmOut = new Int16Array(160);
    const muOut = new Uint8Array(160);
    const frame = new Uint8Array(160).fill(0x80);
    expect(decodeMulaw(frame, pcmOut)).toBe(pcmOut);
    expect(pcmOut[0]).toBe(32124);
    expect(encodeMulaw(pcmOut, muOut)).toBe(muOut);
    expect(muOut[159]).toBe(0x80);
    // A larger out array: the result is a view of exactly the input length on the same memory.
    const big = new Int16Array(320);
    const view = decodeMulaw(frame, big);
    expect(view).toHaveLength(160);
    expect(view.buffer).toBe(big.buffer);
  });

  it('rejects output arrays that are too small with a RangeError', () => {
    expect(() => decodeMulaw(new Uint8Array(10), new Int16Array(9))).toThrow(RangeError);
    expect(() => encodeMulaw(new Int16Array(10), new Uint8Array(9))).toThrow(RangeError);
  });
});
