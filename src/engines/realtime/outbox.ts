/**
 * What a Realtime client holds while it has no open socket: control events (bounded generously; the
 * oldest dropped beyond, counted) and caller audio (up to maxBufferedAudioMs; the oldest frames go
 * first, since after a gap what the caller is saying now matters most). Drained onto the next socket
 * after its opening messages: events first, then audio.
 */
import { base64AudioDurationMs, type AudioFormatName } from './protocol';
import type { RealtimeClientStats } from './client-options';

export class Outbox {
  private readonly events: string[] = [];
  private readonly audio: string[] = [];
  private readonly durations: number[] = [];
  private bufferedMs = 0;

  constructor(
    private readonly stats: RealtimeClientStats,
    private readonly maxEvents: number,
    private readonly maxAudioMs: number,
    private readonly audioFormat: AudioFormatName,
  ) {}

  /** Milliseconds of caller audio held. */
  get audioMs(): number {
    return this.bufferedMs;
  }

  queueEvent(data: string): void {
    if (this.events.length >= this.maxEvents) {
      this.events.shift();
      this.stats.eventsDropped++;
    }
    this.events.push(data);
  }

  /** One serialized input_audio_buffer.append and its base64 audio (to size it in ms). */
  queueAudio(data: string, base64: string): void {
    const ms = base64AudioDurationMs(base64, this.audioFormat);
    this.audio.push(data);
    this.durations.push(ms);
    this.bufferedMs += ms;
    this.stats.audioFramesBuffered++;
    while (this.bufferedMs > this.maxAudioMs + 1e-6 && this.audio.length > 0) {
      this.audio.shift();
      this.bufferedMs -= this.durations.shift() as number;
      this.stats.audioFramesDropped++;
    }
  }

  /** Writes everything held (events, then audio); returns what audio was flushed. */
  drain(write: (data: string) => boolean): { frames: number; ms: number } {
    for (const data of this.events.splice(0)) write(data);
    const flushed = { frames: this.audio.length, ms: this.bufferedMs };
    for (const data of this.audio.splice(0)) {
      if (write(data)) this.stats.audioFramesSent++;
      else this.stats.audioFramesDropped++;
    }
    this.durations.length = 0;
    this.bufferedMs = 0;
    return flushed;
  }

  /** The client closed or failed: held audio is dropped (counted), held events forgotten. */
  discard(): void {
    this.stats.audioFramesDropped += this.audio.length;
    this.audio.length = 0;
    this.durations.length = 0;
    this.bufferedMs = 0;
    this.events.length = 0;
  }
}
