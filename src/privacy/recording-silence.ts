/**
 * Silences spans of one channel of a finished stereo recording (PCM16 8 kHz, caller left, agent
 * right, 44-byte header: src/audio/wav-recorder.ts) in place, so redacted words cannot be heard.
 * Runs once per call, after the recorder has closed the file and before it is registered; reads
 * and writes in 64 KiB pieces, asynchronously.
 */
import { open } from 'node:fs/promises';
import { WAV_HEADER_BYTES } from '../audio/wav-header';

const SAMPLES_PER_MS = 8;
const FRAME_BYTES = 4;
const CHUNK_FRAMES = 16384;

export interface SilenceSpan {
  /** Left (caller) or right (agent). */
  channel: 'caller' | 'agent';
  startMs: number;
  endMs: number;
}

/** Zeroes each span's samples of its channel; returns the milliseconds silenced. */
export async function silenceSpans(file: string, spans: readonly SilenceSpan[]): Promise<number> {
  if (spans.length === 0) return 0;
  const handle = await open(file, 'r+');
  let silencedMs = 0;
  try {
    const { size } = await handle.stat();
    const frames = Math.floor(Math.max(0, size - WAV_HEADER_BYTES) / FRAME_BYTES);
    const buf = Buffer.alloc(CHUNK_FRAMES * FRAME_BYTES);
    for (const span of spans) {
      const first = Math.max(0, Math.floor(span.startMs * SAMPLES_PER_MS));
      const last = Math.min(frames, Math.ceil(span.endMs * SAMPLES_PER_MS));
      if (last <= first) continue;
      silencedMs += (last - first) / SAMPLES_PER_MS;
      const offset = span.channel === 'caller' ? 0 : 2;
      for (let at = first; at < last; at += CHUNK_FRAMES) {
        const n = Math.min(CHUNK_FRAMES, last - at);
        const position = WAV_HEADER_BYTES + at * FRAME_BYTES;
        const { bytesRead } = await handle.read(buf, 0, n * FRAME_BYTES, position);
        for (let i = offset; i < bytesRead; i += FRAME_BYTES) buf.writeInt16LE(0, i);
        await handle.write(buf, 0, bytesRead, position);
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return silencedMs;
}
