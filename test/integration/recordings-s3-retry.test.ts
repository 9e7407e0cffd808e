/**
 * Uploads that fail: with the S3 endpoint stopped, a finished recording's upload is retried with
 * backoff and succeeds once the endpoint is back; a storage closed while retrying leaves the local
 * file and its pending marker, and the next process resumes it; a recording deleted while its upload
 * is retrying is never uploaded.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { testConfig } from '../../src/config';
import { createLogger } from '../../src/logging/logger';
import { createRecordingStorage, type RecordingStorage } from '../../src/recordings/storage';
import { writeSineWav } from '../helpers/wav';
import { startTestS3, type TestS3 } from './recordings-s3-server';

const logger = createLogger({ level: 'error', json: true, silent: true });

describe('recording uploads that fail', () => {
  let s3: TestS3;
  let root: string;
  const prefix = `retry-${randomBytes(3).toString('hex')}/`;
  const open: RecordingStorage[] = [];

  /** A storage like an instance's, on its own recordings folder, with short retry delays. */
  function storage(dir: string, onAttemptFailed?: (key: string, attempt: number) => void, retryDelayMs = 30) {
    const s = createRecordingStorage(testConfig(s3.env(prefix)), dir, logger, {
      s3: { retryDelayMs, maxRetryDelayMs: 300, onAttemptFailed, connectionTimeoutMs: 2000 },
    });
    open.push(s);
    return s;
  }

  /** Resolves when the `n`th failed attempt is reported. */
  function failures(n: number): { promise: Promise<void>; hook: (key: string, attempt: number) => void } {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, hook: (_key, attempt) => attempt >= n && resolve() };
  }

  function recording(dir: string, seconds = 2): { key: string; wav: Buffer } {
    const key = `2026-04-02/call-${randomBytes(4).toString('hex')}.wav`;
    mkdirSync(path.join(dir, '2026-04-02'), { recursive: true });
    return { key, wav: writeSineWav(path.join(dir, key), { durationMs: seconds * 1000 }) };
  }

  async function readBack(key: string): Promise<Buffer> {
    const reader = storage(mkdtempSync(path.join(root, 'elsewhere-')));
    const obj = await reader.open(key);
    expect(obj?.where).toBe('s3');
    const chunks: Buffer[] = [];
    for await (const c of await obj!.stream(0, obj!.size - 1)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  beforeAll(async () => {
    s3 = await startTestS3();
    root = mkdtempSync(path.join(tmpdir(), 'sb-rec-retry-'));
  });
  afterAll(async () => {
    await Promise.all(open.map((s) => s.close()));
    await s3?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('retries with backoff while S3 is down and uploads once it is back', async () => {
    const dir = mkdtempSync(path.join(root, 'a-'));
    const { key, wav } = recording(dir);
    const twoFailures = failures(2);
    const s = storage(dir, twoFailures.hook);
    await s3.stop();
    const upload = s.finalize('call-1', key);
    await twoFailures.promise;
    // Still on the local disk, and marked as pending.
    expect(existsSync(path.join(dir, key))).toBe(true);
    expect(readdirSync(path.join(dir, '.pending-uploads'))).toEqual([`${encodeURIComponent(key)}.json`]);
    await s3.start();
    const result = await upload;
    expect(result.status).toBe('uploaded');
    expect(result.status === 'uploaded' && result.attempts).toBeGreaterThanOrEqual(3);
    expect(existsSync(path.join(dir, key))).toBe(false);
    expect(readdirSync(path.join(dir, '.pending-uploads'))).toEqual([]);
    expect((await readBack(key)).equals(wav)).toBe(true);
  });

  it('a storage closed while retrying keeps the file and marker; the next start resumes the upload', async () => {
    const dir = mkdtempSync(path.join(root, 'b-'));
    const { key, wav } = recording(dir);
    const firstFailure = failures(1);
    const first = storage(dir, firstFailure.hook, 5_000);
    await s3.stop();
    const upload = first.finalize('call-2', key);
    await firstFailure.promise;
    await first.close(); // the process stops during the 5 s backoff
    expect((await upload).status).toBe('abandoned');
    expect(existsSync(path.join(dir, key))).toBe(true);
    expect(readdirSync(path.join(dir, '.pending-uploads'))).toHaveLength(1);

    await s3.start();
    const next = storage(dir);
    expect(await next.resumePending()).toBe(1);
    // finalize() of a key being uploaded joins that upload.
    const result = await next.finalize('call-2', key);
    expect(result).toMatchObject({ status: 'uploaded', attempts: 1, localRemoved: true });
    expect((await readBack(key)).equals(wav)).toBe(true);
  });

  it('a recording deleted while its upload is retrying is never uploaded', async () => {
    const dir = mkdtempSync(path.join(root, 'c-'));
    const { key } = recording(dir);
    const firstFailure = failures(1);
    const s = storage(dir, firstFailure.hook, 400);
    await s3.stop();
    const upload = s.finalize('call-3', key);
    await firstFailure.promise;
    await s3.start();
    expect(await s.delete(key)).toBe(true); // the local copy
    expect(await upload).toEqual({ status: 'deleted' });
    expect(existsSync(path.join(dir, key))).toBe(false);
    expect(readdirSync(path.join(dir, '.pending-uploads'))).toEqual([]);
    expect(await storage(mkdtempSync(path.join(root, 'd-'))).open(key)).toBeUndefined();
  });

  it('close({ graceMs }) lets an upload in flight finish; close() without grace aborts it and keeps the marker', async () => {
    const dir = mkdtempSync(path.join(root, 'f-'));
    const graceful = storage(dir);
    const one = recording(dir);
    const upload = graceful.finalize('call-6', one.key);
    expect(graceful.pendingUploads).toBe(1);
    await graceful.close({ graceMs: 20_000 });
    expect(await upload).toMatchObject({ status: 'uploaded' });
    expect(graceful.pendingUploads).toBe(0);

    const abrupt = storage(dir);
    const two = recording(dir, 30); // started, not finished when close() comes
    const cut = abrupt.finalize('call-7', two.key);
    await abrupt.close();
    expect(await cut).toMatchObject({ status: 'abandoned' });
    expect(existsSync(path.join(dir, two.key))).toBe(true);
    expect(readdirSync(path.join(dir, '.pending-uploads'))).toEqual([`${encodeURIComponent(two.key)}.json`]);
  });

  it('a recording that is not on the disk is reported missing, not retried', async () => {
    const s = storage(mkdtempSync(path.join(root, 'e-')));
    expect(await s.finalize('call-4', '2026-04-02/nothing.wav')).toEqual({ status: 'missing' });
    // Never throws (it runs as a hook on the call's registration): a key outside the folder is refused.
    writeFileSync(path.join(root, 'outside.wav'), 'x');
    expect(await s.finalize('call-5', '../outside.wav')).toEqual({ status: 'missing' });
    expect(s3.requests.some((r) => r.url.includes('outside'))).toBe(false);
  });
});
