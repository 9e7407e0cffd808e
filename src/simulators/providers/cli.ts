/**
 * Runs the provider fakes on their own, for `npm start` + `npm run simulate` with the cascaded
 * engine and no accounts: prints the environment that points Switchboard at them, then serves
 * until Ctrl-C.
 *
 *   npx tsx src/simulators/providers/cli.ts [--port 4010] [--asr-ms 150] [--token-ms 250]
 *       [--speech-ms 200] [--transcripts "I need help|Thank you"] [--api-key KEY]
 */
import { parseArgs } from 'node:util';
import { FakeProviders } from './index';

function ms(value: string | undefined, name: string): number {
  const n = Number(value ?? 0);
  if (!Number.isInteger(n) || n < 0 || n > 60_000) throw new Error(`--${name} must be a whole number of ms, 0..60000`);
  return n;
}

export async function runFakeProvidersCli(argv: string[]): Promise<FakeProviders> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '4010' },
      'asr-ms': { type: 'string' },
      'token-ms': { type: 'string' },
      'speech-ms': { type: 'string' },
      transcripts: { type: 'string', default: '' },
      'api-key': { type: 'string', default: 'fake-provider-key' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be 0..65535');
  const transcripts = values.transcripts
    .split('|')
    .map((t) => t.trim())
    .filter(Boolean);
  const fake = await FakeProviders.start({
    port,
    apiKey: values['api-key'],
    // The fake recognizer cannot hear: without --transcripts every utterance is "I need some help".
    stt: {
      transcripts: transcripts.length ? transcripts : Array.from({ length: 10_000 }, () => 'I need some help'),
      asrDelayMs: ms(values['asr-ms'], 'asr-ms'),
    },
    chat: { firstTokenDelayMs: ms(values['token-ms'], 'token-ms') },
    speech: { firstByteDelayMs: ms(values['speech-ms'], 'speech-ms') },
  });
  return fake;
}

if (require.main === module) {
  runFakeProvidersCli(process.argv.slice(2)).then(
    (fake) => {
      const lines = [
        `# provider fakes listening on ${fake.baseUrl}; add to .env (and a profile with "engine": "pipeline"):`,
        ...Object.entries(fake.env()).map(([k, v]) => `${k}=${v}`),
        'PIPELINE_STT=deepgram',
        'PIPELINE_LLM=openai',
        'PIPELINE_TTS=elevenlabs',
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      const stop = (): void => void fake.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (err: Error) => {
      process.stderr.write(`provider fakes: ${err.message}\n`);
      process.exit(1);
    },
  );
}
