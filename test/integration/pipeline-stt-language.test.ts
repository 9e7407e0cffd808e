/**
 * The cascaded engine's speech-to-text providers are given the conversation's language over their
 * real sockets: Deepgram as `language=<BCP-47>` on the connection URL, OpenAI's transcription
 * session as `audio.input.transcription.language` (ISO-639-1). 'auto' sends neither.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { testConfig } from '../../src/config';
import { sttProvider } from '../../src/engines/pipeline';

interface Seen {
  url: string;
  firstMessage: Promise<Record<string, unknown>>;
}

let wss: WebSocketServer;
let port: number;
const seen: Seen[] = [];

beforeAll(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  port = (wss.address() as AddressInfo).port;
  wss.on('connection', (ws, req) => {
    seen.push({
      url: req.url ?? '',
      firstMessage: new Promise((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data))))),
    });
  });
});

afterAll(async () => {
  for (const client of wss.clients) client.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
});

async function open(env: Record<string, string>, hint: string | undefined): Promise<Seen> {
  const before = seen.length;
  const stream = await sttProvider(testConfig(env), hint).open({ onError: () => undefined });
  await new Promise((r) => setTimeout(r, 50));
  stream.close();
  expect(seen.length).toBe(before + 1);
  return seen[before];
}

const deepgram = () => ({ PIPELINE_STT: 'deepgram', DEEPGRAM_API_URL: `ws://127.0.0.1:${port}/v1/listen` });
const openai = () => ({
  PIPELINE_STT: 'openai',
  OPENAI_API_KEY: 'sk-test',
  OPENAI_TRANSCRIPTION_URL: `ws://127.0.0.1:${port}/v1/realtime?intent=transcription`,
});

test('Deepgram: language=pt-BR on the URL; none for auto', async () => {
  const withHint = await open(deepgram(), 'pt-BR');
  expect(new URL(withHint.url, 'ws://x').searchParams.get('language')).toBe('pt-BR');
  const auto = await open(deepgram(), 'auto');
  expect(new URL(auto.url, 'ws://x').searchParams.has('language')).toBe(false);
});

test('OpenAI transcription: language "pt" in the session.update; none for auto', async () => {
  const withHint = await open(openai(), 'pt-BR');
  const update = (await withHint.firstMessage) as { session: { audio: { input: { transcription: object } } } };
  expect(update.session.audio.input.transcription).toMatchObject({ language: 'pt' });
  const auto = await open(openai(), 'auto');
  const plain = (await auto.firstMessage) as { session: { audio: { input: { transcription: object } } } };
  expect(plain.session.audio.input.transcription).not.toHaveProperty('language');
});
