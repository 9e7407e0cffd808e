/**
 * Graceful shutdown of the real server process: SIGTERM during a call stops taking calls at once
 * (busy TwiML, /health 503 draining), lets the live call go on for SHUTDOWN_GRACE_MS, then closes
 * it cleanly (recording finalized with a consistent header, transcripts flushed) and exits 0.
 */
import path from 'node:path';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { placeCall, type CallHandle } from '../../src/simulators/twilio-caller';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import { createDb, type Db } from '../../src/db/prisma';
import { BUSY_MESSAGE } from '../../src/channels/twilio/routes';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';
import { checkWavHeader, startServerProcess, type ServerProcess } from '../../scripts/lib/server-process';
import { eventually } from '../../scripts/lib/bridge-harness';

const AUTH = 'fedcba9876543210fedcba9876543210';
const PUBLIC_URL = 'https://switchboard.example.test';
const GREETING = 'Hello, you are through to the shutdown test.';

describe('graceful shutdown (real process, SIGTERM)', () => {
  let ai: LocalRealtimeServer;
  let tmp: TempDir;
  let server: ServerProcess | undefined;
  let db: Db | undefined;

  beforeAll(async () => {
    ai = await LocalRealtimeServer.start({ replies: [GREETING], ttsEngine: 'tone' });
    tmp = createTempDatabase();
  });
  afterEach(async () => {
    await server?.stop('SIGKILL');
    server = undefined;
    await db?.$disconnect();
    db = undefined;
  });
  afterAll(async () => {
    await ai.close();
    tmp.cleanup();
  });

  const start = (graceMs: number): Promise<ServerProcess> =>
    startServerProcess({
      DATABASE_URL: tmp.databaseUrl,
      RECORDING_STORAGE_PATH: tmp.recordingsDir,
      TWILIO_AUTH_TOKEN: AUTH,
      API_TOKENS: 'shutdown-test-api-token-000001',
      PUBLIC_URL,
      OPENAI_REALTIME_URL: ai.url,
      SHUTDOWN_GRACE_MS: String(graceMs),
    });

  const call = (s: ServerProcess, callSid: string, script: Parameters<typeof placeCall>[0]['script']): CallHandle =>
    placeCall({ baseUrl: s.baseUrl, publicUrl: PUBLIC_URL, authToken: AUTH, callSid, ttsEngine: 'tone', script });

  it('refuses new calls, keeps the live call for the grace period, then closes it cleanly and exits 0', async () => {
    server = await start(3000);
    const handle = call(server, 'CAshut0001', [{ untilAgentSilentMs: 300 }, { silenceMs: 30_000 }]);
    let closedAt = 0;
    void handle.done.then(() => (closedAt = Date.now()));
    // The greeting has been played and stored before the signal.
    await eventually(() => ai.sessions.at(-1)?.responses[0]?.status === 'completed', 15_000);
    await eventually(() => handle.nowMs > 1500, 15_000);

    server.proc.kill('SIGTERM');
    const shutdownLog = await server.waitForLog((l) => l.message === 'shutting down');
    expect(shutdownLog).toMatchObject({ signal: 'SIGTERM', graceMs: 3000, activeCalls: 1 });
    const signalledAt = Date.now();

    // New calls are refused politely while draining.
    const form = { CallSid: 'CAshut0002', From: '+15550003333', To: '+15559990000' };
    const res = await fetch(`${server.baseUrl}/twilio/incoming-call`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'X-Twilio-Signature': computeTwilioSignature(AUTH, `${PUBLIC_URL}/twilio/incoming-call`, form),
      },
      body: new URLSearchParams(form).toString(),
    });
    expect(res.status).toBe(200);
    const twiml = await res.text();
    expect(twiml).toContain(BUSY_MESSAGE);
    expect(twiml).not.toContain('<Connect');
    const health = await fetch(`${server.baseUrl}/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { status: string }).status).toBe('draining');
    // The live call is still up well inside the grace period.
    const before = handle.nowMs;
    await new Promise((r) => setTimeout(r, 300));
    expect(closedAt).toBe(0);
    expect(handle.nowMs).toBeGreaterThan(before);

    const summary = await handle.done;
    const { code, signal } = await server.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(summary.closedBy).toBe('server');
    expect(closedAt - signalledAt).toBeGreaterThanOrEqual(2500);

    db = await createDb(tmp.databaseUrl);
    const row = await db.call.findFirstOrThrow({
      where: { callSid: 'CAshut0001' },
      include: { recordings: true, transcripts: true, analytics: true },
    });
    expect(row).toMatchObject({ status: 'completed', endReason: 'server-shutdown' });
    expect(row.transcripts.map((t) => t.text)).toEqual([GREETING]);
    expect(row.analytics).not.toBeNull();
    expect(row.recordings).toHaveLength(1);
    const wav = checkWavHeader(path.join(tmp.recordingsDir, row.recordings[0].path));
    expect(wav.consistent).toBe(true);
    expect(Math.abs(wav.durationMs - summary.durationMs)).toBeLessThan(1000);
    expect(Math.abs(row.recordings[0].durationMs - wav.durationMs)).toBeLessThan(50);
    expect(await db.call.count({ where: { callSid: 'CAshut0002' } })).toBe(0);
  });

  it('exits as soon as the last live call has ended, without waiting for the rest of the grace period', async () => {
    server = await start(120_000);
    const handle = call(server, 'CAshut0003', [{ untilAgentSilentMs: 300 }, { silenceMs: 1500 }]);
    await new Promise((r) => handle.events.once('stream-start', r));
    server.proc.kill('SIGTERM');
    await server.waitForLog((l) => l.message === 'shutting down');
    const summary = await handle.done;
    const { code } = await server.exited;
    expect(code).toBe(0);
    expect(summary.closedBy).toBe('caller');
    db = await createDb(tmp.databaseUrl);
    const row = await db.call.findFirstOrThrow({ where: { callSid: 'CAshut0003' }, include: { recordings: true } });
    expect(row.endReason).toBe('caller-hangup');
    expect(checkWavHeader(path.join(tmp.recordingsDir, row.recordings[0].path)).consistent).toBe(true);
  });
});
