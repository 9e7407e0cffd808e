/**
 * Crash demonstration (a script, not a test): starts the real server, places a call with the
 * simulator, waits until transcripts are acknowledged (returned by the API), kills the server with
 * SIGKILL mid-call, restarts it on the same database and recordings folder, and shows the call
 * closed as `interrupted` with a playable recording and the acknowledged transcripts.
 *
 *   npm run crash                 # CRASH_AFTER_MS=3000: how long after the last transcript to kill
 *
 * Exit code 0 when the call was recovered as promised.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { LocalRealtimeServer } from '../src/simulators/local-realtime-server';
import { placeCall } from '../src/simulators/twilio-caller';
import { createMigratedTempDatabase } from './lib/test-db';
import { checkWavHeader, startServerProcess, type ServerProcess } from './lib/server-process';

const AUTH = '0123456789abcdef0123456789abcdef';
const TOKEN = 'crash-script-api-token-000000001';
const PUBLIC_URL = 'https://crash.example.test';
const CRASH_AFTER_MS = Number(process.env.CRASH_AFTER_MS ?? 3000);

interface ApiCall {
  id: string;
  callSid: string;
  status: string;
  endReason: string | null;
  durationMs: number | null;
  transcripts: { speaker: string; text: string }[];
  recordings: { path: string; durationMs: number; url: string }[];
}

async function api<T>(s: ServerProcess, urlPath: string): Promise<T> {
  const res = await fetch(`${s.baseUrl}${urlPath}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`GET ${urlPath}: ${res.status}`);
  return (await res.json()) as T;
}

async function main(): Promise<void> {
  // A migrated database of its own (tests get theirs from jest's global set-up).
  const tmp = await createMigratedTempDatabase();
  const ai = await LocalRealtimeServer.start({
    replies: ['Hello, you are through to the crash demo.', 'Sure, let me check your bill.'],
    callerTranscripts: ['I have a question about my bill'],
    ttsEngine: 'auto',
  });
  const env = {
    DATABASE_URL: tmp.databaseUrl,
    RECORDING_STORAGE_PATH: tmp.recordingsDir,
    TWILIO_AUTH_TOKEN: AUTH,
    PUBLIC_URL,
    API_TOKENS: TOKEN,
    OPENAI_REALTIME_URL: ai.url,
  };
  console.log(`data folder: ${tmp.dir}`);
  const first = await startServerProcess(env);
  console.log(`server 1 (pid ${first.proc.pid}) listening on ${first.baseUrl}`);
  const handle = placeCall({
    baseUrl: first.baseUrl,
    publicUrl: PUBLIC_URL,
    authToken: AUTH,
    callSid: 'CAcrashdemo01',
    script: [
      { untilAgentSilentMs: 400 },
      { say: 'I have a question about my bill' },
      { untilAgentSilentMs: 500 },
      { silenceMs: 120_000 },
    ],
  });
  await new Promise((r) => handle.events.once('stream-start', r));
  const { items } = await api<{ items: { id: string; callSid: string }[] }>(first, '/api/calls?limit=5');
  const callId = items.find((c) => c.callSid === 'CAcrashdemo01')!.id;
  console.log(`call ${callId} in progress`);
  let acknowledged: ApiCall['transcripts'] = [];
  for (let i = 0; i < 300 && acknowledged.length < 3; i++) {
    acknowledged = (await api<ApiCall>(first, `/api/calls/${callId}`)).transcripts;
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log('acknowledged transcripts (returned by the API) before the crash:');
  for (const t of acknowledged) console.log(`  ${t.speaker}: ${t.text}`);
  await new Promise((r) => setTimeout(r, CRASH_AFTER_MS));
  const recordedMs = handle.nowMs;
  first.proc.kill('SIGKILL');
  console.log(`kill -9 after ${(recordedMs / 1000).toFixed(1)} s of call:`, await first.exited);
  await handle.done;

  const second = await startServerProcess(env);
  console.log(`server 2 (pid ${second.proc.pid}) started: recovery ran`);
  const call = await api<ApiCall>(second, `/api/calls/${callId}`);
  console.log(`call status=${call.status} endReason=${call.endReason} durationMs=${call.durationMs}`);
  const missing = acknowledged.filter(
    (a) => !call.transcripts.some((t) => t.speaker === a.speaker && t.text === a.text),
  );
  console.log(`transcripts stored: ${call.transcripts.length}; acknowledged but missing: ${missing.length}`);
  const rec = call.recordings[0];
  let recordingOk = false;
  if (rec) {
    const file = path.join(tmp.recordingsDir, rec.path);
    const wav = checkWavHeader(file);
    console.log(
      `recording ${rec.path}: ${(wav.durationMs / 1000).toFixed(2)} s, header ${wav.consistent ? 'consistent' : 'BROKEN'} (RIFF ${wav.riffSize}, data ${wav.dataSize}, file ${wav.fileBytes} bytes)`,
    );
    try {
      console.log(`soxi: ${execFileSync('soxi', ['-d', file], { encoding: 'utf8' }).trim()}`);
    } catch {
      // sox is optional
    }
    const served = await fetch(`${second.baseUrl}${rec.url}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    console.log(`GET ${rec.url}: ${served.status} ${served.headers.get('content-type')}`);
    recordingOk = wav.consistent && served.status === 200 && wav.durationMs > recordedMs - 2500;
  }
  await second.stop('SIGTERM');
  await ai.close();
  const ok = call.status === 'interrupted' && call.endReason === 'interrupted' && missing.length === 0 && recordingOk;
  console.log(ok ? 'OK: closed as interrupted, recording plays, no acknowledged transcript lost' : 'FAILED');
  tmp.cleanup();
  process.exit(ok ? 0 : 1);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
