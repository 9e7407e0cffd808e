/**
 * The audio seam's conversions: identical formats pass through (no converter at all), G.711 mu-law
 * and A-law convert by table, PCM16 at 8/16/24/48 kHz is resampled; a tone keeps its pitch and
 * level, lengths scale with the rates, and a stream cut at odd byte boundaries converts exactly like
 * the whole.
 */
import { createConverter, negotiateSeam, checkFormat } from '../../src/conversation/audio-seam';
import {
  PCM16_16K,
  PCM16_24K,
  PCM16_48K,
  PCMA_8K,
  PCMU_8K,
  bytesPerMs,
  type AudioFormat,
} from '../../src/conversation/audio-format';
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from '../../src/audio/g711';

const PCM16_8K: AudioFormat = { encoding: 'pcm16', sampleRateHz: 8000 };
const ALL: AudioFormat[] = [PCMU_8K, PCMA_8K, PCM16_8K, PCM16_16K, PCM16_24K, PCM16_48K];

function sine(hz: number, rate: number, ms: number, amplitude = 8000): Int16Array {
  const n = (rate * ms) / 1000;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate));
  return out;
}

function encode(samples: Int16Array, format: AudioFormat): Buffer {
  if (format.encoding === 'pcmu') return Buffer.from(encodeMulaw(samples));
  if (format.encoding === 'pcma') return Buffer.from(encodeAlaw(samples));
  return Buffer.from(samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.byteLength));
}

function decode(bytes: Buffer, format: AudioFormat): Int16Array {
  if (format.encoding === 'pcmu') return decodeMulaw(bytes);
  if (format.encoding === 'pcma') return decodeAlaw(bytes);
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(i * 2);
  return out;
}

/** Pitch from zero crossings and RMS level, over the middle of the signal (past filter edges). */
function measure(samples: Int16Array, rate: number): { hz: number; rms: number } {
  const from = Math.floor(samples.length * 0.2);
  const to = Math.floor(samples.length * 0.8);
  let crossings = 0;
  let sum = 0;
  for (let i = from + 1; i < to; i++) {
    if (samples[i - 1] < 0 !== samples[i] < 0) crossings++;
    sum += samples[i] * samples[i];
  }
  return { hz: crossings / 2 / ((to - from) / rate), rms: Math.sqrt(sum / (to - from)) };
}

describe('audio seam', () => {
  it('passes identical formats through: no converter at all', async () => {
    for (const f of ALL) expect(await createConverter(f, { ...f })).toBeUndefined();
    const seam = await negotiateSeam(PCMU_8K, { inputFormat: PCMU_8K, outputFormat: PCMU_8K });
    expect(seam.up).toBeUndefined();
    expect(seam.down).toBeUndefined();
    seam.close();
  });

  it('refuses formats it does not support', async () => {
    expect(() => checkFormat({ encoding: 'pcmu', sampleRateHz: 16000 })).toThrow(RangeError);
    expect(() => checkFormat({ encoding: 'pcm16', sampleRateHz: 44100 })).toThrow(RangeError);
    expect(() => checkFormat({ encoding: 'opus' as never, sampleRateHz: 48000 })).toThrow(RangeError);
    await expect(createConverter(PCMU_8K, { encoding: 'pcm16', sampleRateHz: 22050 })).rejects.toThrow(RangeError);
  });

  it('transcodes mu-law and A-law by table, keeping every sample within a quantization step', async () => {
    const tone = sine(440, 8000, 200, 12000);
    for (const [from, to] of [
      [PCMU_8K, PCMA_8K],
      [PCMA_8K, PCMU_8K],
    ]) {
      const converter = (await createConverter(from, to))!;
      const input = encode(tone, from);
      const out = converter.process(input);
      expect(out.length).toBe(input.length);
      const before = decode(input, from);
      const after = decode(out, to);
      for (let i = 0; i < before.length; i++) {
        // G.711 steps grow with the level: within 1/16 of the value, or 16 near zero.
        expect(Math.abs(after[i] - before[i])).toBeLessThanOrEqual(Math.max(16, Math.abs(before[i]) / 16));
      }
      converter.close();
    }
  });

  const pairs: [AudioFormat, AudioFormat][] = [];
  for (const from of ALL) for (const to of ALL) if (from !== to) pairs.push([from, to]);

  it.each(pairs.map(([a, b]) => [`${a.encoding}/${a.sampleRateHz}`, `${b.encoding}/${b.sampleRateHz}`, a, b]))(
    '%s → %s keeps a 440 Hz tone at its pitch and level, and the length in time',
    async (_a, _b, from, to) => {
      const converter = (await createConverter(from as AudioFormat, to as AudioFormat))!;
      const tone = sine(440, (from as AudioFormat).sampleRateHz, 400);
      const input = encode(tone, from as AudioFormat);
      // 20 ms frames, as a channel delivers them.
      const frame = bytesPerMs(from as AudioFormat) * 20;
      const parts: Buffer[] = [];
      for (let o = 0; o < input.length; o += frame) parts.push(converter.process(input.subarray(o, o + frame)));
      const out = Buffer.concat(parts);
      const outMs = out.length / bytesPerMs(to as AudioFormat);
      // A resampler holds back a few ms of filter delay; never more than 20 ms.
      expect(outMs).toBeGreaterThan(380);
      expect(outMs).toBeLessThanOrEqual(400);
      const { hz, rms } = measure(decode(out, to as AudioFormat), (to as AudioFormat).sampleRateHz);
      expect(hz).toBeGreaterThan(430);
      expect(hz).toBeLessThan(450);
      const expectedRms = 8000 / Math.SQRT2;
      expect(rms).toBeGreaterThan(expectedRms * 0.85);
      expect(rms).toBeLessThan(expectedRms * 1.15);
      converter.close();
    },
  );

  it('converts PCM16 cut at odd byte boundaries exactly like the whole stream', async () => {
    const input = encode(sine(300, 24000, 100), PCM16_24K);
    const whole = (await createConverter(PCM16_24K, PCMU_8K))!;
    const pieces = (await createConverter(PCM16_24K, PCMU_8K))!;
    const expected = whole.process(input);
    const out: Buffer[] = [];
    for (let o = 0, step = 1; o < input.length; o += step, step = (step % 7) + 2) {
      out.push(pieces.process(input.subarray(o, Math.min(input.length, o + step))));
    }
    expect(Buffer.concat(out).equals(expected)).toBe(true);
    // And an odd byte at a boundary with no sample yet waits for its partner.
    const c = (await createConverter(PCM16_8K, PCMU_8K))!;
    expect(c.process(Buffer.from([0x10])).length).toBe(0);
    expect(c.process(Buffer.from([0x20])).length).toBe(1);
    for (const conv of [whole, pieces, c]) conv.close();
  });

  it('negotiates both directions of a seam: mu-law channel, PCM16 24 kHz engine', async () => {
    const seam = await negotiateSeam(PCMU_8K, { inputFormat: PCM16_24K, outputFormat: PCM16_24K });
    expect(seam.up?.from).toEqual(PCMU_8K);
    expect(seam.up?.to).toEqual(PCM16_24K);
    expect(seam.down?.from).toEqual(PCM16_24K);
    expect(seam.down?.to).toEqual(PCMU_8K);
    // One 20 ms mu-law frame up is 20 ms of 24 kHz PCM16 (960 bytes, give or take the filter delay).
    const up = seam.up!.process(encode(sine(440, 8000, 20), PCMU_8K));
    expect(up.length % 2).toBe(0);
    expect(up.length).toBeLessThanOrEqual(960);
    seam.close();
  });
});
