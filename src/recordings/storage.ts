/**
 * The recording-storage seam: where a finished recording lives and how it is read back, so that the
 * recording URL works on every instance of a cluster (issue 16).
 *
 * Recordings are always written to the local disk while the call runs (src/audio/wav-recorder.ts,
 * RECORDING_STORAGE_PATH); nothing here touches that hot path. When the call has ended and the file
 * is final (registered by CallManager.addRecording: silenced where redacted, sealed when encrypted),
 * `finalize(callId, key)` hands it to the storage:
 * - LocalRecordingStorage (default, no RECORDINGS_S3_BUCKET): nothing to do, the file stays where it is.
 * - S3RecordingStorage: uploads it to the bucket (retried with backoff, size verified) and then
 *   removes the local copy unless `keepLocalCopy` (see s3-storage.ts).
 *
 * A recording's key is its row's `path` (relative to RECORDING_STORAGE_PATH, e.g.
 * `2026-03-01/<callId>.wav` or `.wav.enc` when sealed); in S3 it is stored under RECORDINGS_S3_PREFIX
 * + key. Readers (`open`) get the stored bytes as they are: a sealed file stays sealed, the HTTP route
 * decrypts the chunks a range covers (src/privacy/sealed-file.ts).
 */
import type { Config } from '../config';
import type { Logger } from '../logging/logger';
import { LocalRecordingStorage } from './local-storage';
import type * as S3Module from './s3-storage';
import type { S3StorageOptions } from './s3-storage';
import type { RecordingStorage } from './types';

export * from './types';

export interface CreateRecordingStorageOptions {
  /** S3 only: keep the local file after a verified upload (default false: removed). */
  keepLocalCopy?: boolean;
  /** S3 only: retry and client settings (tests shorten the delays). */
  s3?: Partial<S3StorageOptions>;
}

/** The storage config.recordingStorage asks for: S3 when a bucket is set, else the local disk. */
export function createRecordingStorage(
  config: Pick<Config, 'recordingStorage'>,
  recordingsDir: string,
  logger: Logger,
  options: CreateRecordingStorageOptions = {},
): RecordingStorage {
  const s3 = config.recordingStorage.s3;
  const log = logger.child({ component: 'recording-storage' });
  if (!s3.bucket) return new LocalRecordingStorage(recordingsDir, log);
  // Loaded only with a bucket: the AWS SDK is ~3 MB of the main thread's heap that every major GC
  // would mark on a server that stores recordings locally.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { S3RecordingStorage } = require('./s3-storage') as typeof S3Module;
  return new S3RecordingStorage(recordingsDir, log, {
    bucket: s3.bucket,
    prefix: s3.prefix,
    endpoint: s3.endpoint || undefined,
    region: s3.region,
    credentials:
      s3.accessKeyId && s3.secretAccessKey
        ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }
        : undefined,
    forcePathStyle: s3.forcePathStyle,
    keepLocalCopy: options.keepLocalCopy ?? false,
    ...options.s3,
  });
}
