/**
 * The local Realtime server's energy VAD: mean square energy over 10 ms windows against the session's
 * threshold; speech starts after 60 ms voiced and stops after the session's silence duration.
 */
import { mulaw } from 'alawmulaw';
import type { AudioFormatName, TurnDetection } from '../../engines/realtime/protocol';
import { SAMPLE_RATE } from './client-input';

const MU_LAW_TABLE: Int16Array = (() => {
  const table = new Int16Array(256);
  for (let i = 0; i < 256; i++) table[i] = mulaw.decodeSample(i);
  return table;
})();
const VAD_WINDOW_MS = 10;
const VAD_MIN_SPEECH_MS = 60;
const SEMANTIC_SILENCE_MS: Record<string, number> = { low: 1200, medium: 700, high: 350, auto: 700 };

/** Maps a 0..1 VAD threshold to an RMS level: 0 → -60 dBFS, 0.5 → -35 dBFS, 1 → -10 dBFS. */
export function vadThresholdToRms(threshold: number): number {
  const t = Math.min(1, Math.max(0, threshold));
  return 10 ** ((-60 + 50 * t) / 20);
}

export interface VadListener {
  /** Speech began at `audioStartMs` of the input (the VAD is already `speaking`). */
  speechStarted(audioStartMs: number, td: TurnDetection): void;
  /** Speech ended at `audioEndMs`; `spokenMs` excludes the trailing silence. */
  speechStopped(audioEndMs: number, spokenMs: number, td: TurnDetection): void;
}

export class EnergyVad {
  /** Input samples seen so far (the input clock). */
  inputSamples = 0;
  speaking = false;
  speechStartMs = 0;
  private windowSum = 0;
  private windowCount = 0;
  private voicedRunMs = 0;
  private silenceRunMs = 0;

  constructor(private readonly listener: VadListener) {}

  /** Audio without turn detection only advances the input clock. */
  count(bytes: Buffer, format: AudioFormatName): void {
    this.inputSamples += format === 'pcmu' ? bytes.length : bytes.length >> 1;
  }

  feed(bytes: Buffer, format: AudioFormatName, td: TurnDetection): void {
    const rate = SAMPLE_RATE[format];
    const windowSamples = (rate * VAD_WINDOW_MS) / 1000;
    const thresholdRms = vadThresholdToRms(td.type === 'server_vad' ? (td.threshold ?? 0.5) : 0.5) * 32768;
    const thresholdSquares = thresholdRms * thresholdRms;
    const n = format === 'pcmu' ? bytes.length : bytes.length >> 1;
    for (let i = 0; i < n; i++) {
      const sample = format === 'pcmu' ? MU_LAW_TABLE[bytes[i]] : bytes.readInt16LE(i * 2);
      this.windowSum += sample * sample;
      this.windowCount++;
      this.inputSamples++;
      if (this.windowCount === windowSamples) {
        const voiced = this.windowSum / windowSamples >= thresholdSquares;
        this.windowSum = 0;
        this.windowCount = 0;
        this.onWindow(voiced, (this.inputSamples * 1000) / rate, td);
      }
    }
  }

  /** A window half-filled in the old format would never complete in the new one (its size changes). */
  resetWindow(): void {
    this.windowSum = 0;
    this.windowCount = 0;
  }

  /** The turn was committed or cleared by the client. */
  endTurn(): void {
    this.speaking = false;
    this.voicedRunMs = 0;
  }

  private onWindow(voiced: boolean, windowEndMs: number, td: TurnDetection): void {
    if (!this.speaking) {
      this.voicedRunMs = voiced ? this.voicedRunMs + VAD_WINDOW_MS : 0;
      if (this.voicedRunMs >= VAD_MIN_SPEECH_MS) {
        this.speaking = true;
        this.silenceRunMs = 0;
        this.speechStartMs = Math.round(windowEndMs - this.voicedRunMs);
        this.listener.speechStarted(this.speechStartMs, td);
      }
      return;
    }
    this.silenceRunMs = voiced ? 0 : this.silenceRunMs + VAD_WINDOW_MS;
    const silenceMs =
      td.type === 'server_vad' ? (td.silence_duration_ms ?? 500) : SEMANTIC_SILENCE_MS[td.eagerness ?? 'auto'];
    if (this.silenceRunMs >= silenceMs) {
      this.speaking = false;
      this.voicedRunMs = 0;
      const endMs = Math.round(windowEndMs);
      const spokenMs = Math.max(0, endMs - this.silenceRunMs - this.speechStartMs);
      this.listener.speechStopped(endMs, spokenMs, td);
    }
  }
}
