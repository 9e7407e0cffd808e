/**
 * POST /api/web-calls and /api/web-calls/offer under attack, on a real HTTP server with API tokens
 * set: missing, wrong, forged, malformed, expired and replayed credentials; a session token used
 * for another profile or to mint more; huge and malformed SDP and bodies; a flood of offers past
 * the connection cap. Every refusal is a clear status with a JSON error, counted by reason; the
 * server answers normally afterwards.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { createLogger } from '../../src/logging/logger';
import { errorHandler, notFoundHandler } from '../../src/http/errors';
import { createWebCallsRouter, type WebCallsRouter } from '../../src/channels/webrtc/routes';
import { SessionTokens } from '../../src/channels/webrtc/session-token';
import { collectWrtcGarbage, TestPeer } from '../helpers/webrtc-peer';

const logger = createLogger({ level: 'error', json: true, silent: true });
const API_TOKEN = 'tok-'.padEnd(40, 'x');
const READ_ONLY_TOKEN = 'ro-'.padEnd(40, 'y');

describe('web calls: authentication, limits and floods', () => {
  let server: Server;
  let base: string;
  let router: WebCallsRouter;
  let nowMs = Date.now();
  let offerSdp: string;
  const peer = { current: undefined as TestPeer | undefined };
  let started = 0;

  beforeAll(async () => {
    router = createWebCallsRouter({
      apiTokens: [API_TOKEN, READ_ONLY_TOKEN],
      apiTokenEntries: [
        { token: API_TOKEN, role: 'admin', name: 'ops' },
        { token: READ_ONLY_TOKEN, role: 'read-only', name: 'wallboard' },
      ],
      sessions: new SessionTokens('s'.repeat(40), () => nowMs),
      hasProfile: (name) => name === 'default' || name === 'billing',
      logger,
      maxCalls: 3,
      peer: { connectTimeoutMs: 60_000 },
      startCall: () => Promise.resolve({ callId: `call-${++started}` }),
    });
    const app = express();
    app.use('/api/web-calls', router);
    app.use(notFoundHandler);
    app.use(errorHandler(logger));
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    peer.current = new TestPeer();
    offerSdp = await peer.current.offer();
  });

  afterEach(() => {
    router.closeAll('test-over');
  });

  afterAll(async () => {
    peer.current?.close();
    peer.current = undefined;
    await new Promise((r) => server.close(r));
    await collectWrtcGarbage();
  });

  async function post(
    path: string,
    body: unknown,
    token?: string,
    raw?: string,
  ): Promise<{
    status: number;
    body: { error?: { code: string; message: string; field?: string } } & Record<string, unknown>;
    headers: Headers;
  }> {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: raw ?? JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as never, headers: res.headers };
  }

  async function mint(extra: Record<string, unknown> = {}): Promise<string> {
    const res = await post('/api/web-calls', { profile: 'default', ...extra }, API_TOKEN);
    expect(res.status).toBe(201);
    return res.body.token as string;
  }

  it('lets a read-only token list profiles but neither mint a session nor start a call (403)', async () => {
    const profiles = await fetch(`${base}/api/web-calls/profiles`, {
      headers: { authorization: `Bearer ${READ_ONLY_TOKEN}` },
    });
    expect(profiles.status).toBe(200);
    const minted = await post('/api/web-calls', { profile: 'default' }, READ_ONLY_TOKEN);
    expect(minted.status).toBe(403);
    expect(minted.body.error?.message).toMatch(/read-only/);
    const before = started;
    const offered = await post('/api/web-calls/offer', { type: 'offer', sdp: offerSdp }, READ_ONLY_TOKEN);
    expect(offered.status).toBe(403);
    expect(started).toBe(before);
  });

  it('mints session tokens only for an API token, with checked fields', async () => {
    expect((await post('/api/web-calls', {})).status).toBe(401);
    expect((await post('/api/web-calls', {}, 'wrong-token-wrong-token')).status).toBe(401);
    const res = await post('/api/web-calls', { profile: 'billing', ttlSec: 60, languageHint: 'pt-BR' }, API_TOKEN);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ profile: 'billing', languageHint: 'pt-BR', offerUrl: '/api/web-calls/offer' });
    expect(res.body.token).toMatch(/^wcs1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(res.body.expiresAt as string) - nowMs).toBeLessThanOrEqual(61_000);
    // A session token cannot mint more.
    const again = await post('/api/web-calls', { profile: 'billing' }, res.body.token as string);
    expect(again.status).toBe(401);
    expect(again.body.error?.code).toBe('unauthorized');
    for (const [body, field] of [
      [{ profile: 'nobody' }, 'profile'],
      [{ profile: 'x'.repeat(65) }, 'profile'],
      [{ ttlSec: 99_999 }, 'ttlSec'],
      [{ ttlSec: 1.5 }, 'ttlSec'],
      [{ languageHint: 'english please' }, 'languageHint'],
      [{ languageHint: 7 }, 'languageHint'],
    ] as const) {
      const bad = await post('/api/web-calls', body, API_TOKEN);
      expect(bad.status).toBe(400);
      expect(bad.body.error?.field).toBe(field);
    }
    expect((await post('/api/web-calls', [1, 2], API_TOKEN)).body.error?.code).toBe('invalid_body');
    const broken = await post('/api/web-calls', undefined, API_TOKEN, '{"profile":');
    expect(broken.status).toBe(400);
    expect(broken.body.error?.code).toBe('invalid_body');
  });

  it('answers an offer for a fresh session token once; forged, malformed, expired and replayed tokens get 401', async () => {
    const token = await mint();
    const ok = await post('/api/web-calls/offer', { type: 'offer', sdp: offerSdp }, token);
    expect(ok.status).toBe(200);
    expect(ok.body.type).toBe('answer');
    router.closeAll('next');

    const replay = await post('/api/web-calls/offer', { sdp: offerSdp }, token);
    expect(replay.status).toBe(401);
    expect(replay.body.error?.message).toMatch(/replayed/);

    const fresh = await mint();
    const sig = fresh.slice(-43);
    const forgedSig = fresh.slice(0, -43) + (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    // Claims changed (another profile) with the old signature.
    const [, payload] = fresh.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const swapped = `wcs1.${Buffer.from(JSON.stringify({ ...claims, p: 'billing' })).toString('base64url')}.${sig}`;
    for (const [bad, reason] of [
      [forgedSig, 'forged'],
      [swapped, 'forged'],
      ['wcs1.abc', 'malformed'],
      [`wcs1.${'A'.repeat(5000)}.${sig}`, 'malformed'],
    ] as const) {
      const res = await post('/api/web-calls/offer', { sdp: offerSdp }, bad);
      expect(res.status).toBe(401);
      expect(res.body.error?.message).toContain(reason);
    }
    nowMs += 301_000; // default TTL is 300 s
    const expired = await post('/api/web-calls/offer', { sdp: offerSdp }, fresh);
    expect(expired.status).toBe(401);
    expect(expired.body.error?.message).toMatch(/expired/);
    expect(router.refusals).toMatchObject({
      'session-replayed': 1,
      'session-forged': 2,
      'session-malformed': 2,
      'session-expired': 1,
    });
    expect((await post('/api/web-calls/offer', { sdp: offerSdp })).status).toBe(401);
    expect((await post('/api/web-calls/offer', { sdp: offerSdp }, 'not-the-token-at-all')).status).toBe(401);
  });

  it('keeps a session token to its profile', async () => {
    const token = await mint();
    const res = await post('/api/web-calls/offer', { sdp: offerSdp, profile: 'billing' }, token);
    expect(res.status).toBe(403);
    expect(res.body.error?.code).toBe('forbidden');
    // The refusal did not spend the token.
    expect((await post('/api/web-calls/offer', { sdp: offerSdp, profile: 'default' }, token)).status).toBe(200);
  });

  it('refuses huge, malformed and unusable SDP and bodies with clear errors', async () => {
    const huge = await post('/api/web-calls/offer', { sdp: `v=0\r\n${'a=x\r\n'.repeat(4000)}` }, API_TOKEN);
    expect(huge.status).toBe(413);
    expect(huge.body.error?.field).toBe('sdp');
    const tooBig = await post('/api/web-calls/offer', { sdp: 'x'.repeat(100_000) }, API_TOKEN);
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error?.code).toBe('payload_too_large');
    const cases: [unknown, RegExp][] = [
      [{}, /non-empty string/],
      [{ sdp: 42 }, /non-empty string/],
      [{ sdp: 'hello' }, /v=0/],
      [{ sdp: 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fingerprint:sha-256 AA\r\n' }, /m=audio/],
      [{ sdp: 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n' }, /fingerprint/],
      [{ sdp: 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 AA\r\n\u0000' }, /control characters/],
      [{ sdp: 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 AA\r\n' }, /refused|no audio/],
      [{ sdp: offerSdp, type: 'answer' }, /must be "offer"/],
      [{ sdp: offerSdp.replace(/a=sendrecv/g, 'a=recvonly') }, /no audio the browser sends/],
    ];
    for (const [body, message] of cases) {
      const res = await post('/api/web-calls/offer', body, API_TOKEN);
      expect(res.status).toBe(400);
      expect(res.body.error?.message).toMatch(message);
    }
    expect(router.active.size).toBe(0);
  });

  it('holds the connection cap under a flood of offers and keeps answering', async () => {
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        i % 3 === 0
          ? post('/api/web-calls/offer', { sdp: 'garbage' }, API_TOKEN)
          : i % 3 === 1
            ? post('/api/web-calls/offer', { sdp: offerSdp }, 'forged-forged-forged')
            : post('/api/web-calls/offer', { sdp: offerSdp }, API_TOKEN),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBe(3);
    expect(statuses.filter((s) => s === 503).length).toBe(5);
    expect(statuses.filter((s) => s === 400).length).toBe(8);
    expect(statuses.filter((s) => s === 401).length).toBe(8);
    for (const r of results) expect(r.status === 200 || typeof r.body.error?.message === 'string').toBe(true);
    const busy = results.find((r) => r.status === 503)!;
    expect(busy.headers.get('retry-after')).toBe('5');
    expect(router.active.size).toBe(3);
    router.closeAll('flood-over');
    expect(router.active.size).toBe(0);
    expect((await post('/api/web-calls/offer', { sdp: offerSdp }, API_TOKEN)).status).toBe(200);
  });

  it('counts offers still negotiating against the cap (simultaneous valid offers never overshoot it)', async () => {
    // All at once: each negotiation takes milliseconds, so later offers are checked while earlier
    // ones are still pending; the cap (3) must hold for those too, not only for answered calls.
    const results = await Promise.all(
      Array.from({ length: 8 }, () => post('/api/web-calls/offer', { sdp: offerSdp }, API_TOKEN)),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 503, 503, 503, 503, 503]);
    expect(router.active.size).toBe(3);
  });

  it('does not answer other spellings of the routes', async () => {
    expect((await post('/api/web-calls/Offer', { sdp: offerSdp }, API_TOKEN)).status).toBe(404);
    expect((await post('/api/web-calls/offer/', { sdp: offerSdp }, API_TOKEN)).status).toBe(404);
    expect((await post('/api/web-calls/offer/x', { sdp: offerSdp }, API_TOKEN)).status).toBe(404);
    const get = await fetch(`${base}/api/web-calls/offer`);
    expect(get.status).toBe(404);
    await get.text();
  });
});
