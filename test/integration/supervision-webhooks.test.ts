/**
 * Outgoing webhooks against real receivers over HTTP: a whole call's events arrive signed
 * (HMAC-SHA256 over "<t>.<body>", checked by the receiver), a failed delivery is retried with backoff
 * and logged, call.ended carries the analytics, and a receiver that never answers does not hold up
 * the call. The routes against missing/forged/weak tokens and bad or huge bodies.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import request from 'supertest';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const ADMIN = 'admin-token-0123456789ab';
const SUPERVISOR = 'super-token-0123456789ab';
const VIEWER = 'viewer-token-0123456789';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

function verify(secret: string, header: string | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  if (Math.abs(Date.now() / 1000 - Number(m[1])) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2], 'hex'));
}

async function startReceiver(answer: (r: Omit<Received, 'status'>) => number | 'hang') {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const status = answer(r);
      if (status === 'hang') return;
      received.push({ ...r, status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    received,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/switchboard`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('outgoing webhooks', () => {
  let h: BridgeHarness;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let hanging: Awaited<ReturnType<typeof startReceiver>>;
  let failedOnce = false;

  beforeAll(async () => {
    receiver = await startReceiver((r) => {
      if (!failedOnce && r.headers['x-switchboard-event'] === 'call.started') {
        failedOnce = true;
        return 500;
      }
      return 200;
    });
    hanging = await startReceiver(() => 'hang');
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hello, how can I help?', 'Sure.'], callerTranscripts: ['I need my invoice'] },
      { API_TOKENS: `admin:${ADMIN},supervisor:${SUPERVISOR},read-only:${VIEWER}` },
    );
  });
  afterAll(async () => {
    await hanging.close();
    await h.close();
    await receiver.close();
  });

  const admin = (): [string, string] => ['Authorization', `Bearer ${ADMIN}`];

  it('refuses subscriptions without an admin token, and bad or huge bodies', async () => {
    const body = { url: receiver.url, events: ['call.started'] };
    await request(h.t.baseUrl).post('/api/webhooks').send(body).expect(401);
    await request(h.t.baseUrl).post('/api/webhooks').set('Authorization', `Bearer ${ADMIN}x`).send(body).expect(401);
    for (const token of [VIEWER, SUPERVISOR])
      await request(h.t.baseUrl).post('/api/webhooks').set('Authorization', `Bearer ${token}`).send(body).expect(403);
    await request(h.t.baseUrl).get('/api/webhooks').set('Authorization', `Bearer ${SUPERVISOR}`).expect(403);
    for (const [bad, field] of [
      [{ url: 'ftp://example.com/x', events: ['call.started'] }, 'url'],
      [{ url: 'not a url', events: ['call.started'] }, 'url'],
      [{ url: 'http://user:pw@example.com/', events: ['call.started'] }, 'url'],
      [{ url: receiver.url, events: [] }, 'events'],
      [{ url: receiver.url, events: ['call.deleted'] }, 'events'],
      [{ url: receiver.url }, 'events'],
    ] as const) {
      const res = await request(h.t.baseUrl)
        .post('/api/webhooks')
        .set(...admin())
        .send(bad)
        .expect(400);
      expect(res.body.error.field).toBe(field);
    }
    await request(h.t.baseUrl)
      .post('/api/webhooks')
      .set(...admin())
      .send({ url: receiver.url, events: ['call.started'], pad: 'x'.repeat(20_000) })
      .expect(413);
    await request(h.t.baseUrl)
      .delete('/api/webhooks/wh_nope')
      .set(...admin())
      .expect(404);
    const list = await request(h.t.baseUrl)
      .get('/api/webhooks')
      .set(...admin())
      .expect(200);
    expect(list.body.subscriptions).toEqual([]);
  });

  it('delivers a call’s events signed, retries a failure with backoff, and never holds up the call', async () => {
    const created = await request(h.t.baseUrl)
      .post('/api/webhooks')
      .set(...admin())
      .send({ url: receiver.url, events: ['call.started', 'call.ended', 'transcript.added', 'alert.fired'] })
      .expect(201);
    const { id, secret } = created.body as { id: string; secret: string };
    expect(secret).toMatch(/^whsec_/);
    // A second subscriber that never answers: deliveries to it time out in the background.
    await request(h.t.baseUrl)
      .post('/api/webhooks')
      .set(...admin())
      .send({ url: hanging.url, events: ['call.started', 'transcript.added'] })
      .expect(201);
    const listed = await request(h.t.baseUrl)
      .get('/api/webhooks')
      .set(...admin())
      .expect(200);
    expect(listed.body.subscriptions).toHaveLength(2);
    expect(JSON.stringify(listed.body)).not.toContain('whsec_');

    const handle = h.call({
      script: [{ untilAgentSilentMs: 500 }, { say: 'I need my invoice' }, { untilAgentSilentMs: 500 }],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.closedBy).toBe('caller');

    const ended = await eventually(
      () => receiver.received.find((r) => r.headers['x-switchboard-event'] === 'call.ended'),
      25000,
    );
    const payload = JSON.parse(ended.body) as { type: string; data: { call: { callSid: string }; analytics: unknown } };
    expect(payload.type).toBe('call.ended');
    expect(payload.data.call.callSid).toBe(summary.callSid);
    expect(payload.data.analytics).not.toBeNull();

    for (const r of receiver.received) {
      expect(verify(secret, r.headers['x-switchboard-signature'] as string, r.body)).toBe(true);
      expect(verify('whsec_forged', r.headers['x-switchboard-signature'] as string, r.body)).toBe(false);
      expect(verify(secret, r.headers['x-switchboard-signature'] as string, `${r.body} `)).toBe(false);
      expect(JSON.parse(r.body).type).toBe(r.headers['x-switchboard-event']);
    }
    const starts = receiver.received.filter((r) => r.headers['x-switchboard-event'] === 'call.started');
    expect(starts.map((r) => r.status)).toEqual([500, 200]);
    // The retry is the same delivery (same id and body), a fresh signature.
    expect(starts[1].headers['x-switchboard-delivery']).toBe(starts[0].headers['x-switchboard-delivery']);
    expect(starts[1].body).toBe(starts[0].body);
    const texts = receiver.received
      .filter((r) => r.headers['x-switchboard-event'] === 'transcript.added')
      .map((r) => (JSON.parse(r.body) as { data: { transcript: { text: string } } }).data.transcript.text);
    expect(texts).toContain('I need my invoice');

    const log = await request(h.t.baseUrl)
      .get(`/api/webhooks/${id}/deliveries`)
      .set(...admin())
      .expect(200);
    const startLog = (log.body.deliveries as { event: string; attempt: number; ok: boolean; status: number }[])
      .filter((d) => d.event === 'call.started')
      .reverse();
    expect(startLog.map((d) => [d.attempt, d.ok, d.status])).toEqual([
      [1, false, 500],
      [2, true, 200],
    ]);
    await request(h.t.baseUrl)
      .delete(`/api/Webhooks/${id}/`)
      .set(...admin())
      .expect(204);
  });
});
