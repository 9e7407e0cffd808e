import { readFileSync } from 'node:fs';
import { WaveFile } from 'wavefile';

export interface StereoWav {
  sampleRateHz: number;
  channels: number;
  durationMs: number;
  left: Int16Array;
  right: Int16Array;
}

/** Reads a PCM16 stereo WAV file written by the recorder. */
export function readStereoWav(file: string): StereoWav {
  const wav = new WaveFile(readFileSync(file));
  const fmt = wav.fmt as { sampleRate: number; numChannels: number; bitsPerSample: number };
  const samples = wav.getSamples(false, Int16Array) as unknown as Int16Array[];
  return {
    sampleRateHz: fmt.sampleRate,
    channels: fmt.numChannels,
    durationMs: (samples[0].length * 1000) / fmt.sampleRate,
    left: samples[0],
    right: samples[1],
  };
}

/** RMS (0..1) of a window of samples, [fromMs, toMs). */
export function rmsBetween(samples: Int16Array, sampleRateHz: number, fromMs: number, toMs: number): number {
  const a = Math.max(0, Math.floor((fromMs * sampleRateHz) / 1000));
  const b = Math.min(samples.length, Math.floor((toMs * sampleRateHz) / 1000));
  if (b <= a) return 0;
  let sum = 0;
  for (let i = a; i < b; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / (b - a)) / 32768;
}

/** Milliseconds of a channel whose 20 ms windows are louder than `threshold`. */
export function activeMs(samples: Int16Array, sampleRateHz: number, threshold = 0.01): number {
  const win = (sampleRateHz * 20) / 1000;
  let active = 0;
  for (let i = 0; i + win <= samples.length; i += win) {
    let sum = 0;
    for (let j = i; j < i + win; j++) sum += samples[j] * samples[j];
    if (Math.sqrt(sum / win) / 32768 > threshold) active += 20;
  }
  return active;
}
