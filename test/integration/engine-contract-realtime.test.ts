/**
 * The Realtime engine runs the shared agent-engine contract against the local Realtime server, in
 * both audio formats (G.711 mu-law pass-through and PCM16 24 kHz).
 */
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { RealtimeEngine } from '../../src/engines/realtime';
import { testConfig } from '../../src/config';
import { createLogger } from '../../src/logging/logger';
import { loadAgentSettings, profileByName } from '../../src/agent/profiles';
import { BUILT_IN_SKILLS } from '../../src/agent/skills';
import { encodeMulaw } from '../../src/audio/g711';
import { describeEngineContract, type EngineOptions } from '../contract/engine-contract';

const logger = createLogger({ level: 'error', json: true, silent: true });

function tone(ms: number, rate: number, amplitude: number): Int16Array {
  const n = (rate * ms) / 1000;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * 400 * i) / rate));
  return out;
}

for (const format of ['pcmu', 'pcm16'] as const) {
  describeEngineContract(`realtime, ${format}`, async (opts: EngineOptions) => {
    const server = await LocalRealtimeServer.start({ ttsEngine: 'tone', replies: ['Hello there.', 'Sure.'] });
    const config = testConfig({
      OPENAI_REALTIME_URL: server.url,
      OPENAI_AUDIO_FORMAT: format,
      AGENT_GREETS_FIRST: String(opts.greetsFirst),
    });
    const profile = profileByName(loadAgentSettings(config, BUILT_IN_SKILLS), null);
    const engine = new RealtimeEngine({
      callId: 'contract',
      mode: 'voice',
      endpoints: {},
      logger,
      config,
      profile,
      tools: [],
      host: opts.host,
    });
    const encode = (samples: Int16Array): Buffer =>
      format === 'pcmu' ? Buffer.from(encodeMulaw(samples)) : Buffer.from(samples.buffer);
    const rate = format === 'pcmu' ? 8000 : 24000;
    return {
      engine,
      speech: (ms) => encode(tone(ms, rate, 10000)),
      silence: (ms) => encode(new Int16Array((rate * ms) / 1000)),
      close: () => server.close(),
    };
  });
}
