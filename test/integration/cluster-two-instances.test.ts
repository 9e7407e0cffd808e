/**
 * Two Switchboard instances behind a real load balancer (HAProxy, round-robin per request) on
 * PostgreSQL + NATS JetStream + Redis, as docs/scaling.md describes: simulated Twilio calls go
 * through the balancer, so a call's webhook, its media stream and its status callbacks land on
 * different instances. Shows that every call completes with its recording and transcripts; that an
 * SSE client on A sees B's calls live and, reconnecting to B with Last-Event-ID, gets exactly what it
 * missed; and that after a kill -9 of B mid-call, A closes B's calls as `interrupted` within the lease
 * time with every acknowledged transcript kept.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { placeCall, type CallHandle } from '../../src/simulators/twilio-caller';
import { startServerProcess, type ServerProcess } from '../../scripts/lib/server-process';
import { startLoadBalancer, type LoadBalancer } from '../../scripts/lib/load-balancer';
import {
  createPostgresDatabase,
  NATS_TEST_URL,
  REDIS_TEST_URL,
  uniqueSuffix,
  type TempPostgres,
} from '../../scripts/lib/cluster-services';
import { connectSse, type SseConnection } from '../../scripts/lib/sse-client';
import { eventually } from '../../scripts/lib/bridge-harness';

const AUTH = '0123456789abcdef0123456789abcdef';
const TOKEN = 'cluster-test-api-token-00000001';
const PUBLIC_URL = 'https://switchboard-cluster.example.test';
const LEASE_TTL_MS = 3000;

interface ApiCall {
  id: string;
  callSid: string;
  status: string;
  endReason: string | null;
  transcripts: { speaker: string; text: string }[];
  recordings: { path: string; durationMs: number; url: string }[];
}

const auth = { Authorization: `Bearer ${TOKEN}` };

async function api<T>(baseUrl: string, route: string): Promise<T> {
  const res = await fetch(`${baseUrl}${route}`, { headers: auth });
  if (res.status !== 200) throw new Error(`GET ${route}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function callBySid(baseUrl: string, callSid: string): Promise<ApiCall | undefined> {
  const list = await api<{ items: { id: string; callSid: string }[] }>(baseUrl, `/api/calls?limit=100`);
  const row = list.items.find((c) => c.callSid === callSid);
  return row ? api<ApiCall>(baseUrl, `/api/calls/${row.id}`) : undefined;
}

/** Which instance's log shows the call's stream being bridged (its id in a `call ending` line). */
function streamedOn(instances: ServerProcess[], callId: string): number[] {
  return instances
    .map((s, i) => (s.logs.some((l) => l.message === 'call ending' && l.callId === callId) ? i : -1))
    .filter((i) => i >= 0);
}

