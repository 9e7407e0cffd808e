/**
 * Audio formats at the seams of a call. A caller channel and an agent engine each declare the format
 * they speak; the conversation core passes audio through untouched when both agree and converts it
 * once, at the seam, when they do not. All audio is mono.
 */
export type AudioEncoding = 'pcmu' | 'pcma' | 'pcm16';

export interface AudioFormat {
  /** G.711 mu-law, G.711 A-law, or 16-bit little-endian linear PCM. */
  encoding: AudioEncoding;
  /** 8000 for G.711; 8000, 16000, 24000 or 48000 for PCM16. */
  sampleRateHz: number;
}

export const PCMU_8K: AudioFormat = Object.freeze({ encoding: 'pcmu', sampleRateHz: 8000 });
export const PCMA_8K: AudioFormat = Object.freeze({ encoding: 'pcma', sampleRateHz: 8000 });
export const PCM16_16K: AudioFormat = Object.freeze({ encoding: 'pcm16', sampleRateHz: 16000 });
export const PCM16_24K: AudioFormat = Object.freeze({ encoding: 'pcm16', sampleRateHz: 24000 });
export const PCM16_48K: AudioFormat = Object.freeze({ encoding: 'pcm16', sampleRateHz: 48000 });

export function sameFormat(a: AudioFormat, b: AudioFormat): boolean {
  return a.encoding === b.encoding && a.sampleRateHz === b.sampleRateHz;
}

/** Bytes per sample: 1 for G.711, 2 for PCM16. */
export function bytesPerSample(format: AudioFormat): number {
  return format.encoding === 'pcm16' ? 2 : 1;
}

/** Bytes of one millisecond of audio in this format. */
export function bytesPerMs(format: AudioFormat): number {
  return (format.sampleRateHz / 1000) * bytesPerSample(format);
}

/** Duration of `bytes` of audio in this format. */
export function durationMs(format: AudioFormat, bytes: number): number {
  return bytes / bytesPerMs(format);
}

/** Bytes of one 20 ms frame (the pace of telephony media). */
export function frameBytes(format: AudioFormat, frameMs = 20): number {
  return Math.round(bytesPerMs(format) * frameMs);
}

export function describeFormat(format: AudioFormat): string {
  return `${format.encoding}/${format.sampleRateHz}`;
}
