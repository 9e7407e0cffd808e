import { decodeMulaw, encodeMulaw } from '../../src/audio/g711';
import { Pcm24kToPcmu, PcmuToPcm24k, StreamingResampler, int16ToLeBytes } from '../../src/audio/resampler';
import { residualDb, sineInt16, toneAmplitude } from '../../src/audio/tone';

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Runs `input` through `resampler` in chunks of `chunkSamples` (or pseudo-random sizes) and flushes. */
function runChunked(resampler: StreamingResampler, input: Int16Array, chunkSamples: number | 'random'): Int16Array {
  const parts: Int16Array[] = [];
  let seed = 7;
  for (let offset = 0; offset < input.length;) {
    let size = chunkSamples === 'random' ? 0 : chunkSamples;
    if (chunkSamples === 'random') {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      size = 1 + (seed % 997);
    }
    parts.push(resampler.process(input.subarray(offset, offset + size)));
    offset += size;
  }
  parts.push(resampler.flush());
  return concat(parts);
}

describe('StreamingResampler', () => {
  const opened: { close(): void }[] = [];
  async function make(fromHz: number, toHz: number): Promise<StreamingResampler> {
    const resampler = await StreamingResampler.create(fromHz, toHz);
    opened.push(resampler);
    return resampler;
  }
  afterAll(() => opened.forEach((r) => r.close()));

  it('keeps a 1 kHz tone at its frequency and amplitude through 8k -> 24k -> 8k, without spurs', async () => {
    const input = sineInt16(1000, 8000, 2000, 0.5);
    const up = runChunked(await make(8000, 24000), input, 160); // 20 ms chunks, as on a call
    expect(up).toHaveLength(48000);
    const upMiddle = up.subarray(2400, 2400 + 24000); // one second away from the edges
    expect(toneAmplitude(upMiddle, 1000, 24000)).toBeCloseTo(0.5, 2);
    expect(residualDb(upMiddle, 1000, 24000)).toBeLessThan(-60); // everything that is not the tone
    // Images of the 8 kHz grid and 20 ms chunk-boundary artefacts would show up here.
    for (const spurHz of [7000, 9000, 15000, 17000, 950, 1050, 2000, 3000]) {
      expect(toneAmplitude(upMiddle, spurHz, 24000)).toBeLessThan(0.0005); // < -60 dB below the tone
    }

    const down = runChunked(await make(24000, 8000), up, 480);
    expect(down).toHaveLength(16000);
    const downMiddle = down.subarray(800, 800 + 8000);
    expect(toneAmplitude(downMiddle, 1000, 8000)).toBeCloseTo(0.5, 2);
    expect(toneAmplitude(downMiddle, 3000, 8000)).toBeLessThan(0.0005);
    expect(residualDb(downMiddle, 1000, 8000)).toBeLessThan(-60);
  });

  it('filters out what the lower rate cannot carry when downsampling', async () => {
    const aboveNyquist = sineInt16(5000, 24000, 1000, 0.5); // 5 kHz does not exist at 8 kHz
    const down = runChunked(await make(24000, 8000), aboveNyquist, 480);
    const middle = down.subarray(1000, 7000);
    expect(toneAmplitude(middle, 3000, 8000)).toBeLessThan(0.01); // its alias would be 3 kHz
  });

  it('gives the same output for any chunking as for the whole stream', async () => {
    const input = sineInt16(440, 8000, 1000, 0.3);
    for (let i = 0; i < input.length; i += 3) input[i] += (i * 7919) % 2000; // some broadband content
    const whole = runChunked(await make(8000, 24000), input, input.length);
    const chunked = runChunked(await make(8000, 24000), input, 'random');
    expect(chunked).toHaveLength(whole.length);
    let maxDiff = 0;
    for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole[i] - chunked[i]));
    expect(maxDiff).toBeLessThanOrEqual(1);
  });

  it('outputs exactly round(n * ratio) samples per stream after flush, and can start a new stream', async () => {
    const resampler = await make(24000, 8000);
    expect(runChunked(resampler, sineInt16(1000, 24000, 100, 0.5), 480)).toHaveLength(800);
    expect(runChunked(resampler, new Int16Array(1001), 100)).toHaveLength(334);
    expect(resampler.flush()).toHaveLength(0);
  });

  it('handles blocks larger than its scratch buffers', async () => {
    const input = sineInt16(1000, 8000, 3000, 0.5);
    const out = runChunked(await make(8000, 24000), input, input.length);
    expect(out).toHaveLength(72000);
    expect(toneAmplitude(out.subarray(24000, 48000), 1000, 24000)).toBeCloseTo(0.5, 2);
  });

  it('passes audio through unchanged when the rates are equal', async () => {
    const input = sineInt16(1000, 8000, 20, 0.5);
    const same = await make(8000, 8000);
    expect(Array.from(same.process(input))).toEqual(Array.from(input));
  });

  it('rejects bad rates before loading anything and refuses use after close', async () => {
    await expect(StreamingResampler.create(0, 24000)).rejects.toThrow(RangeError);
    await expect(StreamingResampler.create(8000, 1.5)).rejects.toThrow(RangeError);
    const resampler = await StreamingResampler.create(8000, 24000);
    resampler.close();
    resampler.close(); // idempotent
    expect(() => resampler.process(new Int16Array(10))).toThrow('after close');
  });
});

