/**
 * Small pure helpers for Twilio's audio format: G.711 mu-law, 8 kHz, mono, 20 ms frames of 160 bytes.
 */
import { MULAW_DECODE_TABLE } from './g711';

export const SAMPLE_RATE_HZ = 8000;
export const FRAME_MS = 20;
/** One 20 ms mu-law frame at 8 kHz: one byte per sample. */
export const FRAME_BYTES = (SAMPLE_RATE_HZ * FRAME_MS) / 1000;
/** Samples per millisecond at 8 kHz. */
export const SAMPLES_PER_MS = SAMPLE_RATE_HZ / 1000;

/** code -> (decoded sample / 32768)^2, so RMS needs one load and one add per byte. */
const SQUARED_LEVEL_TABLE: Float64Array = (() => {
  const table = new Float64Array(256);
  for (let code = 0; code < 256; code++) {
    const level = MULAW_DECODE_TABLE[code] / 32768;
    table[code] = level * level;
  }
  return table;
})();

/** Root-mean-square level of mu-law audio, 0 (silence) .. ~0.98 (full-scale square wave). Allocates nothing. */
export function rmsMulaw(frame: Uint8Array): number {
  const n = frame.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += SQUARED_LEVEL_TABLE[frame[i]];
  return Math.sqrt(sum / n);
}

/** Duration in ms of mu-law audio at 8 kHz, given its byte count or the bytes themselves. */
export function durationMsOfMulaw(bytes: number | Uint8Array): number {
  const count = typeof bytes === 'number' ? bytes : bytes.length;
  return count / SAMPLES_PER_MS;
}

/** Number of mu-law bytes (samples) covering `durationMs` at 8 kHz, rounded to the nearest sample. */
export function mulawBytesForMs(durationMs: number): number {
  return Math.round(durationMs * SAMPLES_PER_MS);
}
