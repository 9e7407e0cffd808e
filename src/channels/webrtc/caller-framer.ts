/**
 * Caller audio from libwebrtc's decoder (10 ms of interleaved PCM16 at the decoder's rate) into the
 * channel's frames: mono (stereo is averaged), 48 kHz (another rate, such as the 16 kHz of the
 * silent frames before the first packet, is interpolated linearly), 20 ms of PCM16 little-endian
 * per frame. One buffer is allocated per frame (listeners may keep it); nothing else.
 */
import type { RtcAudioData } from './wrtc';

export const CHANNEL_RATE_HZ = 48_000;
/** Caller frames are emitted 20 ms at a time (50 per second, like telephony media). */
export const CALLER_FRAME_MS = 20;
const CALLER_FRAME_SAMPLES = (CHANNEL_RATE_HZ * CALLER_FRAME_MS) / 1000;

export class CallerFramer {
  /** Frames emitted so far. */
  frames = 0;
  /** Decoder frames that came at another rate than 48 kHz. */
  resampled = 0;
  private readonly frame = new Int16Array(CALLER_FRAME_SAMPLES);
  private readonly frameBytes = Buffer.from(this.frame.buffer);
  private fill = 0;

  /** `onFrame` gets each 20 ms frame and its start in media time (ms since the first frame). */
  constructor(private readonly onFrame: (bytes: Buffer, timestampMs: number) => void) {}

  push(data: RtcAudioData): void {
    const channels = data.channelCount ?? 1;
    const count = data.numberOfFrames ?? Math.floor(data.samples.length / channels);
    const samples = data.samples;
    if (data.sampleRate === CHANNEL_RATE_HZ) {
      for (let i = 0; i < count; i++) {
        let v = samples[i * channels];
        if (channels > 1) v = (v + samples[i * channels + 1]) >> 1;
        this.pushSample(v);
      }
      return;
    }
    if (!(data.sampleRate > 0) || count === 0) return;
    this.resampled++;
    const outCount = Math.round((count * CHANNEL_RATE_HZ) / data.sampleRate);
    const step = data.sampleRate / CHANNEL_RATE_HZ;
    for (let j = 0; j < outCount; j++) {
      const pos = j * step;
      const i = Math.floor(pos);
      const next = Math.min(i + 1, count - 1);
      const a = samples[i * channels];
      const b = samples[next * channels];
      this.pushSample(Math.round(a + (b - a) * (pos - i)));
    }
  }

  private pushSample(value: number): void {
    this.frame[this.fill++] = value;
    if (this.fill < CALLER_FRAME_SAMPLES) return;
    this.fill = 0;
    const bytes = Buffer.allocUnsafe(this.frameBytes.length);
    this.frameBytes.copy(bytes);
    this.onFrame(bytes, this.frames++ * CALLER_FRAME_MS);
  }
}
