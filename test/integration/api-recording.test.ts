import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import request from 'supertest';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { seedCall } from '../../scripts/lib/seed';
import { writeSineWav } from '../helpers/wav';

/** Raw GET collecting the body as bytes (supertest buffers audio oddly). */
function get(
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GET /api/calls/:id/recording', () => {
  let t: TestApp;
  let callId: string;
  let wav: Buffer;
  let url: string;

  const addRecording = (id: string, relPath: string, sizeBytes = 0) =>
    t.sb.callManager.addRecording({
      callId: id,
      path: relPath,
      sampleRateHz: 8000,
      channels: 1,
      durationMs: 1000,
      sizeBytes,
    });

  beforeAll(async () => {
    t = await startTestApp();
    callId = await seedCall(t.sb, { startedAt: new Date('2026-03-01T09:00:00Z') });
    mkdirSync(path.join(t.sb.recordingsDir, '2026', '03'), { recursive: true });
    // An older recording first, then the latest one, which is the one served.
    writeSineWav(path.join(t.sb.recordingsDir, '2026', '03', 'old.wav'), { durationMs: 200 });
    await addRecording(callId, '2026/03/old.wav');
    await new Promise((r) => setTimeout(r, 5));
    wav = writeSineWav(path.join(t.sb.recordingsDir, '2026', '03', `${callId}.wav`), { durationMs: 2000 });
    await addRecording(callId, `2026/03/${callId}.wav`, wav.length);
    url = `${t.baseUrl}/api/calls/${callId}/recording`;
  });
  afterAll(() => t.close());

  it('streams the latest WAV whole, with Accept-Ranges, validators and inline disposition', async () => {
    const res = await get(url);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('audio/wav');
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers['content-length']).toBe(String(wav.length));
    expect(res.headers['content-disposition']).toBe(`inline; filename="call-${callId}.wav"`);
    expect(res.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(res.headers['last-modified']).toBeDefined();
    expect(res.body.equals(wav)).toBe(true);
    expect(res.body.subarray(0, 4).toString('ascii')).toBe('RIFF');
  });

  it('sends it as an attachment with ?download=true', async () => {
    const res = await get(`${url}?download=true`);
    expect(res.status).toBe(200);
    expect(res.headers['content-disposition']).toBe(`attachment; filename="call-${callId}.wav"`);
    expect(
      (await request(t.baseUrl).get(`/api/calls/${callId}/recording?download=maybe`).expect(400)).body.error.field,
    ).toBe('download');
  });

  it.each([
    ['bytes=0-43', 0, 43],
    ['bytes=44-1043', 44, 1043],
    ['bytes=30000-', 30000, null],
    ['bytes=-100', null, null],
    ['bytes=100-99999999', 100, null],
  ])('answers Range %s with 206 and the exact bytes', async (range, first, last) => {
    const size = wav.length;
    const start = first ?? size - 100;
    const end = last ?? size - 1;
    const res = await get(url, { Range: range });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${size}`);
    expect(res.headers['content-length']).toBe(String(end - start + 1));
    expect(res.body.equals(wav.subarray(start, end + 1))).toBe(true);
  });

  it('answers an unsatisfiable range with 416 and Content-Range bytes */size', async () => {
    for (const range of [`bytes=${wav.length}-`, `bytes=${wav.length + 10}-${wav.length + 20}`, 'bytes=-0']) {
      const res = await get(url, { Range: range });
      expect(res.status).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${wav.length}`);
      expect(JSON.parse(res.body.toString()).error.code).toBe('range_not_satisfiable');
    }
  });

  it('ignores ranges it does not serve (multiple, other units, malformed) and sends the whole file', async () => {
    for (const range of ['bytes=0-10,20-30', 'items=0-1', 'bytes=abc', 'bytes=50-10']) {
      const res = await get(url, { Range: range });
      expect(res.status).toBe(200);
      expect(res.body.length).toBe(wav.length);
    }
  });

  it('honours If-None-Match, If-Range and HEAD', async () => {
    const first = await get(url);
    const etag = first.headers.etag as string;
    expect((await get(url, { 'If-None-Match': etag })).status).toBe(304);
    const matching = await get(url, { Range: 'bytes=0-9', 'If-Range': etag });
    expect(matching.status).toBe(206);
    const stale = await get(url, { Range: 'bytes=0-9', 'If-Range': '"0-0"' });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(wav.length);
    const head = await get(url, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(wav.length));
    expect(head.body.length).toBe(0);
  });

  it('seeks like a browser player: many small ranges reassemble the file', async () => {
    const parts: Buffer[] = [];
    for (let start = 0; start < wav.length; start += 4096) {
      const res = await get(url, { Range: `bytes=${start}-${Math.min(start + 4095, wav.length - 1)}` });
      expect(res.status).toBe(206);
      parts.push(res.body);
    }
    expect(Buffer.concat(parts).equals(wav)).toBe(true);
  });

  it('never serves a file outside the recordings folder: ../, absolute paths and symlinks out are 404', async () => {
    const outside = path.join(t.tmp.dir, 'secret.wav');
    writeFileSync(outside, 'not for you');
    symlinkSync(outside, path.join(t.sb.recordingsDir, 'link.wav'));
    for (const rel of ['../secret.wav', outside, 'link.wav', '2026/../../secret.wav', 'missing.wav', '.', '']) {
      const id = await seedCall(t.sb, { startedAt: new Date('2026-03-02T09:00:00Z') });
      await addRecording(id, rel);
      const res = await get(`${t.baseUrl}/api/calls/${id}/recording`);
      expect(res.status).toBe(404);
      expect(res.body.toString()).not.toContain('not for you');
      expect(JSON.parse(res.body.toString()).error.code).toBe('not_found');
    }
  });

  it('answers 404 for a call without recording or an unknown call, 400 for an odd id', async () => {
    const bare = await seedCall(t.sb, { startedAt: new Date('2026-03-03T09:00:00Z') });
    const none = await request(t.baseUrl).get(`/api/calls/${bare}/recording`).expect(404);
    expect(none.body.error.message).toBe('recording not found');
    const unknown = await request(t.baseUrl).get('/api/calls/cnotacall0000000000000000/recording').expect(404);
    expect(unknown.body.error.message).toBe('call not found');
    const odd = await request(t.baseUrl).get('/api/calls/..%2F..%2Fsecret/recording').expect(400);
    expect(odd.body.error.field).toBe('id');
  });

  it('lists the recordings in the call detail with their URL', async () => {
    const res = await request(t.baseUrl).get(`/api/calls/${callId}`).expect(200);
    expect(res.body.recordings.map((r: { path: string }) => r.path)).toEqual([
      `2026/03/${callId}.wav`,
      '2026/03/old.wav',
    ]);
    expect(res.body.recordings[0].url).toBe(`/api/calls/${callId}/recording`);
    const listed = await request(t.baseUrl).get('/api/calls?startDate=2026-03-01&endDate=2026-03-01').expect(200);
    expect(listed.body.items[0]).toMatchObject({ id: callId, hasRecording: true });
  });
});
