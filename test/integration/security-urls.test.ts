/**
 * Tokens in URLs (issue 10.4), over real HTTP: `?access_token=` opens the SSE stream only; every
 * other route, /metrics included, refuses it whatever the spelling. Recordings open with a
 * short-lived signed URL (GET /api/calls/:id/recording-url) bound to one call: an expired, forged,
 * tampered or other-call signature is refused, and the signature opens nothing but the recording.
 */
import http from 'node:http';
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import request from 'supertest';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { seedCall } from '../../scripts/lib/seed';
import { writeSineWav } from '../helpers/wav';
import { connectSse } from '../../scripts/lib/sse-client';
import { UrlSigner } from '../../src/http/auth';
import { ConfigError, testConfig } from '../../src/config';

const TOKEN = 'url-test-token-0123456789abcdef';
const SECRET = 'a-url-signing-secret-of-at-least-32-characters';

/** Raw GET (no path normalisation by a client library), body as bytes. */
function get(
  baseUrl: string,
  pathAndQuery: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path: pathAndQuery, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function seedRecording(t: TestApp, startedAt: string): Promise<{ id: string; wav: Buffer }> {
  const id = await seedCall(t.sb, { startedAt: new Date(startedAt) });
  mkdirSync(path.join(t.sb.recordingsDir, 'u'), { recursive: true });
  const wav = writeSineWav(path.join(t.sb.recordingsDir, 'u', `${id}.wav`), { durationMs: 500 });
  await t.sb.callManager.addRecording({
    callId: id,
    path: `u/${id}.wav`,
    sampleRateHz: 8000,
    channels: 1,
    durationMs: 500,
    sizeBytes: wav.length,
  });
  return { id, wav };
}

describe('tokens in URLs are accepted on the SSE stream only', () => {
  let t: TestApp;
  let callId: string;
  beforeAll(async () => {
    t = await startTestApp({ API_TOKENS: TOKEN, URL_SIGNING_SECRET: SECRET });
    ({ id: callId } = await seedRecording(t, '2026-04-01T09:00:00Z'));
  });
  afterAll(() => t.close());

  it('refuses ?access_token= on every REST route and /metrics, in every spelling, with 401', async () => {
    const q = `access_token=${TOKEN}`;
    for (const p of [
      `/api/calls?${q}`,
      `/api/calls/?${q}`,
      `/api/Calls?${q}`,
      `/api/calls/export.csv?${q}`,
      `/api/calls/${callId}?${q}`,
      `/api/calls/${callId}/recording?${q}`,
      `/api/calls/${callId}/recording/?${q}`,
      `/api/calls/${callId}/recording-url?${q}`,
      `/api/analytics?${q}`,
      `/api/calls?${q}&sig=x&expires=1`,
      `/metrics?${q}`,
      `/metrics/?${q}`,
    ]) {
      const res = await get(t.baseUrl, p);
      expect({ p, status: res.status }).toEqual({ p, status: 401 });
      expect(JSON.parse(res.body.toString()).error.code).toBe('unauthorized');
      expect(res.body.toString()).not.toContain('RIFF');
    }
    // A POST with the token in the URL writes nothing.
    await request(t.baseUrl).post(`/api/calls/${callId}/notes?${q}`).send({ notes: 'via url' }).expect(401);
    expect((await t.sb.db.call.findUniqueOrThrow({ where: { id: callId } })).notes).toBeNull();
    // The same routes with the header work.
    await request(t.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN}`).expect(200);
    await request(t.baseUrl).get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200);
  });

  it('opens the SSE stream with ?access_token=, not with a wrong one or a repeated parameter', async () => {
    const ok = await connectSse(`${t.baseUrl}/api/status?access_token=${TOKEN}`);
    try {
      expect(ok.status).toBe(200);
      await ok.waitFor((m) => m.event === 'snapshot');
    } finally {
      ok.close();
    }
    for (const query of ['access_token=wrong-token-000000000000', `access_token=${TOKEN}&access_token=${TOKEN}`]) {
      const res = await get(t.baseUrl, `/api/status?${query}`);
      expect(res.status).toBe(401);
    }
    // POST to the stream's path with the query token is no way round it either.
    expect((await request(t.baseUrl).post(`/api/status?access_token=${TOKEN}`)).status).toBe(401);
  });
});

describe('signed recording URLs', () => {
  let t: TestApp;
  let a: { id: string; wav: Buffer };
  let b: { id: string; wav: Buffer };
  const auth = { Authorization: `Bearer ${TOKEN}` };
  beforeAll(async () => {
    t = await startTestApp({ API_TOKENS: TOKEN, URL_SIGNING_SECRET: SECRET });
    a = await seedRecording(t, '2026-04-02T09:00:00Z');
    b = await seedRecording(t, '2026-04-02T10:00:00Z');
  });
  afterAll(() => t.close());

  const signedUrl = async (id: string): Promise<string> => {
    const res = await get(t.baseUrl, `/api/calls/${id}/recording-url`, auth);
    expect(res.status).toBe(200);
    return (JSON.parse(res.body.toString()) as { url: string }).url;
  };

  it('hands out a URL (token needed) that plays the recording without a token, seekable, for a few minutes', async () => {
    expect((await get(t.baseUrl, `/api/calls/${a.id}/recording-url`)).status).toBe(401);
    const res = await get(t.baseUrl, `/api/calls/${a.id}/recording-url`, auth);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = JSON.parse(res.body.toString()) as { url: string; expiresAt: string; expiresInSec: number };
    expect(body.url).toMatch(new RegExp(`^/api/calls/${a.id}/recording\\?expires=\\d+&sig=[A-Za-z0-9_-]{43}$`));
    expect(body.url).not.toContain(TOKEN);
    expect(body.expiresInSec).toBe(300);
    const left = Date.parse(body.expiresAt) - Date.now();
    expect(left).toBeGreaterThan(250_000);
    expect(left).toBeLessThanOrEqual(301_000);

    const whole = await get(t.baseUrl, body.url);
    expect(whole.status).toBe(200);
    expect(whole.headers['content-type']).toBe('audio/wav');
    expect(whole.body.equals(a.wav)).toBe(true);
    const part = await get(t.baseUrl, body.url, { Range: 'bytes=0-43' });
    expect(part.status).toBe(206);
    expect(part.body.equals(a.wav.subarray(0, 44))).toBe(true);
    const head = await get(t.baseUrl, body.url, {}, 'HEAD');
    expect(head.status).toBe(200);
    const download = await get(t.baseUrl, `${body.url}&download=true`);
    expect(download.status).toBe(200);
    expect(download.headers['content-disposition']).toBe(`attachment; filename="call-${a.id}.wav"`);
  });

  it("refuses another call's, an expired, a forged or a tampered signature", async () => {
    const urlA = await signedUrl(a.id);
    const { expires, sig } = Object.fromEntries(new URL(urlA, t.baseUrl).searchParams) as Record<string, string>;
    const flip = (s: string): string => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const signer = new UrlSigner(SECRET);
    const expired = new UrlSigner(SECRET, 300, () => Date.now() - 301_000).signRecording(a.id).url;
    const farFuture = new UrlSigner(SECRET, 86_400).signRecording(a.id).url;
    const otherKey = new UrlSigner('another-secret-of-at-least-32-characters!!').signRecording(a.id).url;
    for (const p of [
      `/api/calls/${b.id}/recording?expires=${expires}&sig=${sig}`, // A's signature on B
      expired,
      farFuture,
      otherKey,
      `/api/calls/${a.id}/recording?expires=${expires}&sig=${flip(sig)}`,
      `/api/calls/${a.id}/recording?expires=${Number(expires) + 1}&sig=${sig}`,
      `/api/calls/${a.id}/recording?expires=${expires}`,
      `/api/calls/${a.id}/recording?sig=${sig}`,
      `/api/calls/${a.id}/recording?expires=${expires}&sig=${sig}&sig=${sig}`,
      `/api/calls/${a.id}/recording?expires=${expires}&sig=${sig.slice(0, 20)}`,
      `/api/calls/${a.id}/recording?expires=-1&sig=${sig}`,
      `/api/calls/${a.id}/recording?expires=1e12&sig=${sig}`,
    ]) {
      const res = await get(t.baseUrl, p);
      expect({ p, status: res.status }).toEqual({ p, status: 401 });
      expect(res.body.toString()).not.toContain('RIFF');
    }
    // The real one still works, and the same signer (same secret) makes working URLs.
    expect((await get(t.baseUrl, urlA)).status).toBe(200);
    expect((await get(t.baseUrl, signer.signRecording(b.id).url)).status).toBe(200);
  });

  it('opens nothing but that recording: not the call, its notes, other routes or the URL endpoint', async () => {
    const urlA = await signedUrl(a.id);
    const query = urlA.slice(urlA.indexOf('?'));
    for (const p of [
      `/api/calls/${a.id}${query}`,
      `/api/calls/${a.id}/recording-url${query}`,
      `/api/calls${query}`,
      `/api/analytics${query}`,
      `/api/status${query}`,
      `/metrics${query}`,
    ]) {
      const res = await get(t.baseUrl, p);
      expect({ p, status: res.status }).toEqual({ p, status: 401 });
    }
    const post = await request(t.baseUrl).post(`/api/calls/${a.id}/notes${query}`).send({ notes: 'x' });
    expect(post.status).toBe(401);
    expect((await request(t.baseUrl).delete(`/api/calls/${a.id}/recording${query}`)).status).toBe(401);
  });

  it('answers 404 for a call without recording and an unknown call', async () => {
    const bare = await seedCall(t.sb, { startedAt: new Date('2026-04-03T09:00:00Z') });
    const none = await get(t.baseUrl, `/api/calls/${bare}/recording-url`, auth);
    expect(none.status).toBe(404);
    expect(JSON.parse(none.body.toString()).error.message).toBe('recording not found');
    const unknown = await get(t.baseUrl, '/api/calls/cnotacall0000000000000000/recording-url', auth);
    expect(JSON.parse(unknown.body.toString()).error.message).toBe('call not found');
  });
});

describe('the signing secret', () => {
  it('is random per process when URL_SIGNING_SECRET is unset: another server refuses the URL', async () => {
    const one = await startTestApp({ API_TOKENS: TOKEN });
    const two = await startTestApp({ API_TOKENS: TOKEN });
    try {
      const { id } = await seedRecording(one, '2026-04-04T09:00:00Z');
      expect(one.sb.config.http.urlSigningSecret).not.toBe(two.sb.config.http.urlSigningSecret);
      const res = await get(one.baseUrl, `/api/calls/${id}/recording-url`, { Authorization: `Bearer ${TOKEN}` });
      const { url } = JSON.parse(res.body.toString()) as { url: string };
      expect((await get(one.baseUrl, url)).status).toBe(200);
      expect((await get(two.baseUrl, url)).status).toBe(401);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('must be at least 32 characters when set', () => {
    expect(() => testConfig({ URL_SIGNING_SECRET: 'short' })).toThrow(ConfigError);
    expect(testConfig({ URL_SIGNING_SECRET: SECRET }).http.urlSigningSecret).toBe(SECRET);
  });

  it('without API_TOKENS the recording URL works too (the dashboard asks for one either way)', async () => {
    const open = await startTestApp();
    try {
      const { id, wav } = await seedRecording(open, '2026-04-05T09:00:00Z');
      const { url } = JSON.parse((await get(open.baseUrl, `/api/calls/${id}/recording-url`)).body.toString()) as {
        url: string;
      };
      const res = await get(open.baseUrl, url);
      expect(res.status).toBe(200);
      expect(res.body.equals(wav)).toBe(true);
    } finally {
      await open.close();
    }
  });
});
