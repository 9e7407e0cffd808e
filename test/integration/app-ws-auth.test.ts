/**
 * Who may open the app WebSockets, decided before the socket opens: API tokens in the header only,
 * single-use session tokens (header or ?session_token=), the connection cap, and exact paths.
 */
import net from 'node:net';
import { startAppWsServer, TestClient, type AppWsServer } from '../helpers/app-ws-server';
import { SessionTokens } from '../../src/channels/webrtc/session-token';

const TOKEN = 'app-ws-test-token-0123456789';
const READ_ONLY = 'app-ws-read-only-token-0123456789';
let server: AppWsServer;
let sessions: SessionTokens;
let nowMs = Date.now();
const clients: TestClient[] = [];

beforeEach(async () => {
  nowMs = Date.now();
  sessions = new SessionTokens('app-ws-test-signing-secret-0123456789abcdef', () => nowMs);
  server = await startAppWsServer({
    apiTokens: [TOKEN, READ_ONLY],
    apiTokenEntries: [
      { token: TOKEN, role: 'supervisor', name: 'app' },
      { token: READ_ONLY, role: 'read-only', name: 'wallboard' },
    ],
    maxConnections: 3,
    sessions,
  });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.close();
});

async function open(path: string, headers: Record<string, string> = {}): Promise<TestClient> {
  const client = await TestClient.open(`${server.wsUrl}${path}`, headers);
  clients.push(client);
  return client;
}

