/**
 * The recording tap: both sides of the call as the caller hears them, in the crash-safe stereo WAV
 * (caller left, agent right; PCM16 8 kHz). It taps audio in the channel's format: G.711 mu-law goes
 * to the recorder as is, any other format is converted to it once, here (A-law by table, PCM16 by
 * resampling to 8 kHz). The mixing and the file are the recording thread's work
 * (src/recordings/live/): a write here is a copy into the call's shared ring, nothing more.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logging/logger';
import type { CallManager } from '../calls/call-manager';
import { recordingRelativePath } from '../calls/recording-path';
import { recordingThread, type LiveRecording } from '../recordings/live/recording-thread';
import { PCMU_8K, type AudioFormat } from './audio-format';
import { createConverter, type AudioConverter } from './audio-seam';
import type { CallerAudioFrame } from './channel';

export class RecordingTap {
  /** The caller opted out: nothing more is written, and the file is deleted (discard()). */
  private discarded = false;

  private constructor(
    private readonly recorder: LiveRecording,
    readonly relativePath: string,
    private readonly callerIn: AudioConverter | undefined,
    private readonly agentIn: AudioConverter | undefined,
    private readonly file: string,
  ) {}

  /** Opens the call's recording (the file opens in the background); undefined when it cannot start. */
  static async open(
    recordingsDir: string,
    callId: string,
    answeredAt: Date,
    format: AudioFormat,
    log: Logger,
  ): Promise<RecordingTap | undefined> {
    const relativePath = recordingRelativePath(callId, answeredAt);
    let converters: [AudioConverter | undefined, AudioConverter | undefined];
    let recorder: LiveRecording;
    try {
      converters = await Promise.all([createConverter(format, PCMU_8K), createConverter(format, PCMU_8K)]);
      recorder = recordingThread().open(path.join(recordingsDir, relativePath));
    } catch (err) {
      log.error('could not start the recording; the call goes on without it', { error: (err as Error).message });
      return undefined;
    }
    recorder.ready.catch((err: unknown) => {
      log.error('could not open the recording file; the call goes on without it', { error: (err as Error).message });
    });
    return new RecordingTap(
      recorder,
      relativePath,
      converters[0],
      converters[1],
      path.join(recordingsDir, relativePath),
    );
  }

  /** Resolves once the recording thread has the file open; rejects when it could not be created. */
  get ready(): Promise<void> {
    return this.recorder.ready;
  }

  /**
   * A caller frame at its own timestamp. A base64 frame in the recording's own format (mu-law) is
   * decoded straight into the call's ring: no buffer a frame.
   */
  writeCallerFrame(frame: CallerAudioFrame): void {
    if (this.discarded) return;
    const base64 = frame.base64;
    if (base64 === undefined || this.callerIn) {
      this.writeCaller(frame.bytes, frame.timestampMs);
      return;
    }
    this.recorder.writeCallerBase64(base64, Buffer.byteLength(base64, 'base64'), frame.timestampMs);
  }

  /** Caller audio (channel format) captured at call time atMs. */
  writeCaller(bytes: Uint8Array, atMs: number): void {
    if (this.discarded) return;
    this.recorder.writeCaller(this.callerIn ? this.callerIn.process(bytes) : bytes, atMs);
  }

  /** Agent audio (channel format) scheduled to play at call time atMs. */
  writeAgent(bytes: Uint8Array, atMs: number): void {
    if (this.discarded) return;
    this.recorder.writeAgent(this.agentIn ? this.agentIn.process(bytes) : bytes, atMs);
  }

  /** Barge-in: agent audio scheduled at or after atMs was never heard. */
  cutAgentAfter(atMs: number): void {
    this.recorder.cutAgentAfter(atMs);
  }

  /**
   * Stops recording and deletes the file (a caller's opt-out, src/privacy/consent.ts): nothing is
   * written from now on and finish() registers nothing. Never throws.
   */
  discard(log: Logger): void {
    if (this.discarded) return;
    this.discarded = true;
    void this.recorder
      .close(0)
      .then(() => rm(this.file, { force: true }))
      .then(() => log.info('recording stopped and deleted'))
      .catch((err: unknown) => log.error('could not delete a discarded recording', { error: (err as Error).message }));
  }

  /** Finalizes the file and registers it on the call. Logs (never throws) when it cannot. */
  async finish(callId: string, durationMs: number, callManager: CallManager, log: Logger): Promise<void> {
    this.callerIn?.close();
    this.agentIn?.close();
    if (this.discarded) return;
    try {
      const rec = await this.recorder.close(durationMs);
      if (!rec.created) throw new Error(rec.error ?? 'the recording file was never created');
      if (rec.error) log.error('the recording was cut short', { error: rec.error });
      if (this.recorder.droppedBytes > 0 || rec.overflowSamples > 0) {
        log.warn('the recording has gaps: the recording thread or the disk fell behind', {
          droppedBytes: this.recorder.droppedBytes,
          overflowSamples: rec.overflowSamples,
        });
      }
      await callManager.addRecording({
        callId,
        path: this.relativePath,
        container: 'wav',
        codec: 'pcm_s16le',
        sampleRateHz: 8000,
        channels: 2,
        durationMs: Math.round(rec.durationMs),
        sizeBytes: rec.sizeBytes,
      });
    } catch (err) {
      log.error('could not finalize the recording', { error: (err as Error).message });
    }
  }
}
