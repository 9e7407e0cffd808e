/**
 * Soak run (a script, not a test): the real server as a child process, N simulated calls kept up at
 * once for M minutes against the local Realtime server, every AI socket dropped every D seconds.
 * Reports the server's memory over time, transcripts acknowledged (seen on SSE) but not stored
 * ("lost"), and whether every recording is valid (header consistent with the file, duration close
 * to the call's).
 *
 *   npm run soak                                   # 100 calls, 10 minutes, drops every 60 s
 *   SOAK_CALLS=20 SOAK_MINUTES=2 npm run soak      # a shorter run
 *
 * Settings (environment): SOAK_CALLS (100), SOAK_MINUTES (10), SOAK_DROP_EVERY_S (60),
 * SOAK_CALL_S (45: each call's length; finished calls are replaced), SOAK_SAMPLE_S (10).
 * Exit code 0 when nothing was lost and every recording is valid.
 */
import path from 'node:path';
import { createDb } from '../src/db/prisma';
import { LocalRealtimeServer } from '../src/simulators/local-realtime-server';
import { placeCall, SharedTicker, type CallScriptStep } from '../src/simulators/twilio-caller';
import { createLogger } from '../src/logging/logger';
import { createMigratedTempDatabase } from './lib/test-db';
import { checkWavHeader, startServerProcess } from './lib/server-process';
import { connectSse } from './lib/sse-client';

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const CALLS = num('SOAK_CALLS', 100);
const MINUTES = num('SOAK_MINUTES', 10);
const DROP_EVERY_S = num('SOAK_DROP_EVERY_S', 60);
const CALL_S = num('SOAK_CALL_S', 45);
const SAMPLE_S = num('SOAK_SAMPLE_S', 10);
const AUTH = '0123456789abcdef0123456789abcdef';
const TOKEN = 'soak-api-token-00000000000000001';
const PUBLIC_URL = 'https://soak.example.test';

interface Sample {
  atS: number;
  rssMiB: number;
  heapMiB: number;
  activeCalls: number;
}

async function scrape(baseUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(switchboard_[a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m && out[m[1]] === undefined) out[m[1]] = Number(m[2]);
  }
  return out;
}

