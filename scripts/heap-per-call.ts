/**
 * Heap retained per finished call: runs batches of short simulated calls through the real app (the
 * local Realtime server in its own process, so its records do not count) and prints the heap after
 * forced garbage collections. A leak shows as KB/call that keeps growing with the call count.
 *
 *   node --expose-gc --import tsx scripts/heap-per-call.ts        # ROUNDS=6 batches of BATCH=25 calls
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { applyPendingMigrations } from '../src/db/migrations';
import { createApp } from '../src/app';
import { testConfig } from '../src/config';
import { spawn } from 'node:child_process';
import { placeCall } from '../src/simulators/twilio-caller';

const AI_PORT = Number(process.env.AI_PORT ?? 18765);
const BATCH = Number(process.env.BATCH ?? 25);
const gc = (globalThis as unknown as { gc: () => void }).gc;
async function heapMb(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage().heapUsed / 2 ** 20;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'leak-'));
  const url = `file:${path.join(dir, 'db.db')}`;
  await applyPendingMigrations(url);
  const startAi = () =>
    spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/simulators/local-realtime-cli.ts',
        '--port',
        String(AI_PORT),
        '--tts',
        'tone',
        '--stats',
      ],
      {
        stdio: 'ignore',
      },
    );
  let aiProc = startAi();
  await new Promise((r) => setTimeout(r, 3000));
  const ai = { url: `ws://127.0.0.1:${AI_PORT}/v1/realtime`, close: async () => void aiProc.kill() };
  const sb = await createApp(
    testConfig({ DATABASE_URL: url, RECORDING_STORAGE_PATH: path.join(dir, 'rec'), OPENAI_REALTIME_URL: ai.url }),
  );
  const port = await sb.listen(0, '127.0.0.1');
  // As in the soak: a supervisor's SSE stream open the whole time, and /metrics scraped between batches.
  const sse = new AbortController();
  let sseBytes = 0;
  void fetch(`http://127.0.0.1:${port}/api/status`, { signal: sse.signal })
    .then(async (res) => {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) sseBytes += chunk.length;
    })
    .catch(() => undefined);
  // DROPS=1: the AI process is killed and restarted in the middle of every batch (every AI socket
  // drops; the bridge reconnects with the conversation so far), as in the soak.
  const dropAi = async (): Promise<void> => {
    await new Promise((r) => setTimeout(r, 2500));
    aiProc.kill('SIGKILL');
    aiProc = startAi();
  };
  const batch = async (n: number): Promise<void> => {
    if (process.env.DROPS === '1') void dropAi();
    const calls = Array.from(
      { length: n },
      () =>
        placeCall({
          baseUrl: `http://127.0.0.1:${port}`,
          ttsEngine: 'tone',
          keepAudio: false,
          script:
            process.env.CALL_SILENCE_MS
              ? [{ untilAgentSilentMs: 300 }, { say: 'x'.repeat(12) }, { untilAgentSilentMs: 300 }, { silenceMs: Number(process.env.CALL_SILENCE_MS) }]
              : process.env.DROPS === '1'
              ? [
                  { untilAgentSilentMs: 300 },
                  { say: 'x'.repeat(12) },
                  { untilAgentSilentMs: 300 },
                  { silenceMs: 4000 },
                  { say: 'y'.repeat(12) },
                  { untilAgentSilentMs: 500 },
                ]
              : [{ untilAgentSilentMs: 300 }, { say: 'x'.repeat(12) }, { untilAgentSilentMs: 300 }],
        }).done,
    );
    await Promise.all(calls);
  };
  if (typeof gc !== 'function') throw new Error('run with node --expose-gc --import tsx');
  await batch(BATCH);
  await batch(BATCH);
  const base = await heapMb();
  console.log(`after warm-up ${2 * BATCH} calls heap ${base.toFixed(1)} MB`);
  let total = 0;
  for (let round = 0; round < Number(process.env.ROUNDS ?? 6); round++) {
    await batch(BATCH);
    total += BATCH;
    await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    await new Promise((r) => setTimeout(r, 500));
    const h = await heapMb();
    console.log(
      `SSE ${(sseBytes / 1024).toFixed(0)} KB received; after +${total} calls heap ${h.toFixed(1)} MB, +${(((h - base) * 1024) / total).toFixed(1)} KB/call; bus ring ${(sb.bus as unknown as { ring: unknown[] }).ring.length}`,
    );
  }
  if (process.env.SNAP) console.log(writeHeapSnapshot(path.join(dir, 'end.heapsnapshot')));
  sse.abort();
  await sb.close();
  await ai.close();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
