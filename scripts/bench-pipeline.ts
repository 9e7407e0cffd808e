/**
 * Cascaded engine benchmark: N concurrent calls, each a PipelineEngine fed caller audio at real pace
 * (20 ms frames on a shared 20 ms ticker), against the provider fakes over real sockets (Deepgram-
 * compatible STT, OpenAI-compatible chat, ElevenLabs-compatible speech). Per turn it reads the
 * engine's 'turn-latency': speech end (the VAD's end of turn) → final transcript, first token, first
 * speech byte, first agent audio. The pipeline's own overhead is first audio minus the configured
 * provider delays.
 *
 *   npx tsx scripts/bench-pipeline.ts [--calls 50] [--turns 3] [--asr 150 --token 250 --speech 200]
 */
import type { TurnLatency } from '../src/conversation/engine';
import { testConfig } from '../src/config';
import { createLogger } from '../src/logging/logger';
import { llmProvider, sttProvider, ttsProvider } from '../src/engines/pipeline';
import { PipelineEngine } from '../src/engines/pipeline/pipeline-engine';
import { FakeProviders } from '../src/simulators/providers';
import { synthesizeTone } from '../src/simulators/tts';
import { fork } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

async function main(): Promise<void> {
  const calls = arg('calls', 50);
  const turns = arg('turns', 3);
  const asrMs = arg('asr', 0);
  const tokenMs = arg('token', 0);
  const speechMs = arg('speech', 0);
  // The fakes run in a child process of their own, so their CPU does not count as the pipeline's.
  const fakeOptions = {
    stt: { transcripts: Array.from({ length: 1000 }, () => 'what is my balance'), asrDelayMs: asrMs },
    chat: { firstTokenDelayMs: tokenMs, reply: 'Your balance is ten dollars. Anything else?' },
    speech: { firstByteDelayMs: speechMs },
  };
  const child = fork(__filename, ['--fakes', JSON.stringify(fakeOptions)], {
    execArgv: process.execArgv,
    stdio: 'inherit',
  });
  const env = await new Promise<Record<string, string>>((resolve) =>
    child.once('message', (m) => resolve(m as Record<string, string>)),
  );
  const fake = { env: () => env, close: async () => void child.kill() };
  const config = testConfig({
    ...fake.env(),
    PIPELINE_STT: 'deepgram',
    PIPELINE_LLM: 'openai',
    PIPELINE_TTS: 'elevenlabs',
  });
  const logger = createLogger({ level: 'error', json: false, silent: true });
  const latencies: (TurnLatency & { turn: number })[] = [];
  const engines: PipelineEngine[] = [];
  for (let i = 0; i < calls; i++) {
    const engine = new PipelineEngine({
      callId: `bench_${i}`,
      logger,
      stt: sttProvider(config),
      llm: llmProvider(config),
      tts: ttsProvider(config, 'marin'),
      instructions: 'Bench agent.',
      tools: [],
      vad: { threshold: 0.5, silenceMs: 500 },
      stageTimeoutMs: 10_000,
      conversationEnabled: true,
    });
    let turn = 0;
    engine.on('turn-latency', (l) => latencies.push({ ...l, turn: turn++ }));
    await engine.start();
    engines.push(engine);
  }
  // Each call: 1.5 s of speech then 2.5 s of silence, `turns` times; calls start 20 ms apart.
  const speech = synthesizeTone('hello there what is my balance', 'pcmu').subarray(0, 12_000);
  const silence = Buffer.alloc(20_000, 0xff);
  const script = Buffer.concat(Array.from({ length: turns }, () => [speech, silence]).flat());
  const frames = script.length / 160;
  const offsets = engines.map((_, i) => i % 50);
  // The engine process's own stalls (GC, synchronous work): a tail beyond them is waiting elsewhere.
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let tick = 0;
    const timer = setInterval(() => {
      // Catch up on ticks the timer missed, so the audio keeps real pace.
      const due = Math.floor((performance.now() - t0) / 20);
      for (; tick <= due; tick++) {
        engines.forEach((engine, i) => {
          const f = tick - offsets[i];
          if (f >= 0 && f < frames)
            engine.appendAudio(script.subarray(f * 160, f * 160 + 160), undefined, (f + 1) * 20);
        });
      }
      if (tick > frames + 60) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
  await new Promise((r) => setTimeout(r, 1000));
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  const wallMs = performance.now() - t0;
  for (const e of engines) e.close();
  await fake.close();
  const first = latencies.map((l) => l.firstAudioMs!).filter((v) => v !== undefined);
  const configured = asrMs + tokenMs + speechMs;
  const overhead = first.map((v) => v - configured);
  const row = (name: string, v: number[]): string =>
    `${name.padEnd(34)} p50 ${pct(v, 50).toFixed(1).padStart(7)}  p90 ${pct(v, 90).toFixed(1).padStart(7)}  p99 ${pct(v, 99).toFixed(1).padStart(7)}  max ${Math.max(
      ...v,
    )
      .toFixed(1)
      .padStart(7)} ms`;
  console.log(
    `pipeline bench: ${calls} calls × ${turns} turns = ${latencies.length} turns measured (of ${calls * turns})`,
  );
  console.log(
    `provider delays: ASR ${asrMs} ms, first token ${tokenMs} ms, first speech byte ${speechMs} ms (sum ${configured})`,
  );
  console.log(
    row(
      'speech end → final transcript',
      latencies.map((l) => l.transcriptMs!),
    ),
  );
  console.log(
    row(
      'speech end → first token',
      latencies.map((l) => l.firstTokenMs!),
    ),
  );
  console.log(
    row(
      'speech end → first speech byte',
      latencies.map((l) => l.firstSpeechByteMs!),
    ),
  );
  console.log(row('speech end → first agent audio', first));
  console.log(row('pipeline overhead (minus delays)', overhead));
  for (let t = 0; t < turns; t++) {
    const v = latencies.filter((l) => l.turn === t).map((l) => l.firstAudioMs! - configured);
    if (v.length) console.log(row(`  overhead, turn ${t + 1} of each call`, v));
  }
  const ms = (ns: number): string => (ns / 1e6).toFixed(1);
  console.log(
    `engine process event-loop delay p50 ${ms(loop.percentile(50))} p99 ${ms(loop.percentile(99))} max ${ms(loop.max)} ms (1 ms sampling)`,
  );
  console.log(
    `process CPU ${(((cpu.user + cpu.system) / 1000 / wallMs) * 100).toFixed(1)}% of one core over ${(wallMs / 1000).toFixed(1)} s`,
  );
}

async function serveFakes(json: string): Promise<void> {
  const o = JSON.parse(json) as {
    stt: { transcripts: string[]; asrDelayMs: number };
    chat: { firstTokenDelayMs: number; reply: string };
    speech: { firstByteDelayMs: number };
  };
  const fake = await FakeProviders.start({
    stt: o.stt,
    chat: { firstTokenDelayMs: o.chat.firstTokenDelayMs, reply: () => ({ text: o.chat.reply }) },
    speech: o.speech,
  });
  // The fakes stand for providers that are always warm: one request of each kind first, so the
  // fake process's own start-up (its HTTP client and handlers' first runs) is not in the figures.
  await warmFakes(fake);
  fake.stt.utterances = 0;
  process.send?.(fake.env());
  process.on('SIGTERM', () => void fake.close().then(() => process.exit(0)));
}

async function warmFakes(fake: FakeProviders): Promise<void> {
  const post = async (path: string, body: unknown): Promise<void> => {
    const res = await fetch(`${fake.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer fake-key', 'xi-api-key': 'fake-key' },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
  };
  await post('/v1/chat/completions', { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  await post('/v1/text-to-speech/v/stream?output_format=ulaw_8000', { text: 'Hello.', model_id: 'm' });
  const ws = new WebSocket(`${fake.wsBaseUrl}/v1/listen?encoding=mulaw&sample_rate=8000`, {
    headers: { Authorization: 'Token fake-key' },
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.send(Buffer.alloc(1600, 0xff));
      ws.send(JSON.stringify({ type: 'Finalize' }));
    });
    ws.on('message', (data) => {
      if (String(data).includes('"from_finalize":true')) resolve();
    });
  });
  ws.close();
}

const fakesAt = process.argv.indexOf('--fakes');
if (fakesAt >= 0) void serveFakes(process.argv[fakesAt + 1]);
else void main();
