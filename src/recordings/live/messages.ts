/** What the main thread and the recording thread say to each other (recording-thread.ts, recording-worker.ts). */
import type { StereoWavRecorderOptions } from '../../audio/wav-recorder';

export type ToRecordingThread =
  /** Start recording `path` from the audio published in `ring`. */
  | { op: 'open'; id: number; path: string; ring: SharedArrayBuffer; options?: StereoWavRecorderOptions }
  /** Everything published in the ring so far is the whole call: finish the file at endMs. */
  | { op: 'close'; id: number; endMs?: number }
  /** Finish every recording and end the thread. */
  | { op: 'shutdown' };

/** A recording's figures when it was finished; errors travel as their messages. */
export interface FinishedRecording {
  durationMs: number;
  sizeBytes: number;
  created: boolean;
  error?: string;
  /** Writes the recorder dropped because they came for time already written. */
  droppedLateFrames: number;
  /** Samples written as silence because the disk fell behind. */
  overflowSamples: number;
}

export type FromRecordingThread =
  | { op: 'opened'; id: number; error?: string }
  | { op: 'closed'; id: number; result: FinishedRecording };
