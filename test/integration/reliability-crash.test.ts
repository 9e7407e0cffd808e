/**
 * kill -9 mid-call, then restart: the call is closed as `interrupted`, its recording plays (header
 * consistent with the file, duration close to what was recorded), and every transcript that had been
 * acknowledged (shown by the API) before the crash is still there.
 */
import path from 'node:path';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { placeCall } from '../../src/simulators/twilio-caller';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';
import { checkWavHeader, startServerProcess, type ServerProcess } from '../../scripts/lib/server-process';
import { eventually } from '../../scripts/lib/bridge-harness';

const AUTH = '0123456789abcdef0123456789abcdef';
const TOKEN = 'crash-test-api-token-0000000001';
const PUBLIC_URL = 'https://switchboard.example.test';

interface ApiCall {
  id: string;
  status: string;
  endReason: string | null;
  transcripts: { speaker: string; text: string }[];
  recordings: { path: string; durationMs: number; url: string }[];
}

async function getCall(s: ServerProcess, id: string): Promise<ApiCall> {
  const res = await fetch(`${s.baseUrl}/api/calls/${id}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (res.status !== 200) throw new Error(`GET call: ${res.status}`);
  return (await res.json()) as ApiCall;
}

describe('crash mid-call (kill -9) and restart', () => {
  let ai: LocalRealtimeServer;
  let tmp: TempDir;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    ai = await LocalRealtimeServer.start({
      replies: ['Hello, crash test line.', 'Sure, I can help with your bill.'],
      callerTranscripts: ['I need help with my bill'],
      ttsEngine: 'tone',
    });
    tmp = createTempDatabase();
  });
  afterAll(async () => {
    for (const s of servers) await s.stop('SIGKILL');
    await ai.close();
    tmp.cleanup();
  });

  const start = async (): Promise<ServerProcess> => {
    const s = await startServerProcess({
      DATABASE_URL: tmp.databaseUrl,
      RECORDING_STORAGE_PATH: tmp.recordingsDir,
      TWILIO_AUTH_TOKEN: AUTH,
      PUBLIC_URL,
      API_TOKENS: TOKEN,
      OPENAI_REALTIME_URL: ai.url,
    });
    servers.push(s);
    return s;
  };

  it('closes the call as interrupted with a playable recording and every acknowledged transcript', async () => {
    const first = await start();
    const handle = placeCall({
      baseUrl: first.baseUrl,
      publicUrl: PUBLIC_URL,
      authToken: AUTH,
      callSid: 'CAcrash0001',
      ttsEngine: 'tone',
      script: [
        { untilAgentSilentMs: 300 },
        { say: 'x'.repeat(30) },
        { untilAgentSilentMs: 400 },
        { silenceMs: 60_000 },
      ],
    });
    const callId = await new Promise<string>((resolve) =>
      handle.events.once('stream-start', () => resolve(handle.callSid)),
    ).then(async () => {
      const res = await fetch(`${first.baseUrl}/api/calls?limit=5`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      const body = (await res.json()) as { items: { id: string; callSid: string }[] };
      return body.items.find((c) => c.callSid === 'CAcrash0001')!.id;
    });
    // Acknowledged = returned by the API: the greeting, the caller's turn and the answer.
    const acknowledged = await eventually(async () => {
      const c = await getCall(first, callId);
      return c.transcripts.length >= 3 ? c.transcripts : null;
    }, 30_000);
    // Let some more audio be recorded, then kill the process without warning.
    await new Promise((r) => setTimeout(r, 1500));
    const recordedMs = handle.nowMs;
    first.proc.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    await handle.done;

    const second = await start();
    const call = await getCall(second, callId);
    expect(call).toMatchObject({ status: 'interrupted', endReason: 'interrupted' });
    // Its duration is what the recording shows it went on for, not the row's last update.
    expect(Math.abs((call as ApiCall & { durationMs: number }).durationMs - recordedMs)).toBeLessThan(2500);
    for (const t of acknowledged) {
      expect(call.transcripts).toContainEqual(expect.objectContaining({ speaker: t.speaker, text: t.text }));
    }
    expect(call.recordings).toHaveLength(1);
    const wav = checkWavHeader(path.join(tmp.recordingsDir, call.recordings[0].path));
    expect(wav.consistent).toBe(true);
    // The recorder keeps about a second in memory; everything before that was on disk.
    expect(wav.durationMs).toBeGreaterThan(recordedMs - 2500);
    expect(wav.durationMs).toBeLessThan(recordedMs + 500);
    expect(Math.abs(call.recordings[0].durationMs - wav.durationMs)).toBeLessThan(50);
    // It plays: the API serves it as a WAV with the right length.
    const audio = await fetch(`${second.baseUrl}${call.recordings[0].url}`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(audio.status).toBe(200);
    expect(audio.headers.get('content-type')).toBe('audio/wav');
    expect((await audio.arrayBuffer()).byteLength).toBe(wav.fileBytes);
    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