describe('mu-law 8 kHz <-> PCM16 24 kHz converters', () => {
  it('carry a tone from Twilio mu-law to 24 kHz PCM16 and back, in odd-sized byte chunks', async () => {
    const toModel = await PcmuToPcm24k.create();
    const toTwilio = await Pcm24kToPcmu.create();
    try {
      const mulaw = encodeMulaw(sineInt16(1000, 8000, 2000, 0.5));
      const pcmParts: Buffer[] = [];
      const backParts: Buffer[] = [];
      for (let i = 0; i < mulaw.length; i += 160) {
        const pcm = toModel.process(mulaw.subarray(i, i + 160));
        expect(pcm.length).toBeLessThanOrEqual(960);
        pcmParts.push(Buffer.from(pcm));
        for (let j = 0; j < pcm.length; j += 333) backParts.push(toTwilio.process(pcm.subarray(j, j + 333)));
      }
      const pcmTail = toModel.flush();
      pcmParts.push(Buffer.from(pcmTail));
      backParts.push(toTwilio.process(pcmTail), toTwilio.flush());

      const pcmBytes = Buffer.concat(pcmParts);
      expect(pcmBytes.length).toBe(2000 * 24 * 2);
      const pcm24k = new Int16Array(pcmBytes.length / 2);
      for (let i = 0; i < pcm24k.length; i++) pcm24k[i] = pcmBytes.readInt16LE(i * 2);
      expect(toneAmplitude(pcm24k.subarray(2400, 26400), 1000, 24000)).toBeCloseTo(0.5, 2);

      const back = Buffer.concat(backParts);
      expect(back.length).toBe(16000);
      const decoded = decodeMulaw(back).subarray(800, 8800);
      expect(toneAmplitude(decoded, 1000, 8000)).toBeCloseTo(0.5, 2);
      expect(residualDb(decoded, 1000, 8000)).toBeLessThan(-30); // mu-law's own quantisation noise is ~-38 dB
    } finally {
      toModel.close();
      toTwilio.close();
    }
  });

  it('joins a sample split across chunks (one byte at a time)', async () => {
    const toTwilio = await Pcm24kToPcmu.create();
    const reference = await Pcm24kToPcmu.create();
    try {
      const pcm = int16ToLeBytes(sineInt16(1000, 24000, 100, 0.5));
      const expected = Buffer.concat([reference.process(pcm), reference.flush()]);
      const parts: Buffer[] = [];
      for (let i = 0; i < pcm.length; i++) parts.push(toTwilio.process(pcm.subarray(i, i + 1)));
      parts.push(toTwilio.process(new Uint8Array(0)), toTwilio.flush());
      expect(Buffer.concat(parts)).toEqual(expected);
    } finally {
      toTwilio.close();
      reference.close();
    }
  });
});
