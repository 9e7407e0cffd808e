import { alaw } from 'alawmulaw';
import {
  ALAW_DECODE_TABLE,
  ALAW_SILENCE,
  MULAW_SILENCE,
  alawToMulaw,
  decodeAlaw,
  decodeAlawSample,
  decodeMulaw,
  encodeAlaw,
  encodeAlawSample,
  encodeMulaw,
  mulawToAlaw,
} from '../../src/audio/g711';

const ALL_CODES = Uint8Array.from({ length: 256 }, (_, i) => i);

function allSamples(): Int16Array {
  const samples = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) samples[i] = i - 32768;
  return samples;
}

describe('G.711 A-law codec', () => {
  it('decodes every one of the 256 codes exactly like alawmulaw', () => {
    const decoded = decodeAlaw(ALL_CODES);
    for (let code = 0; code < 256; code++) expect(decoded[code]).toBe(alaw.decodeSample(code) | 0);
  });

  it('knows the G.711 reference values', () => {
    expect(ALAW_SILENCE).toBe(0xd5);
    expect(decodeAlawSample(0xd5)).toBe(8);
    expect(decodeAlawSample(0x55)).toBe(-8);
    expect(decodeAlawSample(0xaa)).toBe(32256);
    expect(decodeAlawSample(0x2a)).toBe(-32256);
    expect(encodeAlawSample(0)).toBe(0xd5);
    expect(encodeAlawSample(40000)).toBe(0xaa); // clamped
    expect(encodeAlawSample(-40000)).toBe(0x2a);
  });

  it('round-trips every code through decode and encode', () => {
    const back = encodeAlaw(decodeAlaw(ALL_CODES));
    expect(Array.from(back)).toEqual(Array.from(ALL_CODES));
  });

  it('encodes every 16-bit sample to the nearest step below it, as the ITU reference does', () => {
    const samples = allSamples();
    const ours = encodeAlaw(samples);
    const reference = alaw.encode(samples);
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) {
      const sample = samples[i];
      const decoded = ALAW_DECODE_TABLE[ours[i]];
      // The quantisation error is below one step of the sample's segment (16 at the smallest, 1024 at the largest).
      expect(Math.abs(decoded - sample)).toBeLessThanOrEqual(sample >= 0 ? 1024 : 1032);
      if (ours[i] !== reference[i]) {
        mismatches++;
        // alawmulaw negates negative samples (two's complement); the ITU/Sun reference takes the one's
        // complement, so they differ only on the exact negative segment boundaries, by one step.
        expect(sample).toBeLessThan(0);
        expect(Math.abs(ALAW_DECODE_TABLE[reference[i]] - decoded)).toBeLessThanOrEqual(1024);
      }
    }
    expect(mismatches).toBeLessThan(128);
  });

  it('writes into a caller-provided buffer and refuses one that is too small', () => {
    const out = new Int16Array(4);
    expect(decodeAlaw(Uint8Array.of(0xd5, 0x55), out)).toEqual(Int16Array.of(8, -8));
    expect(() => decodeAlaw(ALL_CODES, new Int16Array(8))).toThrow(RangeError);
    expect(() => encodeAlaw(Int16Array.of(1, 2, 3), new Uint8Array(2))).toThrow(RangeError);
  });

  it('transcodes A-law to mu-law and back without passing through the caller', () => {
    const mu = alawToMulaw(ALL_CODES);
    // Each transcoded byte is the mu-law encoding of the A-law code's sound.
    expect(Array.from(mu)).toEqual(Array.from(encodeMulaw(decodeAlaw(ALL_CODES))));
    expect(alawToMulaw(Uint8Array.of(ALAW_SILENCE))[0]).toBe(encodeMulaw(Int16Array.of(8))[0]);
    const a = mulawToAlaw(ALL_CODES);
    expect(Array.from(a)).toEqual(Array.from(encodeAlaw(decodeMulaw(ALL_CODES))));
    expect(decodeAlawSample(mulawToAlaw(Uint8Array.of(MULAW_SILENCE))[0])).toBe(8);
    // A sine through A-law -> mu-law -> A-law keeps its shape (within one A-law step of each sample).
    const sine = Int16Array.from({ length: 160 }, (_, i) =>
      Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)),
    );
    const there = encodeAlaw(sine);
    const back = mulawToAlaw(alawToMulaw(there));
    for (let i = 0; i < sine.length; i++) {
      expect(Math.abs(decodeAlawSample(back[i]) - sine[i])).toBeLessThanOrEqual(512);
    }
  });

  it('transcodes in place', () => {
    const buffer = encodeAlaw(Int16Array.of(1000, -1000, 20000));
    const expected = alawToMulaw(buffer);
    expect(alawToMulaw(buffer, buffer)).toBe(buffer);
    expect(Array.from(buffer)).toEqual(Array.from(expected));
  });
});
