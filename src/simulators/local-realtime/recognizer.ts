/**
 * Real words for the local Realtime server's caller transcripts: the audio of each caller turn goes
 * to the local recognizer (pocketsphinx, see src/engines/pipeline/stt/pocketsphinx.ts) instead of
 * a description of the audio. On by the server's `recognizer` option; `words` narrows it to a
 * vocabulary (a grammar), which synthetic voices on 8 kHz telephone audio need.
 */
import { decodeMulawSample } from '../../audio/g711';
import type { AudioFormatName } from '../../engines/realtime/protocol';
import { grammarFileFor, recognize } from '../../engines/pipeline/stt/pocketsphinx';

/** Longest turn kept for recognition (30 s of 24 kHz PCM16). */
const MAX_TURN_BYTES = 30 * 48_000;

/** The audio of the caller's current turn, as received. */
export class TurnAudio {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private format: AudioFormatName = 'pcmu';

  push(audio: Buffer, format: AudioFormatName): void {
    if (format !== this.format) this.clear();
    this.format = format;
    if (this.bytes + audio.length > MAX_TURN_BYTES) return;
    this.chunks.push(audio);
    this.bytes += audio.length;
  }

  /** Speech started: what came before it is silence to the recognizer, but the last 300 ms may hold its onset. */
  keepLastMs(ms: number): void {
    const keep = Math.round(ms * (this.format === 'pcmu' ? 8 : 48));
    if (this.bytes <= keep) return;
    const tail = Buffer.concat(this.chunks).subarray(this.bytes - keep);
    this.chunks = [tail];
    this.bytes = tail.length;
  }

  take(): { audio: Buffer; format: AudioFormatName } {
    const audio = Buffer.concat(this.chunks);
    this.clear();
    return { audio, format: this.format };
  }

  clear(): void {
    this.chunks = [];
    this.bytes = 0;
  }
}

/** 16 kHz PCM16 (what the recognizer's model takes) from 8 kHz mu-law or 24 kHz PCM16, by linear interpolation. */
export function to16kPcm(audio: Buffer, format: AudioFormatName): Buffer {
  const inRate = format === 'pcmu' ? 8000 : 24000;
  const n = format === 'pcmu' ? audio.length : audio.length >> 1;
  const sample = (i: number): number => (format === 'pcmu' ? decodeMulawSample(audio[i]) : audio.readInt16LE(i * 2));
  const outLength = Math.floor((n * 16000) / inRate);
  const out = Buffer.alloc(outLength * 2);
  const step = inRate / 16000;
  for (let j = 0; j < outLength; j++) {
    const pos = j * step;
    const i = Math.floor(pos);
    const frac = pos - i;
    const a = sample(i);
    const b = i + 1 < n ? sample(i + 1) : a;
    out.writeInt16LE(Math.round(a + (b - a) * frac), j * 2);
  }
  return out;
}

/** What the caller said in `audio` ('' when nothing was recognised or the recognizer failed). */
export async function recognizeTurn(
  audio: Buffer,
  format: AudioFormatName,
  words: readonly string[] = [],
): Promise<string> {
  if (audio.length === 0) return '';
  const grammar = await grammarFileFor(words);
  return recognize(to16kPcm(audio, format), grammar);
}
