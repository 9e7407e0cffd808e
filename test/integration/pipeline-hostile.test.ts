/**
 * Hostile or broken providers, and hostile clients of the provider fakes: every case ends in a
 * counted, named stage error (and an apology to the caller) or a clear HTTP status, never a crash
 * or a hang.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { PCMU_8K } from '../../src/conversation/audio-format';
import type { ResponseSummary } from '../../src/conversation/engine';
import { FakeProviders } from '../../src/simulators/providers';
import { buildEngine, feed, named, speech, until } from '../helpers/pipeline';

/** A server that answers every POST with `reply`. */
async function hostile(reply: (res: http.ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => reply(res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let fake: FakeProviders;
beforeEach(async () => {
  fake = await FakeProviders.start({ apiKey: 'fake-provider-key', stt: { transcripts: ['hello', 'again'] } });
});
afterEach(() => fake.close());

async function turnFails(env: Record<string, string>, pattern: RegExp): Promise<void> {
  const { engine, rec } = buildEngine({
    ...fake.env(),
    PIPELINE_STT: 'deepgram',
    PIPELINE_TTS: 'elevenlabs',
    PIPELINE_STAGE_TIMEOUT_MS: '3000',
    ...env,
  });
  await engine.start();
  await feed(engine, speech(), PCMU_8K);
  await until(() => named(rec, 'response-done').length === 1, 10_000, 'failed turn');
  expect((named(rec, 'response-done')[0][0] as ResponseSummary).status).toBe('failed');
  expect((named(rec, 'error')[0][0] as { message: string }).message).toMatch(pattern);
  engine.close();
}

describe('hostile providers', () => {
  it('a chat stream of non-JSON events', async () => {
    const h = await hostile((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: {not json\n\n');
    });
    await turnFails({ PIPELINE_LLM: 'openai', LLM_API_URL: h.url }, /malformed stream event/);
    await h.close();
  });

  it('a chat stream with one endless event (no line break)', async () => {
    const h = await hostile((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: ');
      res.end('x'.repeat(2 * 1024 * 1024));
    });
    await turnFails({ PIPELINE_LLM: 'openai', LLM_API_URL: h.url }, /event too large/);
    await h.close();
  });

  it('a model that never stops talking is cut, and the turn still completes', async () => {
    const h = await hostile((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = `data: ${JSON.stringify({ choices: [{ delta: { content: 'Blah blah blah. ' } }] })}\n\n`;
      const timer = setInterval(() => {
        if (!res.write(chunk.repeat(100))) return;
      }, 1);
      res.on('close', () => clearInterval(timer));
    });
    const { engine, rec } = buildEngine({
      ...fake.env(),
      PIPELINE_STT: 'deepgram',
      PIPELINE_LLM: 'openai',
      LLM_API_URL: h.url,
      PIPELINE_TTS: 'elevenlabs',
    });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await until(() => named(rec, 'response-done').length === 1, 15_000, 'cut turn');
    const done = named(rec, 'response-done')[0][0] as ResponseSummary;
    expect(done.status).toBe('completed');
    expect(done.items[0].transcript!.length).toBeLessThanOrEqual(4100);
    // One speech request per sentence, never more than three arriving at once.
    expect(fake.requestsTo(`/v1/text-to-speech/${encodeURIComponent('JBFqnCBsd6RMkjVDRZzb')}/stream`).length).toBe(
      done.items[0].transcript!.split('. ').length,
    );
    engine.close();
    await h.close();
  });

  it('a backend answering HTML, or 2 MB of JSON', async () => {
    const html = await hostile((res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>oops</html>');
    });
    await turnFails({ PIPELINE_LLM: 'backend', BACKEND_API_BASE_URL: html.url }, /reply is not a JSON object/);
    await html.close();
    const huge = await hostile((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ conversationId: 'c', reply: 'x'.repeat(2 * 1024 * 1024) }));
    });
    await turnFails({ PIPELINE_LLM: 'backend', BACKEND_API_BASE_URL: huge.url }, /reply larger than 262144 bytes/);
    await huge.close();
  });

  it('a speech endpoint answering 200 with no audio (the caller must not sit in silence)', async () => {
    const h = await hostile((res) => {
      res.writeHead(200, { 'content-type': 'audio/basic' });
      res.end();
    });
    await turnFails(
      { PIPELINE_LLM: 'backend', ELEVENLABS_API_URL: h.url },
      /tts \(elevenlabs\): no audio for a sentence/,
    );
    await h.close();
  });
});

describe('hostile clients of the provider fakes', () => {
  it('answer a clear status and JSON error for a missing key, a bad body, a wrong method or path', async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${fake.baseUrl}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });
    const auth = { authorization: 'Bearer fake-provider-key' };
    expect((await post('/v1/chat/completions', '{}')).status).toBe(401);
    expect((await post('/v1/chat/completions', '{}', { authorization: 'Bearer forged' })).status).toBe(401);
    const bad = await post('/v1/chat/completions', '{"messages": ', auth);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/JSON object/);
    expect((await post('/v1/chat/completions', JSON.stringify({ x: 'y'.repeat(2 << 20) }), auth)).status).toBe(400);
    expect((await post('/v1/chat/completions', '{}', auth)).status).toBe(400);
    expect((await post('/v1/../v1/nothing', '{}', auth)).status).toBe(404);
    expect((await fetch(`${fake.baseUrl}/v1/chat/completions`)).status).toBe(405);
    expect((await post('/v1/audio/speech', JSON.stringify({ input: 'hi', response_format: 'mp3' }), auth)).status).toBe(
      400,
    );
    expect(
      (await post('/conversation/message', JSON.stringify({ conversationId: 'nope', message: 'hi' }), auth)).status,
    ).toBe(404);
  });

  it('refuse a WebSocket upgrade without the key, on another path, or with another audio encoding', async () => {
    const status = (path: string, headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${fake.wsBaseUrl}${path}`, { headers });
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          res.resume();
          ws.terminate();
        });
        ws.on('open', () => {
          resolve(101);
          ws.close();
        });
        ws.on('error', () => undefined);
      });
    expect(await status('/v1/listen?encoding=mulaw&sample_rate=8000', {})).toBe(401);
    expect(await status('/v1/listen?encoding=mulaw&sample_rate=8000', { authorization: 'Token forged' })).toBe(401);
    expect(
      await status('/v1/listen?encoding=linear16&sample_rate=8000', { authorization: 'Token fake-provider-key' }),
    ).toBe(400);
    expect(await status('/v1/elsewhere', { authorization: 'Token fake-provider-key' })).toBe(404);
    expect(
      await status('/v1/listen?encoding=mulaw&sample_rate=8000', { authorization: 'Token fake-provider-key' }),
    ).toBe(101);
  });
});
