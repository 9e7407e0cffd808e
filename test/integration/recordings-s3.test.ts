/**
 * Recordings reachable from every instance (issue 16): instance A registers a finished recording
 * and uploads it to S3 (s3rver); instance B, which never had the file, serves it byte for byte
 * through the same recording URL, with Range (first bytes, middle, suffix, open end, unsatisfiable),
 * the same auth and signed URLs, and a large recording streams through without being held whole.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { seedCall } from '../../scripts/lib/seed';
import { writeSineWav } from '../helpers/wav';
import { createRecordingStorage, type RecordingStorage } from '../../src/recordings/storage';
import { UrlSigner } from '../../src/http/auth';
import { startTestS3, type TestS3 } from './recordings-s3-server';

type Got = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

function get(url: string, headers: Record<string, string> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const auth = { Authorization: `Bearer ${TOKEN}` };

describe('recordings in S3, served by any instance', () => {
  let s3: TestS3;
  let a: TestApp;
  let b: TestApp;
  let storageA: RecordingStorage;
  const prefix = `rec-${randomBytes(3).toString('hex')}/`;
  const signingSecret = randomBytes(24).toString('hex');

  /**
   * A recording of a call on A: written to A's disk and registered; the test finalizes (uploads) it
   * itself. The row is written directly: A's call manager would also start A's own upload of it
   * (onRecordingStored), racing the test's, and the loser finds the local copy already gone.
   */
  async function recordOnA(bytes: (file: string) => Buffer): Promise<{ key: string; wav: Buffer; callId: string }> {
    const callId = await seedCall(a.sb, { startedAt: new Date('2026-03-01T09:00:00Z') });
    const key = `2026-03-01/${callId}.wav`;
    mkdirSync(path.join(a.sb.recordingsDir, '2026-03-01'), { recursive: true });
    const wav = bytes(path.join(a.sb.recordingsDir, key));
    await a.sb.db.recording.create({
      data: { callId, path: key, sampleRateHz: 8000, channels: 1, durationMs: 1000, sizeBytes: wav.length },
    });
    return { key, wav, callId };
  }

  /** A call on B whose recording row names `key` (as the shared database would show it to B). */
  async function registerOnB(key: string, size: number): Promise<string> {
    const callId = await seedCall(b.sb, { startedAt: new Date('2026-03-01T09:00:00Z') });
    // One shared database in a cluster: B reads the row A registered; it never had the file.
    await b.sb.db.recording.create({
      data: { callId, path: key, sampleRateHz: 8000, channels: 1, durationMs: 1000, sizeBytes: size },
    });
    return callId;
  }

  beforeAll(async () => {
    s3 = await startTestS3();
    const env = { ...s3.env(prefix), API_TOKENS: TOKEN, URL_SIGNING_SECRET: signingSecret };
    [a, b] = await Promise.all([startTestApp(env), startTestApp(env)]);
    storageA = createRecordingStorage(a.sb.config, a.sb.recordingsDir, a.sb.logger);
  });
  afterAll(async () => {
    await storageA?.close();
    await Promise.all([a?.close(), b?.close()]);
    await s3?.close();
  });

  let key: string;
  let wav: Buffer;
  let bUrl: string;
  let bCallId: string;

  it('uploads a finished recording (size verified, local copy removed) and B serves it byte for byte', async () => {
    const made = await recordOnA((file) => writeSineWav(file, { durationMs: 3000 }));
    ({ key, wav } = made);
    const result = await storageA.finalize(made.callId, key);
    expect(result).toEqual({ status: 'uploaded', bytes: wav.length, attempts: 1, localRemoved: true });
    expect(existsSync(path.join(a.sb.recordingsDir, key))).toBe(false);
    expect(existsSync(path.join(a.sb.recordingsDir, '.pending-uploads'))).toBe(true);
    expect(s3.requests.some((r) => r.method === 'PUT' && r.url.startsWith(`/${s3.bucket}/${prefix}2026-03-01/`))).toBe(
      true,
    );

    bCallId = await registerOnB(key, wav.length);
    expect(existsSync(path.join(b.sb.recordingsDir, key))).toBe(false);
    bUrl = `${b.baseUrl}/api/calls/${bCallId}/recording`;
    const res = await get(bUrl, auth);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('audio/wav');
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers['content-length']).toBe(String(wav.length));
    expect(res.body.equals(wav)).toBe(true);

    // A, whose local copy is gone, serves it from S3 too, with the same validators as B.
    const fromA = await get(`${a.baseUrl}/api/calls/${made.callId}/recording`, auth);
    expect(fromA.status).toBe(200);
    expect(fromA.body.equals(wav)).toBe(true);
    expect(fromA.headers.etag).toBe(res.headers.etag);
    expect(fromA.headers['last-modified']).toBe(res.headers['last-modified']);
    expect((await get(bUrl, { ...auth, 'If-None-Match': res.headers.etag! })).status).toBe(304);
  }, 60_000); // the first requests start B's read worker: slow on a loaded machine

  it.each([
    ['first bytes', 'bytes=0-43', 0, 43],
    ['the middle', 'bytes=10000-20009', 10000, 20009],
    ['a suffix', 'bytes=-1000', -1000, -1],
    ['an open end', 'bytes=40000-', 40000, -1],
  ])('serves a Range from S3: %s', async (_name, range, from, to) => {
    const start = from < 0 ? wav.length + from : from;
    const end = to < 0 ? wav.length + to : to;
    s3.requests.length = 0;
    const res = await get(bUrl, { ...auth, Range: range });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${wav.length}`);
    expect(res.headers['content-length']).toBe(String(end - start + 1));
    expect(res.body.equals(wav.subarray(start, end + 1))).toBe(true);
    // S3 was asked for exactly those bytes, not the whole object.
    const gets = s3.requests.filter((r) => r.method === 'GET');
    expect(gets).toHaveLength(1);
    expect(gets[0].range).toBe(`bytes=${start}-${end}`);
  });

  it('answers 416 with Content-Range for a range outside the recording, and ignores a malformed one', async () => {
    const bad = await get(bUrl, { ...auth, Range: `bytes=${wav.length}-` });
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${wav.length}`);
    expect((await get(bUrl, { ...auth, Range: 'bytes=-0' })).status).toBe(416);
    const malformed = await get(bUrl, { ...auth, Range: 'bytes=5-1' });
    expect(malformed.status).toBe(200);
    expect(malformed.body.equals(wav)).toBe(true);
  });

  it('keeps the auth rules: no token is 401, a signed URL opens the recording from S3', async () => {
    expect((await get(bUrl)).status).toBe(401);
    const forged = `${bUrl}?expires=${Math.floor(Date.now() / 1000) + 60}&sig=${'A'.repeat(43)}`;
    expect((await get(forged)).status).toBe(401);
    const signed = await get(`${b.baseUrl}/api/calls/${bCallId}/recording-url`, auth);
    expect(signed.status).toBe(200);
    const { url } = JSON.parse(signed.body.toString()) as { url: string };
    const res = await get(`${b.baseUrl}${url}`);
    expect(res.status).toBe(200);
    expect(res.body.equals(wav)).toBe(true);
    // Instances sharing URL_SIGNING_SECRET accept each other's URLs (what A would sign for this call).
    const fromA = new UrlSigner(signingSecret).signRecording(bCallId).url;
    expect((await get(`${b.baseUrl}${fromA}`, { Range: 'bytes=0-3' })).body.toString()).toBe('RIFF');
  });

  it('streams a large recording from S3 without holding it whole', async () => {
    // 8 MB: a WAV header and noise.
    const big = await recordOnA((file) => {
      const body = Buffer.concat([
        writeSineWav(file, { durationMs: 10 }).subarray(0, 44),
        randomBytes(8 * 1024 * 1024),
      ]);
      writeFileSync(file, body);
      return body;
    });
    expect((await storageA.finalize(big.callId, big.key)).status).toBe('uploaded');
    const callId = await registerOnB(big.key, big.wav.length);
    // S3 sends the first MB of the object, then holds the rest until released.
    const gate = s3.gateNextGet(`${prefix}${big.key}`, 1024 * 1024);
    const received: Buffer[] = [];
    let total = 0;
    const firstBytes = new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${b.baseUrl}/api/calls/${callId}/recording`, { headers: auth }, (res) => {
        res.on('data', (c: Buffer) => {
          received.push(c);
          total += c.length;
          if (total >= 512 * 1024) resolve(res);
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    await gate.holding;
    const res = await firstBytes;
    // The client has half a megabyte while S3 has sent only 1 MB of the 8 MB object.
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(big.wav.length));
    expect(gate.passed).toBe(1024 * 1024);
    const ended = new Promise<void>((resolve) => res.on('end', resolve));
    gate.release();
    await ended;
    expect(total).toBe(big.wav.length);
    expect(Buffer.concat(received).equals(big.wav)).toBe(true);
  });

  it('delete(key) removes the object: B then answers 404', async () => {
    expect(await storageA.delete(key)).toBe(true);
    const res = await get(bUrl, auth);
    expect(res.status).toBe(404);
    expect(await storageA.delete(key)).toBe(false);
  });
});