async function main(): Promise<void> {
  // A migrated database of its own (tests get theirs from jest's global set-up).
  const tmp = await createMigratedTempDatabase();
  const ai = await LocalRealtimeServer.start({
    replies: ['Hello, soak line.', 'Okay, noted.'],
    ttsEngine: 'tone',
    logger: createLogger({ level: 'error', json: true, silent: true }),
  });
  const server = await startServerProcess(
    {
      DATABASE_URL: tmp.databaseUrl,
      RECORDING_STORAGE_PATH: tmp.recordingsDir,
      TWILIO_AUTH_TOKEN: AUTH,
      PUBLIC_URL,
      API_TOKENS: TOKEN,
      OPENAI_REALTIME_URL: ai.url,
      LOG_LEVEL: 'warn',
      AI_RECONNECT_BASE_MS: '100',
      MAX_CONCURRENT_CALLS: String(CALLS * 2),
      API_RATE_LIMIT_PER_MIN: '100000',
      ...(process.env.SOAK_SNAPSHOT_DIR ? { SOAK_SNAPSHOT_DIR: process.env.SOAK_SNAPSHOT_DIR } : {}),
    },
    30_000,
    ['--expose-gc', '--require', path.join(__dirname, 'gc-on-signal.cjs')],
  );
  console.log(`soak: ${CALLS} calls for ${MINUTES} min, AI drops every ${DROP_EVERY_S} s, calls of ${CALL_S} s`);
  console.log(`server pid ${server.proc.pid} on ${server.baseUrl}, data in ${tmp.dir}`);

  const sse = await connectSse(`${server.baseUrl}/api/status?access_token=${TOKEN}`);
  const started = Date.now();
  const endAt = started + MINUTES * 60_000;
  const ticker = new SharedTicker();
  const summaries: { callSid: string; durationMs: number; ok: boolean; errors: string[] }[] = [];
  let placed = 0;
  let sayTurns = 0;
  const script: CallScriptStep[] = [{ untilAgentSilentMs: 300 }];
  for (let i = 0; i < 60; i++) script.push({ say: 'x'.repeat(20) }, { untilAgentSilentMs: 400 }, { silenceMs: 1500 });

  const runSlot = async (slot: number): Promise<void> => {
    // Stagger the first calls over 10 s.
    await new Promise((r) => setTimeout(r, (slot * 10_000) / CALLS));
    while (Date.now() + 5000 < endAt) {
      const n = ++placed;
      const handle = placeCall({
        baseUrl: server.baseUrl,
        publicUrl: PUBLIC_URL,
        authToken: AUTH,
        callSid: `CAsoak${String(n).padStart(6, '0')}`,
        from: `+1555${String(n).padStart(7, '0')}`,
        ttsEngine: 'tone',
        keepAudio: false,
        ticker,
        script,
        hangupAfterMs: Math.min(CALL_S * 1000, endAt - Date.now()),
      });
      const s = await handle.done;
      summaries.push({ callSid: s.callSid, durationMs: s.durationMs, ok: s.ok, errors: s.errors });
    }
  };
  const slots = Array.from({ length: CALLS }, (_, i) => runSlot(i));

  const samples: Sample[] = [];
  // Each sample follows a full GC in the server (SIGUSR2, scripts/gc-on-signal.cjs): the heap figure
  // is what the server holds, not garbage V8 has not collected yet.
  const sampler = setInterval(() => {
    server.proc.kill('SIGUSR2');
    void new Promise((r) => setTimeout(r, 300))
      .then(() => scrape(server.baseUrl))
      .then((m) => {
        const s: Sample = {
          atS: Math.round((Date.now() - started) / 1000),
          rssMiB: Math.round((m.switchboard_process_resident_memory_bytes ?? 0) / 1048576),
          heapMiB: Math.round((m.switchboard_nodejs_heap_size_used_bytes ?? 0) / 1048576),
          activeCalls: m.switchboard_active_calls ?? 0,
        };
        samples.push(s);
        console.log(`t=${s.atS}s rss=${s.rssMiB} MiB heap=${s.heapMiB} MiB active=${s.activeCalls}`);
      });
  }, SAMPLE_S * 1000);
  let drops = 0;
  const dropper = setInterval(() => {
    drops++;
    console.log(`t=${Math.round((Date.now() - started) / 1000)}s dropping ${ai.openConnections} AI sockets`);
    ai.dropAllConnections();
  }, DROP_EVERY_S * 1000);

  await Promise.all(slots);
  clearInterval(dropper);
  clearInterval(sampler);
  await new Promise((r) => setTimeout(r, 1000));
  sse.close();
  if (process.env.SOAK_SNAPSHOT_DIR) {
    // All calls are over: a heap snapshot now shows whatever the finished calls left behind.
    await new Promise((r) => setTimeout(r, 3000));
    server.proc.kill('SIGWINCH');
    await new Promise((r) => setTimeout(r, 20000));
  }
  const exit = await server.stop('SIGTERM');
  await ai.close();

  // What was acknowledged (published on SSE) against what is stored.
  const acked = new Map<string, number>();
  for (const m of sse.messages) {
    if (m.event !== 'transcript.added') continue;
    const callId = (m.json as { data: { callId: string } }).data.callId;
    acked.set(callId, (acked.get(callId) ?? 0) + 1);
  }
  const db = await createDb(tmp.databaseUrl);
  const calls = await db.call.findMany({ include: { recordings: true, _count: { select: { transcripts: true } } } });
  let lost = 0;
  let badRecordings = 0;
  let callerTranscripts = 0;
  for (const c of calls) {
    const stored = c._count.transcripts;
    lost += Math.max(0, (acked.get(c.id) ?? 0) - stored);
    for (const r of c.recordings) {
      const wav = checkWavHeader(path.join(tmp.recordingsDir, r.path));
      const callMs = c.durationMs ?? 0;
      if (!wav.consistent || Math.abs(wav.durationMs - r.durationMs) > 50 || Math.abs(wav.durationMs - callMs) > 2000) {
        badRecordings++;
        console.log(`bad recording ${r.path}: ${JSON.stringify(wav)} call ${callMs} ms`);
      }
    }
    if (c.recordings.length === 0 && c.answeredAt) badRecordings++;
  }
  callerTranscripts = await db.transcript.count({ where: { speaker: 'caller' } });
  const reasons: Record<string, number> = {};
  for (const c of calls) reasons[c.endReason ?? 'open'] = (reasons[c.endReason ?? 'open'] ?? 0) + 1;
  const reconnects = await db.callEvent.count({ where: { type: 'ai.reconnected' } });
  await db.$disconnect();
  sayTurns = summaries.reduce((n, s) => n + Math.max(0, Math.floor((s.durationMs - 2000) / 4500)), 0);

  const half = samples.slice(Math.floor(samples.length / 2));
  const rss = samples.map((s) => s.rssMiB);
  // Live heap early vs late: medians of the second quarter (calls warmed up) and of the last quarter
  // (without the final sample, taken while calls wind down), after a forced GC each.
  const median = (values: number[]): number => {
    const v = [...values].sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)] : 0;
  };
  const q = Math.max(1, Math.floor(samples.length / 4));
  const heapEarly = median(samples.slice(q, 2 * q).map((x) => x.heapMiB));
  const heapLate = median(samples.slice(samples.length - 1 - q, samples.length - 1).map((x) => x.heapMiB));
  const report = {
    calls: calls.length,
    callerOk: summaries.filter((s) => s.ok).length,
    endReasons: reasons,
    aiDrops: drops,
    aiReconnects: reconnects,
    transcriptsAcknowledged: [...acked.values()].reduce((a, b) => a + b, 0),
    transcriptsLost: lost,
    callerTranscriptsStored: callerTranscripts,
    callerTurnsApprox: sayTurns,
    recordingsInvalid: badRecordings,
    rssMiB: { first: rss[0], max: Math.max(...rss), last: rss.at(-1) },
    rssSecondHalfMiB: { min: Math.min(...half.map((s) => s.rssMiB)), max: Math.max(...half.map((s) => s.rssMiB)) },
    heapAfterGcMiB: {
      first: samples[0]?.heapMiB,
      secondHalfMin: Math.min(...half.map((s) => s.heapMiB)),
      secondHalfMax: Math.max(...half.map((s) => s.heapMiB)),
      last: samples.at(-1)?.heapMiB,
    },
    heapAfterGcMedianMiB: { secondQuarter: heapEarly, lastQuarter: heapLate, growth: heapLate - heapEarly },
    serverExit: exit,
  };
  console.log(JSON.stringify(report, null, 2));
  tmp.cleanup();
  process.exit(lost === 0 && badRecordings === 0 && exit.code === 0 ? 0 : 1);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
