/**
 * Runs the local Realtime server on its own:
 *   tsx src/simulators/local-realtime-cli.ts --port 8765 [--host 127.0.0.1] [--tts auto|espeak|tone]
 *     [--no-pace] [--reply "text" ...] [--log-level info] [--stats]
 * Point Switchboard at it with OPENAI_REALTIME_URL=ws://127.0.0.1:8765/v1/realtime.
 * --stats serves frame totals as JSON at http://host:port/stats (used by `npm run bench`) and keeps
 * only totals of closed sessions, so a long load run does not accumulate per-session details.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../logging/logger';
import { LocalRealtimeServer } from './local-realtime-server';
import { resolveTtsEngine, type TtsEngine } from './tts';

const USAGE =
  'usage: local-realtime-cli [--port 8765] [--host 127.0.0.1] [--tts auto|espeak|tone] [--no-pace] [--reply TEXT]... [--log-level info] [--stats]';

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: '8765' },
        host: { type: 'string', default: '127.0.0.1' },
        tts: { type: 'string', default: 'auto' },
        'no-pace': { type: 'boolean', default: false },
        reply: { type: 'string', multiple: true },
        'log-level': { type: 'string', default: 'info' },
        stats: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be 0..65535\n${USAGE}`);
    process.exit(2);
  }
  const tts = values.tts as TtsEngine;
  if (!['auto', 'espeak', 'tone'].includes(tts)) {
    console.error(`--tts must be auto, espeak or tone\n${USAGE}`);
    process.exit(2);
  }
  const logger = createLogger({ level: values['log-level'] ?? 'info', json: false });
  const server = await LocalRealtimeServer.start({
    port,
    host: values.host,
    logger,
    ttsEngine: tts,
    realtimePace: !values['no-pace'],
    replies: values.reply && values.reply.length > 0 ? values.reply : undefined,
    statsEndpoint: values.stats,
    keepClosedSessions: !values.stats,
  });
  console.log(`Local Realtime server listening on ${server.url} (speech: ${await resolveTtsEngine(tts)})`);
  console.log(`Use it with: OPENAI_REALTIME_URL=${server.url}`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('close failed:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error('local realtime server failed to start:', err);
  process.exit(1);
});
