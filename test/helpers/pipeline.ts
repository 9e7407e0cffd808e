/**
 * Drives a cascaded engine directly: builds it from a test config (providers chosen by env, as in
 * production), feeds caller audio frame by frame, and records every event it emits.
 */
import { bytesPerMs, type AudioFormat } from '../../src/conversation/audio-format';
import type { AgentEngineEvents, TurnLatency } from '../../src/conversation/engine';
import { testConfig } from '../../src/config';
import { createLogger } from '../../src/logging/logger';
import { llmProvider, sttProvider, ttsProvider } from '../../src/engines/pipeline';
import { PipelineEngine } from '../../src/engines/pipeline/pipeline-engine';
import { synthesizeTone } from '../../src/simulators/tts';

export interface Recorded {
  events: { name: keyof AgentEngineEvents; args: unknown[]; at: number }[];
  audioBytes: Map<string, number>;
  latencies: TurnLatency[];
}

export const TOOLS = [
  {
    type: 'function' as const,
    name: 'lookup_order',
    description: 'Looks up an order',
    parameters: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
  },
];

export function buildEngine(
  env: Record<string, string>,
  opts: { greeting?: string; instructions?: string } = {},
): { engine: PipelineEngine; rec: Recorded } {
  const config = testConfig(env);
  const engine = new PipelineEngine({
    callId: 'call_test',
    logger: createLogger({ level: 'error', json: false, silent: true }),
    stt: sttProvider(config),
    llm: llmProvider(config),
    tts: ttsProvider(config, 'marin'),
    instructions: opts.instructions ?? 'You are a test agent.',
    greeting: opts.greeting,
    tools: TOOLS,
    vad: { threshold: 0.5, silenceMs: 300 },
    stageTimeoutMs: config.pipeline.stageTimeoutMs,
    conversationEnabled: config.pipeline.conversationEnabled,
  });
  const rec: Recorded = { events: [], audioBytes: new Map(), latencies: [] };
  const names: (keyof AgentEngineEvents)[] = [
    'agent-audio',
    'agent-audio-done',
    'agent-text-delta',
    'agent-transcript',
    'response-started',
    'response-done',
    'speech-started',
    'speech-stopped',
    'caller-transcript',
    'caller-transcript-failed',
    'tool-call',
    'error',
    'turn-latency',
  ];
  for (const name of names) {
    (engine as unknown as { on(n: string, f: (...a: unknown[]) => void): void }).on(name, (...args: unknown[]) => {
      if (name === 'agent-audio') {
        const [itemId, , bytes] = args as [string, string, Buffer];
        rec.audioBytes.set(itemId, (rec.audioBytes.get(itemId) ?? 0) + bytes.length);
      }
      if (name === 'turn-latency') rec.latencies.push(args[0] as TurnLatency);
      rec.events.push({ name, args, at: performance.now() });
    });
  }
  return { engine, rec };
}

let callMs = 0;

/** The call time the next fed frame starts at. */
export function nextCallMs(): number {
  return callMs;
}

/** Feeds `audio` then `silenceMs` of silence in 20 ms frames, yielding to the event loop every 5 frames. */
export async function feed(engine: PipelineEngine, audio: Buffer, format: AudioFormat, silenceMs = 500): Promise<void> {
  const frame = Math.round(bytesPerMs(format) * 20);
  const silence = Buffer.alloc(Math.round(bytesPerMs(format) * silenceMs), format.encoding === 'pcmu' ? 0xff : 0);
  const all = Buffer.concat([audio, silence]);
  for (let i = 0, n = 0; i < all.length; i += frame, n++) {
    callMs += 20;
    engine.appendAudio(all.subarray(i, i + frame), undefined, callMs);
    if (n % 5 === 4) await new Promise((r) => setImmediate(r));
  }
}

/** Synthetic speech (mu-law 8 kHz) long enough for the VAD. */
export function speech(text = 'hello there, I need some help'): Buffer {
  return synthesizeTone(text, 'pcmu');
}

export function named(rec: Recorded, name: keyof AgentEngineEvents): unknown[][] {
  return rec.events.filter((e) => e.name === name).map((e) => e.args);
}

export async function until(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
