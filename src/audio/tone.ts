/**
 * Test-tone generation and measurement: a sine generator and a single-frequency correlation (the same
 * quantity a Goertzel filter computes) to read a tone's amplitude back. Used by the audio tests and handy for
 * simulators that need recognisable audio on a channel.
 */

/** A sine of `frequencyHz` and peak `amplitude` (0..1 of full scale) as PCM16. */
export function sineInt16(
  frequencyHz: number,
  sampleRateHz: number,
  durationMs: number,
  amplitude = 0.5,
  phaseSamples = 0,
): Int16Array {
  const length = Math.round((durationMs * sampleRateHz) / 1000);
  const out = new Int16Array(length);
  const step = (2 * Math.PI * frequencyHz) / sampleRateHz;
  for (let i = 0; i < length; i++) out[i] = Math.round(amplitude * 32767 * Math.sin(step * (i + phaseSamples)));
  return out;
}

/**
 * Peak amplitude (0..1 of full scale) of the `frequencyHz` component of `samples`, by correlation with a sine
 * and a cosine over the whole array. Use a whole number of periods (or a long array) for accuracy.
 */
export function toneAmplitude(samples: ArrayLike<number>, frequencyHz: number, sampleRateHz: number): number {
  const n = samples.length;
  if (n === 0) return 0;
  const step = (2 * Math.PI * frequencyHz) / sampleRateHz;
  let sumSin = 0;
  let sumCos = 0;
  for (let i = 0; i < n; i++) {
    const x = samples[i] / 32768;
    sumSin += x * Math.sin(step * i);
    sumCos += x * Math.cos(step * i);
  }
  return (2 / n) * Math.sqrt(sumSin * sumSin + sumCos * sumCos);
}

/** Root-mean-square level (0..1 of full scale) of PCM16 samples. */
export function rmsInt16(samples: ArrayLike<number>): number {
  const n = samples.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = samples[i] / 32768;
    sum += x * x;
  }
  return Math.sqrt(sum / n);
}

/**
 * How much of a signal is NOT the given tone: RMS of what is left after subtracting the best-fitting sine at
 * `frequencyHz`, relative to the tone's RMS, in dB (lower is cleaner; -40 dB = 1% residual).
 */
export function residualDb(samples: ArrayLike<number>, frequencyHz: number, sampleRateHz: number): number {
  const n = samples.length;
  const step = (2 * Math.PI * frequencyHz) / sampleRateHz;
  let sumSin = 0;
  let sumCos = 0;
  for (let i = 0; i < n; i++) {
    sumSin += samples[i] * Math.sin(step * i);
    sumCos += samples[i] * Math.cos(step * i);
  }
  const a = (2 / n) * sumSin;
  const b = (2 / n) * sumCos;
  let residual = 0;
  for (let i = 0; i < n; i++) {
    const fit = a * Math.sin(step * i) + b * Math.cos(step * i);
    const r = samples[i] - fit;
    residual += r * r;
  }
  const toneRms = Math.sqrt((a * a + b * b) / 2);
  const residualRms = Math.sqrt(residual / n);
  return 20 * Math.log10(residualRms / toneRms);
}
