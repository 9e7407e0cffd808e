import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { connectSse, type SseConnection } from '../../scripts/lib/sse-client';
import { createApiRouter } from '../../src/http/api-router';
import type { LiveCallStats } from '../../src/events/event-bus';
import type { CallHandle } from '../../src/simulators/twilio-caller';

describe('GET /api/status (Server-Sent Events)', () => {
  let t: TestApp;
  const open: SseConnection[] = [];
  const connect = async (query = '', headers: Record<string, string> = {}): Promise<SseConnection> => {
    const conn = await connectSse(`${t.baseUrl}/api/status${query}`, headers);
    open.push(conn);
    return conn;
  };
  const stats = (callId: string, n: number) =>
    t.sb.callManager.publishStats(callId, {
      interruptions: n,
      latencyLastMs: null,
      latencyAvgMs: null,
      aiReconnects: 0,
    });
  const waitForListeners = async (count: number): Promise<void> => {
    for (let i = 0; i < 200 && t.sb.bus.listenerCount !== count; i++) await new Promise((r) => setTimeout(r, 10));
    expect(t.sb.bus.listenerCount).toBe(count);
  };

  // The app's own bus listeners (not SSE clients), counted before any client connects.
  let baseListeners = 0;
  beforeAll(async () => {
    t = await startTestApp();
    baseListeners = t.sb.bus.listenerCount;
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  afterAll(() => t.close());

  it('sends the SSE headers, a retry delay and a snapshot of the active calls', async () => {
    const call = await t.sb.callManager.createCall({ from: '+15550000001', callSid: 'CAsnapshot' });
    const conn = await connect();
    expect(conn.status).toBe(200);
    expect(conn.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(conn.headers['cache-control']).toMatch(/^no-cache/);
    expect(conn.headers['x-accel-buffering']).toBe('no');
    const snapshot = await conn.waitFor((m) => m.event === 'snapshot');
    expect(conn.retryMs).toBe(2000);
    expect(snapshot.id).toBe(String(t.sb.bus.lastId));
    const data = snapshot.json as { activeCalls: { id: string; callSid: string }[]; lastEventId: number };
    expect(data.activeCalls.map((c) => c.id)).toContain(call.id);
    expect(data.lastEventId).toBe(t.sb.bus.lastId);
    await t.sb.callManager.endCall(call.id, { reason: 'caller-hangup' });
  });

  it('puts the last call.stats of each active call in the snapshot, and drops it when the call ends', async () => {
    const call = await t.sb.callManager.createCall({ from: '+15550000009', callSid: 'CAsnapstats' });
    const quiet = await t.sb.callManager.createCall({ from: '+15550000010', callSid: 'CAsnapquiet' });
    stats(call.id, 1);
    t.sb.callManager.publishStats(call.id, {
      interruptions: 2,
      latencyLastMs: 480,
      latencyAvgMs: 455,
      aiReconnects: 1,
    });
    const conn = await connect();
    const snap = (await conn.waitFor((m) => m.event === 'snapshot')).json as {
      stats: Record<string, LiveCallStats>;
    };
    // The latest figures; a call that has none yet is left out.
    expect(snap.stats[call.id]).toEqual({ interruptions: 2, latencyLastMs: 480, latencyAvgMs: 455, aiReconnects: 1 });
    expect(snap.stats).not.toHaveProperty(quiet.id);

    await t.sb.callManager.endCall(call.id, { reason: 'caller-hangup' });
    stats('not-a-call', 1);
    const after = (await (await connect()).waitFor((m) => m.event === 'snapshot')).json as {
      stats: Record<string, LiveCallStats>;
    };
    expect(after.stats).toEqual({});
    await t.sb.callManager.endCall(quiet.id, { reason: 'caller-hangup' });
  });

  it('streams every bus event live with its id, type and JSON data', async () => {
    const conn = await connect();
    await conn.waitFor((m) => m.event === 'snapshot');
    const call = await t.sb.callManager.createCall({ from: '+15550000002' });
    t.sb.callManager.addTranscript(call.id, { speaker: 'caller', text: 'hello\nthere', startMs: 100 });
    await t.sb.callManager.endCall(call.id, { reason: 'caller-hangup' });
    const ended = await conn.waitFor((m) => m.event === 'call.ended');
    const live = conn.messages.filter((m) => m.event !== 'snapshot');
    expect(live.map((m) => m.event)).toEqual(['call.started', 'transcript.added', 'call.ended']);
    const ids = live.map((m) => Number(m.id));
    expect(ids).toEqual([ids[0], ids[0] + 1, ids[0] + 2]);
    expect(live[1].json).toMatchObject({
      id: ids[1],
      type: 'transcript.added',
      data: { callId: call.id, transcript: { text: 'hello\nthere', speaker: 'caller' } },
    });
    expect((ended.json as { data: { call: { id: string; status: string } } }).data.call).toMatchObject({
      id: call.id,
      status: 'completed',
    });
  });

  it('replays exactly what a reconnecting client missed (Last-Event-ID), then continues live', async () => {
    const first = await connect();
    await first.waitFor((m) => m.event === 'snapshot');
    stats('c1', 1);
    const seen = await first.waitFor(
      (m) => (m.json as { data?: { stats?: { interruptions: number } } }).data?.stats?.interruptions === 1,
    );
    first.close();
    stats('c1', 2);
    stats('c1', 3);
    const again = await connect('', { 'Last-Event-ID': seen.id as string });
    await again.waitFor((m) => Number(m.id) === Number(seen.id) + 2);
    stats('c1', 4);
    await again.waitFor((m) => Number(m.id) === Number(seen.id) + 3);
    expect(again.messages.map((m) => m.event)).toEqual(['call.stats', 'call.stats', 'call.stats']);
    expect(again.messages.map((m) => Number(m.id))).toEqual([
      Number(seen.id) + 1,
      Number(seen.id) + 2,
      Number(seen.id) + 3,
    ]);
    expect(
      again.messages.map((m) => (m.json as { data: { stats: { interruptions: number } } }).data.stats.interruptions),
    ).toEqual([2, 3, 4]);
  });

  it('accepts ?lastEventId= for clients that cannot set headers', async () => {
    const before = t.sb.bus.lastId;
    stats('c2', 1);
    const conn = await connect(`?lastEventId=${before}`);
    const replayed = await conn.waitFor((m) => m.event === 'call.stats');
    expect(Number(replayed.id)).toBe(before + 1);
    expect(conn.messages.some((m) => m.event === 'snapshot')).toBe(false);
  });

  it('sends a snapshot instead when the missed events are no longer kept, or the id is from the future', async () => {
    const oldId = t.sb.bus.lastId;
    for (let i = 0; i < 5001; i++) stats('c3', i);
    const tooOld = await connect('', { 'Last-Event-ID': String(oldId) });
    const snap = await tooOld.waitFor((m) => m.event === 'snapshot');
    expect(Number(snap.id)).toBe(t.sb.bus.lastId);
    expect(tooOld.messages.filter((m) => m.event === 'call.stats')).toHaveLength(0);
    const future = await connect('', { 'Last-Event-ID': String(t.sb.bus.lastId + 1000) });
    await future.waitFor((m) => m.event === 'snapshot');
  });

  it('refuses a malformed lastEventId with a 400', async () => {
    const res = await request(t.baseUrl).get('/api/status?lastEventId=abc').expect(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_parameter', field: 'lastEventId' });
    await request(t.baseUrl).get('/api/status').set('Last-Event-ID', '-5').expect(400);
  });

  it('unsubscribes from the bus when the client goes away', async () => {
    await waitForListeners(baseListeners);
    const a = await connect();
    const b = await connect();
    await a.waitFor((m) => m.event === 'snapshot');
    await b.waitFor((m) => m.event === 'snapshot');
    expect(t.sb.bus.listenerCount).toBe(baseListeners + 2);
    a.close();
    await waitForListeners(baseListeners + 1);
    b.close();
    await waitForListeners(baseListeners);
  });

  it('sends ": ping" heartbeat comments at the configured interval', async () => {
    // The same router over the app's own bus and database, with a short heartbeat.
    const app = express();
    app.use(
      '/api',
      createApiRouter(
        {
          config: t.sb.config,
          db: t.sb.db,
          bus: t.sb.bus,
          callManager: t.sb.callManager,
          logger: t.sb.logger,
          recordingsDir: t.sb.recordingsDir,
        },
        { sseHeartbeatMs: 20 },
      ),
    );
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as AddressInfo;
    const conn = await connectSse(`http://127.0.0.1:${port}/api/status`);
    try {
      const comments = await conn.waitForComments(2);
      expect(comments.slice(0, 2)).toEqual(['ping', 'ping']);
      stats('c4', 1);
      await conn.waitFor((m) => m.event === 'call.stats');
    } finally {
      conn.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('GET /api/status during a real call (live stats for a page opened mid-call)', () => {
  let h: BridgeHarness;
  const open: SseConnection[] = [];
  type Snapshot = { activeCalls: { id: string }[]; stats: Record<string, LiveCallStats> };
  const snapshotNow = async (): Promise<Snapshot> => {
    const conn = await connectSse(`${h.t.baseUrl}/api/status`);
    open.push(conn);
    return (await conn.waitFor((m) => m.event === 'snapshot')).json as Snapshot;
  };

  beforeAll(async () => {
    h = await startBridgeHarness({
      ttsEngine: 'tone',
      replies: ['Hello, how can I help?', 'Your order shipped yesterday.'],
      callerTranscripts: ['Where is my order'],
    });
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  afterAll(() => h.close());

  it('gives a client connecting mid-call the latency so far, and sends call.stats when the AI reconnects', async () => {
    let handle: CallHandle | undefined = h.call({
      ttsEngine: 'tone',
      hangupAfterScript: false,
      hangupAfterMs: 60_000,
      script: [{ untilAgentSilentMs: 500 }, { say: 'Where is my order' }, { untilAgentSilentMs: 500 }],
    });
    try {
      // The answer's latency was measured (call.stats) before this client connected.
      const callId = await eventually(() => {
        const last = h.t.sb.bus
          .since(0)
          .events.filter((e) => e.type === 'call.stats')
          .at(-1);
        return last?.type === 'call.stats' && last.data.stats.latencyLastMs !== null ? last.data.callId : undefined;
      }, 20_000);
      const lastStats = (): LiveCallStats | undefined => {
        const e = h.t.sb.bus
          .since(0)
          .events.filter((x) => x.type === 'call.stats' && x.data.callId === callId)
          .at(-1);
        return e?.type === 'call.stats' ? e.data.stats : undefined;
      };
      const mid = await snapshotNow();
      expect(mid.activeCalls.map((c) => c.id)).toContain(callId);
      expect(mid.stats[callId]).toEqual(lastStats());
      expect(mid.stats[callId].latencyLastMs).toEqual(expect.any(Number));
      expect(mid.stats[callId].aiReconnects).toBe(0);

      // The AI drops while the caller is silent (no turn follows): the reconnect alone publishes stats.
      const watcher = await connectSse(`${h.t.baseUrl}/api/status`);
      open.push(watcher);
      await watcher.waitFor((m) => m.event === 'snapshot');
      h.ai.dropAllConnections();
      const reconnected = await watcher.waitFor(
        (m) =>
          m.event === 'call.stats' &&
          (m.json as { data: { callId: string; stats: LiveCallStats } }).data.stats.aiReconnects === 1,
        10_000,
      );
      expect((reconnected.json as { data: { callId: string } }).data.callId).toBe(callId);
      expect((await snapshotNow()).stats[callId]).toMatchObject({ aiReconnects: 1, latencyLastMs: expect.any(Number) });

      const summary = await handle.hangup();
      handle = undefined;
      expect(summary.ok).toBe(true);
      await eventually(() => !h.t.sb.callManager.activeCalls().some((c) => c.id === callId));
      expect((await snapshotNow()).stats).toEqual({});
    } finally {
      await handle?.hangup();
    }
  });
});
