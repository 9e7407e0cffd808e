import request from 'supertest';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { connectSse } from '../../scripts/lib/sse-client';

const TOKEN = 'test-token-0123456789abcdef';

describe('API token protection and the OpenAPI document', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ API_TOKENS: `other-token-000000000000,${TOKEN}` });
  });
  afterAll(() => t.close());

  it.each(['/api/calls', '/api/calls/export.csv', '/api/calls/cabc/recording', '/api/analytics', '/api/status'])(
    'answers 401 on %s without a token, and with a wrong one',
    async (path) => {
      const missing = await request(t.baseUrl).get(path).expect(401);
      expect(missing.body.error).toMatchObject({ code: 'unauthorized' });
      expect(missing.headers['www-authenticate']).toMatch(/^Bearer/);
      const wrong = await request(t.baseUrl)
        .get(path)
        .set('Authorization', 'Bearer not-the-token-000000000')
        .expect(401);
      expect(wrong.body.error).toEqual({ code: 'unauthorized', message: 'invalid API token' });
    },
  );

  it('refuses a POST without a token and writes nothing', async () => {
    const call = await t.sb.callManager.createCall({ from: '+15550000001' });
    await request(t.baseUrl).post(`/api/calls/${call.id}/notes`).send({ notes: 'sneaky' }).expect(401);
    expect((await t.sb.db.call.findUniqueOrThrow({ where: { id: call.id } })).notes).toBeNull();
    await request(t.baseUrl)
      .post(`/api/calls/${call.id}/notes`)
      .set('Authorization', `Bearer ${TOKEN}`)
      .send({ notes: 'ok' })
      .expect(200);
  });

  it('serves everything with a right token in the header; ?access_token= only on the SSE stream (EventSource)', async () => {
    const ok = await request(t.baseUrl).get('/api/calls').set('Authorization', `Bearer ${TOKEN}`).expect(200);
    expect(ok.body).toMatchObject({ limit: 20, offset: 0 });
    const inUrl = await request(t.baseUrl).get(`/api/analytics?access_token=${TOKEN}`).expect(401);
    expect(inUrl.body.error.message).toMatch(/accepted only on GET \/api\/status/);
    const denied = await connectSse(`${t.baseUrl}/api/status`);
    expect(denied.status).toBe(401);
    denied.close();
    const sse = await connectSse(`${t.baseUrl}/api/status?access_token=${TOKEN}`);
    try {
      expect(sse.status).toBe(200);
      await sse.waitFor((m) => m.event === 'snapshot');
    } finally {
      sse.close();
    }
  });

  it('serves an OpenAPI 3.1 document describing every route, and Swagger UI', async () => {
    // The description of the API is public (it holds no data): Swagger UI's own assets load without a token.
    const res = await request(t.baseUrl).get('/api/openapi.json').expect(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(res.body.info.version).toBe('0.1.0');
    expect(Object.keys(res.body.paths).sort()).toEqual(
      [
        '/analytics',
        '/audit',
        '/audit.csv',
        '/calls',
        '/calls/export.csv',
        '/calls/outbound',
        '/calls/{id}',
        '/calls/{id}/legal-hold',
        '/calls/{id}/notes',
        '/calls/{id}/recording',
        '/calls/{id}/recording-url',
        '/messages',
        '/openapi.json',
        '/privacy/erasure',
        '/privacy/export',
        '/status',
        '/web-calls',
        '/web-calls/offer',
        '/web-calls/profiles',
        '/calls/{id}/whisper',
        '/campaigns',
        '/campaigns/{id}',
        '/campaigns/{id}/cancel',
        '/campaigns/{id}/contacts',
        '/campaigns/{id}/pause',
        '/campaigns/{id}/results.csv',
        '/campaigns/{id}/resume',
        '/campaigns/{id}/start',
        '/do-not-call',
        '/do-not-call/{phone}',
        '/calls/{id}/listen',
        '/calls/{id}/take-over',
        '/alert-rules',
        '/alert-rules/{id}',
        '/webhooks',
        '/webhooks/{id}',
        '/webhooks/{id}/deliveries',
      ].sort(),
    );
    const listParams = res.body.paths['/calls'].get.parameters.map((p: { name: string }) => p.name);
    expect(listParams).toEqual(
      expect.arrayContaining([
        'limit',
        'offset',
        'caller',
        'agent',
        'status',
        'sentiment',
        'language',
        'startDate',
        'endDate',
        'q',
      ]),
    );
    expect(res.body.paths['/analytics'].get.description).toMatch(/p95LatencyMs/);
    // Every $ref resolves.
    const refs = JSON.stringify(res.body).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const r of refs) expect(res.body.components.schemas[r.split('/').pop() as string]).toBeDefined();
    const docs = await request(t.baseUrl).get('/api/docs/').expect(200);
    expect(docs.text).toContain('swagger-ui');
    const css = /href="\.\/(swagger-ui[^"]*\.css)"/.exec(docs.text)?.[1];
    expect(css).toBeDefined();
    await request(t.baseUrl).get(`/api/docs/${css}`).expect(200);
  });
});
