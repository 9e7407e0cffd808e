/**
 * Token roles over real HTTP: a legacy bare token keeps full access, a read-only token watches
 * (calls, SSE) but acts on nothing, supervisor routes need a supervisor or admin token; and the
 * whisper route against missing/forged tokens, other spellings, bad and huge bodies and floods.
 */
import request from 'supertest';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { connectSse } from '../../scripts/lib/sse-client';

const LEGACY = 'legacy-token-0123456789';
const VIEWER = 'viewer-token-0123456789';
const ALICE = 'alice-token-0123456789ab';
const ADMIN = 'admin-token-0123456789ab';

describe('API token roles', () => {
  let t: TestApp;
  let callId: string;
  beforeAll(async () => {
    t = await startTestApp({
      API_TOKENS: `${LEGACY},read-only:viewer:${VIEWER},supervisor:alice:${ALICE},admin:${ADMIN}`,
      API_RATE_LIMIT_PER_MIN: '100000',
    });
    callId = (await t.sb.callManager.createCall({ from: '+15550000001' })).id;
  });
  afterAll(() => t.close());

  const auth = (token: string): [string, string] => ['Authorization', `Bearer ${token}`];

  it('lets a read-only token read calls, analytics and the live stream', async () => {
    await request(t.baseUrl)
      .get('/api/calls')
      .set(...auth(VIEWER))
      .expect(200);
    await request(t.baseUrl)
      .get(`/api/calls/${callId}`)
      .set(...auth(VIEWER))
      .expect(200);
    await request(t.baseUrl)
      .get('/api/analytics')
      .set(...auth(VIEWER))
      .expect(200);
    const sse = await connectSse(`${t.baseUrl}/api/status?access_token=${VIEWER}`);
    try {
      expect(sse.status).toBe(200);
      await sse.waitFor((m) => m.event === 'snapshot');
    } finally {
      sse.close();
    }
  });

  it('refuses a read-only token every write, whatever the route or spelling, and writes nothing', async () => {
    for (const [method, path] of [
      ['post', `/api/calls/${callId}/notes`],
      ['post', `/api/Calls/${callId}/Notes/`],
      ['post', `/api/calls/${callId}/WHISPER/`],
      ['post', '/api/calls/outbound'],
      ['post', '/api/messages'],
      ['put', `/api/calls/${callId}/notes`],
      ['delete', `/api/calls/${callId}`],
      ['patch', '/api/calls'],
      ['post', `/api/calls/${callId}/whisper`],
    ] as const) {
      const res = await request(t.baseUrl)
        [method](path)
        .set(...auth(VIEWER))
        .send({ notes: 'sneaky', text: 'sneaky', to: '+15550001111', body: 'x' });
      expect([method, path, res.status]).toEqual([method, path, 403]);
      expect(res.body.error.code).toBe('forbidden');
      expect(res.body.error.message).toMatch(/read-only/);
    }
    // Outside the /api mount (another spelling of it) nothing answers at all.
    await request(t.baseUrl)
      .post(`/API/calls/${callId}/notes`)
      .set(...auth(VIEWER))
      .send({ notes: 'sneaky' })
      .expect(404);
    expect((await t.sb.db.call.findUniqueOrThrow({ where: { id: callId } })).notes).toBeNull();
  });

  it('keeps full access for a bare (legacy) token, and lets supervisors and admins write notes', async () => {
    for (const token of [LEGACY, ALICE, ADMIN]) {
      await request(t.baseUrl)
        .post(`/api/calls/${callId}/notes`)
        .set(...auth(token))
        .send({ notes: `by ${token.slice(0, 5)}` })
        .expect(200);
    }
    expect((await t.sb.db.call.findUniqueOrThrow({ where: { id: callId } })).notes).toBe('by admin');
  });

  it('answers 401 on the whisper route without a token, with a forged one, or with a token in the URL', async () => {
    const url = `/api/calls/${callId}/whisper`;
    const missing = await request(t.baseUrl).post(url).send({ text: 'hi' }).expect(401);
    expect(missing.body.error.code).toBe('unauthorized');
    await request(t.baseUrl)
      .post(url)
      .set(...auth(`${ALICE}x`))
      .send({ text: 'hi' })
      .expect(401);
    await request(t.baseUrl)
      .post(url)
      .set(...auth(`supervisor:alice:${ALICE}`))
      .send({ text: 'hi' })
      .expect(401);
    await request(t.baseUrl).post(`${url}?access_token=${ALICE}`).send({ text: 'hi' }).expect(401);
  });

  it('checks the whisper body: 400 naming the field, 413 for a huge body, 404 for a call that is not live', async () => {
    const url = `/api/calls/${callId}/whisper`;
    for (const body of [{}, { text: '' }, { text: '   ' }, { text: 42 }, { text: ['a'] }, { text: 'x'.repeat(1001) }]) {
      const res = await request(t.baseUrl)
        .post(url)
        .set(...auth(ALICE))
        .send(body)
        .expect(400);
      expect(res.body.error.field).toBe('text');
    }
    await request(t.baseUrl)
      .post(url)
      .set(...auth(ALICE))
      .set('Content-Type', 'application/json')
      .send('{"text": ')
      .expect(400);
    const huge = await request(t.baseUrl)
      .post(url)
      .set(...auth(ALICE))
      .send({ text: 'x'.repeat(200_000) })
      .expect(413);
    expect(huge.body.error.code).toBe('payload_too_large');
    // The call exists in the database but is not live on this instance.
    const notLive = await request(t.baseUrl)
      .post(url)
      .set(...auth(ALICE))
      .send({ text: 'offer the discount' })
      .expect(404);
    expect(notLive.body.error.message).toMatch(/live call/);
    // Express's usual matching: case-insensitive, optional trailing slash (the same route, the same checks).
    const spelled = await request(t.baseUrl)
      .post(`/api/Calls/${callId}/Whisper/`)
      .set(...auth(ALICE))
      .send({ text: 'offer the discount' })
      .expect(404);
    expect(spelled.body.error.message).toMatch(/live call/);
    await request(t.baseUrl)
      .post('/api/calls/no-such-call/whisper')
      .set(...auth(ADMIN))
      .send({ text: 'hello' })
      .expect(404);
    await request(t.baseUrl)
      .get(url)
      .set(...auth(ALICE))
      .expect(404);
    await request(t.baseUrl)
      .post(`${url}/extra`)
      .set(...auth(ALICE))
      .send({ text: 'hello' })
      .expect(404);
  });

  it('survives a flood of whispers with clear answers', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, () =>
        request(t.baseUrl)
          .post(`/api/calls/${callId}/whisper`)
          .set(...auth(ALICE))
          .send({ text: 'hello' })
          .then((r) => r.status),
      ),
    );
    expect(new Set(results)).toEqual(new Set([404]));
    await request(t.baseUrl).get('/health').expect(200);
  });
});