describe('two instances behind a load balancer (PostgreSQL, NATS, Redis)', () => {
  let ai: LocalRealtimeServer;
  let pg: TempPostgres;
  let lb: LoadBalancer;
  let recordingsDir: string;
  const instances: ServerProcess[] = [];
  const prefix = `sbt${uniqueSuffix()}`;

  beforeAll(async () => {
    ai = await LocalRealtimeServer.start({
      replies: ['Hello, cluster line.', 'Sure, I can help with your bill.'],
      callerTranscripts: ['I need help with my bill'],
      ttsEngine: 'tone',
    });
    pg = await createPostgresDatabase('sbcluster');
    recordingsDir = mkdtempSync(path.join(tmpdir(), 'switchboard-cluster-rec-'));
    const env = (instanceId: string): Record<string, string> => ({
      INSTANCE_ID: instanceId,
      DATABASE_URL: pg.url,
      NATS_URL: NATS_TEST_URL,
      NATS_PREFIX: prefix,
      REDIS_URL: REDIS_TEST_URL,
      REDIS_PREFIX: `${prefix}:`,
      CLUSTER_LEASE_TTL_MS: String(LEASE_TTL_MS),
      STREAM_TOKEN_SECRET: 'cluster-stream-token-secret-0123456789',
      // Shared disk: both instances write and serve the same recordings folder.
      RECORDING_STORAGE_PATH: recordingsDir,
      TWILIO_AUTH_TOKEN: AUTH,
      PUBLIC_URL,
      API_TOKENS: TOKEN,
      OPENAI_REALTIME_URL: ai.url,
      TRUST_PROXY: 'loopback',
      // The test polls the API every 50 ms while it waits; the limit (shared in Redis) is not under test here.
      API_RATE_LIMIT_PER_MIN: '1000000',
    });
    // One after the other: the first applies the migrations.
    instances.push(await startServerProcess(env('sb-a'), 60_000));
    instances.push(await startServerProcess(env('sb-b'), 60_000));
    lb = await startLoadBalancer(instances.map((s, i) => ({ name: `sb${i}`, port: s.port })));
  }, 120_000);

  afterAll(async () => {
    await lb?.stop();
    for (const s of instances) await s.stop('SIGKILL');
    await ai?.close();
    await pg?.drop();
    rmSync(recordingsDir, { recursive: true, force: true });
  });

  let sseA: SseConnection;
  const completedSids: string[] = [];

  it('completes every call, with webhooks and streams on different instances, and A sees B live', async () => {
    const [a, b] = instances;
    sseA = await connectSse(`${a.baseUrl}/api/status`, auth);
    expect(sseA.status).toBe(200);
    const calls: CallHandle[] = [];
    for (let i = 0; i < 6; i++) {
      const callSid = `CAcluster${uniqueSuffix()}`;
      completedSids.push(callSid);
      calls.push(
        placeCall({
          baseUrl: lb.baseUrl,
          publicUrl: PUBLIC_URL,
          authToken: AUTH,
          callSid,
          ttsEngine: 'tone',
          script: [{ untilAgentSilentMs: 300 }, { say: 'x'.repeat(20) }, { untilAgentSilentMs: 400 }],
        }),
      );
      await new Promise((r) => setTimeout(r, 150));
    }
    const summaries = await Promise.all(calls.map((c) => c.done));
    for (const s of summaries) {
      expect(s.errors).toEqual([]);
      expect(s.ok).toBe(true);
      expect(s.agentAudioMs).toBeGreaterThan(500);
    }
    const ids: string[] = [];
    for (const sid of completedSids) {
      const call = await eventually(async () => {
        const c = await callBySid(lb.baseUrl, sid);
        return c && c.status === 'completed' && c.recordings.length === 1 && c.transcripts.length >= 3 ? c : null;
      }, 20_000);
      ids.push(call.id);
      expect(existsSync(path.join(recordingsDir, call.recordings[0].path))).toBe(true);
      // Served through the balancer, whichever instance answers.
      const wav = await fetch(`${lb.baseUrl}${call.recordings[0].url}`, { headers: auth });
      expect(wav.status).toBe(200);
      expect((await wav.arrayBuffer()).byteLength).toBeGreaterThan(44);
    }
    // Each call ran on exactly one instance; both instances ran some (round-robin). (Log lines reach
    // stdout in batches of up to 25 ms: wait until every call's line is in.)
    const owners = await eventually(async () => {
      const found = ids.map((id) => streamedOn([a, b], id));
      return found.every((o) => o.length > 0) ? found : null;
    }, 5_000);
    for (const o of owners) expect(o).toHaveLength(1);
    expect(new Set(owners.map((o) => o[0])).size).toBe(2);
    // Some webhook landed on the other instance than its stream (the balancer alternates requests).
    const split = ids.filter((id, i) => {
      const webhookOn = [a, b].findIndex((s) => s.logs.some((l) => l.message === 'call created' && l.callId === id));
      return webhookOn !== owners[i][0];
    });
    expect(split.length).toBeGreaterThan(0);
    // The SSE client on A saw every call end, including those streamed on B.
    for (const id of ids) {
      await sseA.waitFor(
        (m) => m.event === 'call.ended' && (m.json as { data: { call: { id: string } } }).data.call.id === id,
        10_000,
      );
    }
  }, 90_000);

  it('replays what an SSE client missed when it reconnects to the other instance', async () => {
    const [, b] = instances;
    const seen = sseA.messages.filter((m) => m.id !== undefined && m.event !== 'snapshot');
    expect(seen.length).toBeGreaterThan(10);
    const cut = seen[Math.floor(seen.length / 2)];
    sseA.close();
    const sseB = await connectSse(`${b.baseUrl}/api/status`, { ...auth, 'Last-Event-ID': cut.id! });
    try {
      const after = seen.slice(seen.indexOf(cut) + 1);
      await sseB.waitFor((m) => m.id === after[after.length - 1].id, 10_000);
      const replayed = sseB.messages.filter((m) => m.id !== undefined && m.event !== 'snapshot');
      expect(replayed.slice(0, after.length).map((m) => [m.id, m.event])).toEqual(after.map((m) => [m.id, m.event]));
    } finally {
      sseB.close();
    }
  }, 30_000);

  it('closes the calls of a killed instance as interrupted within the lease time, keeping acknowledged transcripts', async () => {
    const [a, b] = instances;
    const handles: CallHandle[] = [];
    for (let i = 0; i < 4; i++) {
      handles.push(
        placeCall({
          baseUrl: lb.baseUrl,
          publicUrl: PUBLIC_URL,
          authToken: AUTH,
          callSid: `CAclusterkill${uniqueSuffix()}`,
          ttsEngine: 'tone',
          // Only the failover closes these calls (no provider status callback says they ended).
          sendStatusCallbacks: false,
          script: [
            { untilAgentSilentMs: 300 },
            { say: 'x'.repeat(20) },
            { untilAgentSilentMs: 400 },
            { silenceMs: 60_000 },
          ],
        }),
      );
    }
    // Every call streaming with its first exchange acknowledged (served by the API).
    const live = await Promise.all(
      handles.map((h) =>
        eventually(async () => {
          const c = await callBySid(a.baseUrl, h.callSid);
          return c && c.status === 'streaming' && c.transcripts.length >= 3 ? c : null;
        }, 30_000),
      ),
    );
    const leases = await api<{ items: { id: string; instanceId: string }[] }>(a.baseUrl, '/api/calls/active');
    const onB = live.filter((c) => leases.items.some((l) => l.id === c.id && l.instanceId === 'sb-b'));
    const onA = live.filter((c) => !onB.includes(c));
    expect(onB.length).toBeGreaterThan(0);
    // A supervisor's whisper sent to A for a call B holds is routed to B (and answered by it).
    const whisper = (id: string) =>
      fetch(`${a.baseUrl}/api/calls/${id}/whisper`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'Offer the 10% retention discount' }),
      });
    const routed = await whisper(onB[0].id);
    expect(routed.status).toBeLessThan(300);
    await b.waitForLog((l) => l.callId === onB[0].id && /whisper|supervisor/i.test(String(l.message)), 5_000);
    expect((await whisper('no-such-call')).status).toBe(404);
    const killedAt = Date.now();
    b.proc.kill('SIGKILL');
    expect((await b.exited).signal).toBe('SIGKILL');
    for (const c of onB) {
      const closed = await eventually(async () => {
        const now = await api<ApiCall>(a.baseUrl, `/api/calls/${c.id}`);
        return now.status !== 'streaming' ? now : null;
      }, LEASE_TTL_MS * 4);
      expect(closed).toMatchObject({ status: 'interrupted', endReason: 'instance-lost' });
      // The disk is shared: its recording is repaired and registered by A (right after the close).
      const repaired = await eventually(async () => {
        const now = await api<ApiCall>(a.baseUrl, `/api/calls/${c.id}`);
        return now.recordings.length === 1 ? now.recordings[0] : null;
      }, 5000);
      expect(repaired.durationMs).toBeGreaterThan(1000);
      expect(Date.now() - killedAt).toBeLessThan(LEASE_TTL_MS * 3);
      for (const t of c.transcripts) {
        expect(closed.transcripts).toContainEqual(expect.objectContaining({ speaker: t.speaker, text: t.text }));
      }
    }
    // A's own calls are untouched.
    for (const c of onA) expect((await api<ApiCall>(a.baseUrl, `/api/calls/${c.id}`)).status).toBe('streaming');
    await Promise.all(handles.map((h) => h.hangup()));
  }, 90_000);
});
