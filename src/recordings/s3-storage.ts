/**
 * Recordings in S3-compatible object storage (RECORDINGS_S3_BUCKET): a finished recording is
 * uploaded from the local disk when the call ends, and read back by any instance.
 *
 * Upload (finalize): one PutObject per recording with the file streamed as the body and its length
 * given (a single PUT takes up to 5 GB; a stereo 8 kHz PCM16 hour is ~115 MB, so no multipart).
 * Then HeadObject must report the file's size, else the attempt failed. A failed attempt is retried
 * with exponential backoff (1 s doubling to 60 s by default, with jitter) until it succeeds, the
 * recording is deleted, or close(); a marker in `.pending-uploads/` (pending-uploads.ts) survives a
 * stop so the next start resumes it. At most `maxConcurrentUploads` run at once (a burst of hang-ups
 * does not open a hundred PUTs).
 *
 * The local copy is removed after a verified upload unless `keepLocalCopy` (RECORDINGS_S3_KEEP_LOCAL):
 * S3 is then the one copy, erasure and retention have one place to delete, and an instance's disk
 * holds only calls in progress and uploads not done yet. Serving prefers the local file while it is
 * there (no S3 round trip), else reads the object.
 *
 * Encrypted recordings (RECORDING_ENCRYPTION_KEY) are uploaded as the sealed `.enc` file they are:
 * the object store never sees plaintext.
 */
