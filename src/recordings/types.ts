/**
 * Types of the recording-storage seam (see storage.ts for the why): the stored object as readers
 * see it, the outcome of finalize(), and the key rules shared by every implementation.
 */
import type { Readable } from 'node:stream';

/** A stored recording, opened for reading. Close it unless a stream took it over. */
export interface RecordingObject {
  readonly where: 'local' | 's3';
  /** Stored size in bytes (a sealed file's size, not its plaintext's). */
  readonly size: number;
  /** Modification time of the recording file; the same on every instance (kept as S3 metadata). */
  readonly mtimeMs: number;
  /** The stored bytes [start, end] (inclusive), streamed; the stream owns the object from then on. */
  stream(start: number, end: number): Promise<Readable>;
  /** The stored bytes [start, end] (inclusive) in memory: for small reads only (a sealed header). */
  readBytes(start: number, end: number): Promise<Buffer>;
  /** Releases the object (file handle); a no-op once a stream owns it. */
  close(): Promise<void>;
}

export type FinalizeResult =
  | { status: 'local' }
  | { status: 'uploaded'; bytes: number; attempts: number; localRemoved: boolean }
  | { status: 'missing' }
  | { status: 'deleted' }
  | { status: 'abandoned'; attempts: number; error: string };

export interface RecordingStorage {
  readonly kind: 'local' | 's3';
  /**
   * The recording `key` of call `callId` is final: store it where it belongs. Resolves when it is
   * stored (an S3 upload may take several attempts); never rejects, the outcome is returned and logged.
   */
  finalize(callId: string, key: string): Promise<FinalizeResult>;
  /** Opens a recording for reading: the local file when this instance has it, else the object; undefined when neither exists. */
  open(key: string): Promise<RecordingObject | undefined>;
  /** Deletes the recording everywhere (local copy, object, pending upload). True when something was removed. */
  delete(key: string): Promise<boolean>;
  /** Re-queues uploads a previous process left unfinished (their markers). Returns how many. */
  resumePending(): Promise<number>;
  /** Uploads started and not finished yet (in flight or waiting to retry), for /health and metrics. */
  readonly pendingUploads: number;
  /**
   * Lets uploads in flight finish for up to `graceMs` (default 0), then stops: retries end, a PUT
   * still running is aborted; their markers stay for resumePending() at the next start.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Thrown by `open` when the object store cannot be reached (the HTTP route answers 503). */
export class RecordingStorageUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordingStorageUnavailableError';
  }
}

/**
 * A key as stored: the row's relative path with `/` separators. Refuses what could name a file
 * outside the recordings folder or an odd object (absolute, `..`, NUL, empty).
 */
export function normalizeKey(key: string): string {
  const k = key.split('\\').join('/');
  if (!k || k.includes('\0') || k.startsWith('/') || k.split('/').some((p) => p === '..' || p === '' || p === '.'))
    throw new Error(`not a recording key: ${JSON.stringify(key)}`);
  return k;
}