async function refusal(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  try {
    await open(path, headers);
  } catch (err) {
    const e = err as { status?: number; body?: string };
    if (e.status) return { status: e.status, body: e.body ?? '' };
    throw err;
  }
  throw new Error(`${path} was accepted`);
}

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('app WebSocket authentication and limits', () => {
  test.each(['/ws', '/voice-gateway'])(
    '%s refuses a read-only API token with 403 before the socket opens',
    async (path) => {
      const res = await refusal(path, bearer(READ_ONLY));
      expect(res.status).toBe(403);
      expect(res.body).toMatch(/read-only/);
      expect(server.conversations).toHaveLength(0);
    },
  );

  test.each(['/ws', '/voice-gateway'])('%s opens with the API token in the Authorization header', async (path) => {
    const client = await open(path, bearer(TOKEN));
    client.send({ type: 'ping' });
    await client.waitForType('pong');
  });

  test.each([
    ['no credential', '/ws', {}],
    ['a wrong token', '/ws', bearer('wrong-token-0123456789')],
    ['the API token in ?access_token=', `/ws?access_token=${TOKEN}`, {}],
    ['the API token in ?token=', `/voice-gateway?token=${TOKEN}`, {}],
    ['the API token as ?session_token=', `/ws?session_token=${TOKEN}`, {}],
    ['a malformed session token', '/ws?session_token=wcs1.never-minted', {}],
    ['two session tokens', '/ws?session_token=wcs1.a&session_token=wcs1.b', {}],
  ])('%s: 401 JSON before the socket opens', async (_name, path, headers) => {
    const { status, body } = await refusal(path as string, headers as Record<string, string>);
    expect(status).toBe(401);
    expect(JSON.parse(body)).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    expect(server.conversations).toHaveLength(0);
  });

  test('a session token signed with another key, or with its claims edited, is 401', async () => {
    const foreign = new SessionTokens('another-secret-entirely-0123456789abcdef').mint('default').token;
    expect((await refusal(`/ws?session_token=${foreign}`)).status).toBe(401);
    const { token } = sessions.mint('default');
    const [prefix, payload, mac] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const edited = Buffer.from(JSON.stringify({ ...claims, p: 'admin' })).toString('base64url');
    expect((await refusal(`/ws?session_token=${prefix}.${edited}.${mac}`)).status).toBe(401);
    expect(server.module.counters.refused['session-forged']).toBe(2);
  });

  test('an expired session token is 401', async () => {
    const { token } = sessions.mint('default', 10);
    nowMs += 11_000;
    const { status, body } = await refusal(`/voice-gateway?session_token=${token}`);
    expect(status).toBe(401);
    expect(body).toMatch(/expired/);
  });

  test('a session token opens one socket (query or header), bound to its profile and language, and never a second', async () => {
    const { token } = sessions.mint('sales', 300, 'ar');
    const client = await open(`/voice-gateway?session_token=${encodeURIComponent(token)}`);
    client.send({ type: 'init', callId: 'w1', languageHint: 'auto' });
    await client.waitForType('ready');
    expect(server.conversations[0].request).toEqual({ mode: 'voice', profile: 'sales', languageHint: 'ar' });
    expect(server.conversations[0].start.parameters.auth).toBe('session-token');
    expect((await refusal(`/voice-gateway?session_token=${token}`)).status).toBe(401);
    expect((await refusal('/ws', bearer(token))).status).toBe(401);
    const { token: other } = sessions.mint('default');
    const viaHeader = await open('/ws', bearer(other));
    viaHeader.send({ type: 'ping' });
    await viaHeader.waitForType('pong');
  });

  test('the connection cap: one more socket gets 503 before opening, and a slot frees when one closes', async () => {
    const open3 = [
      await open('/ws', bearer(TOKEN)),
      await open('/ws', bearer(TOKEN)),
      await open('/voice-gateway', bearer(TOKEN)),
    ];
    expect((await refusal('/ws', bearer(TOKEN))).status).toBe(503);
    // A full server spends no session token.
    const { token } = sessions.mint('default');
    expect((await refusal(`/ws?session_token=${token}`)).status).toBe(503);
    await open3[0].close();
    await until(() => server.module.counters.connections === 2);
    const again = await open(`/ws?session_token=${token}`);
    again.send({ type: 'ping' });
    await again.waitForType('pong');
    expect(server.module.counters.refused.capacity).toBe(2);
  });

  test.each([
    '/WS',
    '/ws/',
    '//ws',
    '/ws/x',
    '/Voice-gateway',
    '/voice-gateway/',
    '/voice_gateway',
    '/app-ws/ws',
    '/%77s',
  ])('other spelling %s: 404 before any authentication', async (path) => {
    expect((await refusal(path, bearer(TOKEN))).status).toBe(404);
  });

  test('a plain HTTP GET of /ws is not a WebSocket: 404 JSON, nothing opened', async () => {
    const res = await fetch(`${server.url}/ws`, { headers: bearer(TOKEN) });
    expect(res.status).toBe(404);
    expect(server.module.counters.accepted).toBe(0);
  });

  test('a half-open upgrade request without a key never reaches the channel', async () => {
    const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    );
    const answer = await new Promise<string>((resolve) => {
      let data = '';
      socket.on('data', (c: Buffer) => (data += c.toString()));
      const timer = setTimeout(() => socket.destroy(), 2000);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(data);
      });
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(server.module.counters.accepted).toBe(0);
  });

  test('an idle socket is closed after the idle timeout with an idle_timeout error; messages keep it open', async () => {
    await server.close();
    server = await startAppWsServer({ timing: { idleTimeoutMs: 600, heartbeatMs: 60_000 } });
    const idle = await open('/ws');
    const busy = await open('/ws');
    const keepAlive = setInterval(() => busy.send({ type: 'ping' }), 150);
    try {
      await idle.waitFor(() => idle.closed, 3000);
      expect(idle.closed?.code).toBe(1000);
      expect(idle.ofType('error')).toEqual([expect.objectContaining({ code: 'idle_timeout' })]);
      expect(busy.closed).toBeUndefined();
    } finally {
      clearInterval(keepAlive);
    }
  });

  test('a peer that stops answering pings is dropped', async () => {
    await server.close();
    server = await startAppWsServer({ timing: { idleTimeoutMs: 60_000, heartbeatMs: 200 } });
    const client = await open('/voice-gateway');
    // The client's socket stops reading: no pong goes back.
    (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await until(() => server.module.counters.protocolErrors.heartbeat === 1);
    expect(server.module.counters.protocolErrors.heartbeat).toBe(1);
    // terminate() destroys the socket; its 'close' (and the count) follows a tick or more later.
    await until(() => server.module.counters.connections === 0);
    expect(server.module.counters.connections).toBe(0);
    (client.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await client.waitFor(() => client.closed, 3000);
  });
});
