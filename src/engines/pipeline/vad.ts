/**
 * Energy voice activity detection on the caller's audio, per 20 ms frame, allocating nothing.
 *
 * Why energy and not a model: the maintained model-based detectors on the registry either come as
 * ES modules only (@echogarden/fvad-wasm, WebRTC's VAD in WASM: jest's CommonJS runtime cannot
 * load it without experimental flags) or need onnxruntime's native binary and a neural network
 * per frame (@ricky0123/vad-node, Silero), far more CPU than hundreds of calls can spend here.
 * A level threshold with hangover is what the local Realtime server uses too, and it is what
 * telephony audio (8 kHz, already band-limited) needs for turn-taking.
 *
 * Speech starts after `minSpeechMs` of frames above the threshold and stops after `silenceMs`
 * below it. The threshold (0..1, like server_vad's) maps to an RMS level: 0 → -60 dBFS,
 * 0.5 → -35 dBFS, 1 → -10 dBFS.
 */
import { MULAW_DECODE_TABLE } from '../../audio/g711';
import type { AudioFormat } from '../../conversation/audio-format';

export interface VadOptions {
  /** 0..1 (server_vad's threshold). */
  threshold: number;
  silenceMs: number;
  minSpeechMs?: number;
}

export type VadEvent = 'start' | 'stop' | null;

/** code -> (sample / 32768)^2 for mu-law, so a frame's energy is one load and one add per byte. */
const MULAW_SQUARED: Float64Array = (() => {
  const t = new Float64Array(256);
  for (let i = 0; i < 256; i++) t[i] = (MULAW_DECODE_TABLE[i] / 32768) ** 2;
  return t;
})();

export function thresholdToRms(threshold: number): number {
  const db = -60 + 50 * Math.min(1, Math.max(0, threshold));
  return 10 ** (db / 20);
}

/** RMS level (0..1) of one frame of audio in `format` (G.711 mu-law or PCM16; A-law is read as mu-law's neighbour and not expected here). */
export function frameRms(bytes: Buffer, format: AudioFormat): number {
  let sum = 0;
  let n = 0;
  if (format.encoding === 'pcm16') {
    n = bytes.length >> 1;
    for (let i = 0; i < n; i++) {
      const s = bytes.readInt16LE(i * 2) / 32768;
      sum += s * s;
    }
  } else {
    n = bytes.length;
    for (let i = 0; i < n; i++) sum += MULAW_SQUARED[bytes[i]];
  }
  return n === 0 ? 0 : Math.sqrt(sum / n);
}

export class EnergyVad {
  private readonly rmsThreshold: number;
  private readonly minSpeechMs: number;
  private speaking = false;
  private voicedMs = 0;
  private silentMs = 0;

  constructor(
    private readonly format: AudioFormat,
    private readonly options: VadOptions,
  ) {
    this.rmsThreshold = thresholdToRms(options.threshold);
    this.minSpeechMs = options.minSpeechMs ?? 60;
  }

  /** How long after speech really starts / ends the VAD says so (its decision windows). */
  get startLagMs(): number {
    return this.minSpeechMs;
  }

  get stopLagMs(): number {
    return this.options.silenceMs;
  }

  get inSpeech(): boolean {
    return this.speaking;
  }

  /** Feeds one frame lasting `frameMs`; returns 'start' or 'stop' when the state changes. */
  push(bytes: Buffer, frameMs: number): VadEvent {
    const voiced = frameRms(bytes, this.format) >= this.rmsThreshold;
    if (!this.speaking) {
      this.voicedMs = voiced ? this.voicedMs + frameMs : 0;
      if (this.voicedMs >= this.minSpeechMs) {
        this.speaking = true;
        this.silentMs = 0;
        return 'start';
      }
      return null;
    }
    this.silentMs = voiced ? 0 : this.silentMs + frameMs;
    if (this.silentMs >= this.options.silenceMs) {
      this.speaking = false;
      this.voicedMs = 0;
      return 'stop';
    }
    return null;
  }

  reset(): void {
    this.speaking = false;
    this.voicedMs = 0;
    this.silentMs = 0;
  }
}