import { DeleteObjectCommand, PutObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../logging/logger';
import { removeInside } from '../privacy/erasure';
import { openLocalRecording, resolveInside } from './local-storage';
import { PendingUploads } from './pending-uploads';
import { createS3Client, isNotFound, MTIME_META, openS3Object, type S3ClientOptions } from './s3-object';
import { normalizeKey, type FinalizeResult, type RecordingObject, type RecordingStorage } from './types';

export interface S3StorageOptions extends Partial<S3ClientOptions> {
  bucket: string;
  /** Prefix of every object key, e.g. `recordings/` (a missing trailing slash is added). */
  prefix: string;
  region: string;
  forcePathStyle: boolean;
  keepLocalCopy: boolean;
  /** First retry delay; doubles per attempt up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Attempts before an upload is abandoned for this process (its marker stays). Default: unlimited. */
  maxUploadAttempts?: number;
  maxConcurrentUploads?: number;
  /** Called after each failed attempt (tests await it instead of sleeping). */
  onAttemptFailed?: (key: string, attempt: number, error: Error) => void;
}

export class S3RecordingStorage implements RecordingStorage {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly prefix: string;
  private readonly reader: S3Client;
  private readonly writer: S3Client;
  private readonly pending: PendingUploads;
  private readonly uploads = new Map<string, Promise<FinalizeResult>>();
  /** Keys deleted while their upload may still run: the upload stops and removes what it put. */
  private readonly deleted = new Set<string>();
  private readonly stop = new AbortController();
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    private readonly o: S3StorageOptions,
  ) {
    if (!o.bucket) throw new Error('RECORDINGS_S3_BUCKET: a bucket name is required for S3 recording storage');
    this.bucket = o.bucket;
    this.prefix = o.prefix && !o.prefix.endsWith('/') ? `${o.prefix}/` : o.prefix;
    const client: S3ClientOptions = {
      endpoint: o.endpoint,
      region: o.region,
      credentials: o.credentials,
      forcePathStyle: o.forcePathStyle,
      maxAttempts: o.maxAttempts ?? 3,
      connectionTimeoutMs: o.connectionTimeoutMs ?? 5_000,
      requestTimeoutMs: o.requestTimeoutMs ?? 30_000,
    };
    const sdkLog = (message: string) => log.debug('S3 client', { message });
    this.reader = createS3Client(client, sdkLog);
    // A streamed body cannot be replayed by the SDK's own retry: the uploader retries whole attempts.
    this.writer = createS3Client({ ...client, maxAttempts: 1 }, sdkLog);
    this.pending = new PendingUploads(dir);
  }

  /** The object key of a recording key. */
  objectKey(key: string): string {
    return this.prefix + normalizeKey(key);
  }

  finalize(callId: string, key: string): Promise<FinalizeResult> {
    let k: string;
    try {
      k = normalizeKey(key);
    } catch (err) {
      this.log.error('recording not uploaded: bad key', { callId, error: (err as Error).message });
      return Promise.resolve({ status: 'missing' });
    }
    this.deleted.delete(k);
    const running = this.uploads.get(k);
    if (running) return running;
    const upload = this.upload(callId, k).finally(() => this.uploads.delete(k));
    this.uploads.set(k, upload);
    return upload;
  }

  async open(key: string): Promise<RecordingObject | undefined> {
    const local = await openLocalRecording(this.dir, key);
    if (local) return local;
    let k: string;
    try {
      k = normalizeKey(key);
    } catch {
      return undefined; // a row pointing outside the recordings (`../x`, absolute): nothing to serve
    }
    return openS3Object(this.reader, this.bucket, this.prefix + k);
  }

  async delete(key: string): Promise<boolean> {
    const k = normalizeKey(key);
    this.deleted.add(k);
    await this.pending.remove(k);
    const local = await removeInside(this.dir, k);
    const objectKey = this.objectKey(k);
    let existed = false;
    try {
      await this.reader.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      existed = true;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (existed) await this.reader.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    this.log.info('recording deleted', { key: k, local, object: existed });
    return local || existed;
  }

  async resumePending(): Promise<number> {
    const markers = await this.pending.list((name, error) =>
      this.log.warn('unreadable pending-upload marker skipped', { marker: name, error }),
    );
    for (const m of markers) void this.finalize(m.callId, m.key);
    if (markers.length > 0) this.log.info('resuming unfinished recording uploads', { count: markers.length });
    return markers.length;
  }

  get pendingUploads(): number {
    return this.uploads.size;
  }

  async close(options: { graceMs?: number } = {}): Promise<void> {
    if (options.graceMs && this.uploads.size > 0) {
      const grace = new AbortController();
      await Promise.race([
        Promise.allSettled([...this.uploads.values()]),
        delay(options.graceMs, undefined, { signal: grace.signal }).catch(() => undefined),
      ]);
      grace.abort();
    }
    this.stop.abort();
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.allSettled([...this.uploads.values()]);
    this.reader.destroy();
    this.writer.destroy();
  }

  private async upload(callId: string, key: string): Promise<FinalizeResult> {
    const file = await resolveInside(this.dir, key);
    if (!file) {
      await this.pending.remove(key); // e.g. uploaded and removed by a process that died before its marker went
      this.log.warn('recording to upload is not on the local disk', { callId, key });
      return { status: 'missing' };
    }
    await this.pending.add(callId, key);
    const started = Date.now();
    const maxAttempts = this.o.maxUploadAttempts ?? Infinity;
    for (let attempt = 1; ; attempt++) {
      if (this.deleted.has(key)) return { status: 'deleted' };
      if (this.stop.signal.aborted) return this.abandoned(callId, key, attempt - 1, new Error('not tried'), 'the storage is closing');
      try {
        const bytes = await this.slot(() => this.putOnce(callId, key, file));
        if (this.deleted.has(key)) {
          // Erased while it was uploading: take the object away again.
          await this.delete(key);
          return { status: 'deleted' };
        }
        const localRemoved = !this.o.keepLocalCopy && (await removeInside(this.dir, key));
        await this.pending.remove(key);
        this.log.info('recording uploaded', {
          callId,
          key,
          bytes,
          attempts: attempt,
          ms: Date.now() - started,
          localRemoved,
        });
        return { status: 'uploaded', bytes, attempts: attempt, localRemoved };
      } catch (err) {
        const error = err as Error;
        if (this.stop.signal.aborted) return this.abandoned(callId, key, attempt, error, 'the storage is closing');
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          await this.pending.remove(key);
          this.log.warn('recording vanished from the local disk before its upload', { callId, key });
          return { status: 'missing' };
        }
        this.o.onAttemptFailed?.(key, attempt, error);
        if (attempt >= maxAttempts) return this.abandoned(callId, key, attempt, error, 'too many attempts');
        const base = Math.min(this.o.maxRetryDelayMs ?? 60_000, (this.o.retryDelayMs ?? 1_000) * 2 ** (attempt - 1));
        const wait = Math.round(base * (0.8 + Math.random() * 0.4));
        this.log.warn('recording upload failed; retrying', { callId, key, attempt, retryInMs: wait, error: error.message });
        try {
          await delay(wait, undefined, { signal: this.stop.signal });
        } catch {
          return this.abandoned(callId, key, attempt, error, 'the storage is closing');
        }
      }
    }
  }

  /** One attempt: stream the file up, then check the object's size. Returns the bytes stored. */
  private async putOnce(callId: string, key: string, file: string): Promise<number> {
    const st = await stat(file);
    const objectKey = this.objectKey(key);
    await this.writer.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: objectKey,
        Body: createReadStream(file),
        ContentLength: st.size,
        ContentType: key.endsWith('.wav') ? 'audio/wav' : 'application/octet-stream',
        Metadata: { [MTIME_META]: String(Math.floor(st.mtimeMs)), 'call-id': callId },
      }),
      { abortSignal: this.stop.signal },
    );
    const head = await this.writer.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    if (head.ContentLength !== st.size)
      throw new Error(`uploaded object has ${String(head.ContentLength)} bytes, the file ${st.size}`);
    return st.size;
  }

  private abandoned(callId: string, key: string, attempts: number, error: Error, why: string): FinalizeResult {
    this.log.error('recording upload given up for now; kept on the local disk and marked for the next start', {
      callId,
      key,
      attempts,
      why,
      error: error.message,
    });
    return { status: 'abandoned', attempts, error: error.message };
  }

  /** Runs `fn` when fewer than maxConcurrentUploads are running. */
  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    const max = this.o.maxConcurrentUploads ?? 4;
    while (this.running >= max) {
      if (this.stop.signal.aborted) throw new Error('the storage is closing');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
