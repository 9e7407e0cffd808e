/**
 * Encrypted recordings (RECORDING_ENCRYPTION_KEY) in S3: the object is the sealed file as it was on
 * disk (no plaintext leaves the instance), and an instance that never had the file serves the
 * decrypted WAV whole and by Range across the 64 KB chunk boundaries, reading from S3 only the
 * chunks a range covers.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { seedCall } from '../../scripts/lib/seed';
import { writeSineWav } from '../helpers/wav';
import { createRecordingStorage } from '../../src/recordings/storage';
import { openPlainRecording } from '../../src/recordings/plain-view';
import { SEALED_CHUNK_BYTES, SEALED_HEADER_BYTES } from '../../src/privacy/sealed-file';
import { startTestS3, type TestS3 } from './recordings-s3-server';

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }),
        );
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('sealed recordings in S3', () => {
  let s3: TestS3;
  let a: TestApp;
  let b: TestApp;
  const prefix = `sealed-${randomBytes(3).toString('hex')}/`;
  const key = randomBytes(32);
  let wav: Buffer;
  let sealed: Buffer;
  let url: string;

  beforeAll(async () => {
    s3 = await startTestS3();
    const env = { ...s3.env(prefix), RECORDING_ENCRYPTION_KEY: key.toString('hex') };
    [a, b] = await Promise.all([startTestApp(env), startTestApp(env)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await s3?.close();
  });

  it('uploads the sealed file as it is and serves it decrypted from another instance', async () => {
    const callId = await seedCall(a.sb, { startedAt: new Date('2026-05-01T10:00:00Z') });
    mkdirSync(path.join(a.sb.recordingsDir, '2026-05-01'), { recursive: true });
    // 20 s of mono PCM16: 320 kB, five 64 KB chunks.
    wav = writeSineWav(path.join(a.sb.recordingsDir, '2026-05-01', `${callId}.wav`), { durationMs: 20_000 });
    const rec = await a.sb.callManager.addRecording({
      callId,
      path: `2026-05-01/${callId}.wav`,
      sampleRateHz: 8000,
      channels: 1,
      durationMs: 20_000,
      sizeBytes: wav.length,
    });
    expect(rec.path).toBe(`2026-05-01/${callId}.wav.enc`);
    sealed = readFileSync(path.join(a.sb.recordingsDir, rec.path));

    const storage = createRecordingStorage(a.sb.config, a.sb.recordingsDir, a.sb.logger);
    try {
      expect(await storage.finalize(callId, rec.path)).toMatchObject({ status: 'uploaded', bytes: sealed.length });
    } finally {
      await storage.close();
    }
    // The object is the sealed file, byte for byte: no plaintext in the bucket.
    const other = createRecordingStorage(b.sb.config, b.sb.recordingsDir, b.sb.logger);
    try {
      const obj = (await other.open(rec.path))!;
      expect(obj.where).toBe('s3');
      const stored = await obj.readBytes(0, obj.size - 1);
      expect(stored.equals(sealed)).toBe(true);
      expect(stored.includes(wav.subarray(0, 4))).toBe(false);
      expect(stored.includes(wav.subarray(100_000, 100_064))).toBe(false);
      // The plain WAV for other readers (the privacy export), decrypted from S3.
      const chunks: Buffer[] = [];
      for await (const c of (await openPlainRecording(other, rec.path, key))!) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(wav)).toBe(true);
      expect(await openPlainRecording(other, '2026-05-01/none.wav.enc', key)).toBeUndefined();
    } finally {
      await other.close();
    }

    const onB = await seedCall(b.sb, { startedAt: new Date('2026-05-01T10:00:00Z') });
    // B sees the row A registered (one shared database in a cluster); it never had the file.
    await b.sb.db.recording.create({
      data: {
        callId: onB,
        path: rec.path,
        sampleRateHz: 8000,
        channels: 1,
        durationMs: 20_000,
        sizeBytes: sealed.length,
      },
    });
    url = `${b.baseUrl}/api/calls/${onB}/recording`;
    const whole = await get(url);
    expect(whole.status).toBe(200);
    expect(whole.headers['content-length']).toBe(String(wav.length));
    expect(whole.body.equals(wav)).toBe(true);
  }, 60_000); // the first requests start B's read worker: slow on a loaded machine

  const C = SEALED_CHUNK_BYTES;
  it.each([
    ['inside the first chunk', 0, 43],
    ['across a chunk boundary', C - 10, C + 9],
    ['across three chunks', C - 1, 3 * C],
    ['the suffix', -5000, -1],
  ])('serves a Range %s, fetching only the chunks it covers', async (_n, from, to) => {
    const start = from < 0 ? wav.length + from : from;
    const end = to < 0 ? wav.length + to : to;
    s3.requests.length = 0;
    const res = await get(url, { Range: from < 0 ? `bytes=${from}` : `bytes=${start}-${end}` });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${wav.length}`);
    expect(res.body.equals(wav.subarray(start, end + 1))).toBe(true);
    // One small GET for the header, one for the ciphertext of the chunks covered.
    const ranges = s3.requests.filter((r) => r.method === 'GET').map((r) => r.range);
    const stride = C + 16;
    const first = Math.floor(start / C);
    const last = Math.floor(end / C);
    const lastEnd = Math.min(SEALED_HEADER_BYTES + last * stride + stride, sealed.length) - 1;
    expect(ranges).toEqual([
      `bytes=0-${SEALED_HEADER_BYTES - 1}`,
      `bytes=${SEALED_HEADER_BYTES + first * stride}-${lastEnd}`,
    ]);
  });

  it('answers 416 for a range beyond the plaintext', async () => {
    const res = await get(url, { Range: `bytes=${wav.length}-` });
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${wav.length}`);
  });
});
