/**
 * The orchestrator protocol at /ws over real sockets: connection, an audio turn answered with the
 * transcript, an intent, the agent's words and a voice_url serving the spoken reply as a WAV; a chat
 * turn (a text-only conversation, channel `chat`); ping; one turn at a time; bad messages.
 */
import { startAppWsServer, TestClient, tone16k, waitForServer, type AppWsServer } from '../helpers/app-ws-server';
import { parseWavHeader } from '../../src/audio/wav-header';

let server: AppWsServer;
const clients: TestClient[] = [];

beforeEach(async () => {
  server = await startAppWsServer();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.close();
});

async function open(): Promise<{ client: TestClient; sessionId: string }> {
  const client = await TestClient.open(`${server.wsUrl}/ws`);
  clients.push(client);
  const [connection] = await client.waitForType('connection');
  return { client, sessionId: connection.session_id as string };
}

const isoTimestamp = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

describe('orchestrator /ws', () => {
  test('connection first, with a session id and a timestamp', async () => {
    const { client, sessionId } = await open();
    expect(client.messages[0]).toEqual({
      type: 'connection',
      status: 'connected',
      session_id: sessionId,
      timestamp: isoTimestamp,
    });
    expect(sessionId).toMatch(/^ws_[A-Za-z0-9_-]{16}$/);
  });

  test('an audio turn: audio_ack, then audio_response with transcript, intent, response and a playable voice_url', async () => {
    const { client, sessionId } = await open();
    const speech = tone16k(700);
    client.send({
      type: 'audio',
      audio_data: speech.toString('base64'),
      user_id: 'user-42',
      session_id: sessionId,
      context: { page: 'checkout' },
    });
    const [ack] = await client.waitForType('audio_ack');
    expect(ack).toEqual({ type: 'audio_ack', bytes: speech.length, duration_ms: 700, timestamp: isoTimestamp });
    const [reply] = await client.waitForType('audio_response');
    expect(reply).toEqual({
      type: 'audio_response',
      transcribed_text: '(caller spoke for 0.7 s)',
      intent: 'statement',
      response: 'Thanks, I heard you.',
      voice_url: expect.stringMatching(new RegExp(`^${server.url}/app-ws/replies/[A-Za-z0-9_-]{32}\\.wav$`)),
      timestamp: isoTimestamp,
    });
    const conv = server.conversations[0];
    expect(conv.channel.provider).toBe('app-ws');
    expect(conv.request.mode).toBe('voice');
    expect(conv.start.from).toBe('app:user-42');
    expect(conv.start.parameters.context).toBe('{"page":"checkout"}');
    // Every agent chunk was delivered into the reply: acknowledged at once.
    expect(conv.played.map((p) => p.marker)).toEqual(['1.0', '1.1', '1.2', '1.3', '1.4']);

    const res = await fetch(reply.voice_url as string);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    const wav = Buffer.from(await res.arrayBuffer());
    const header = parseWavHeader(wav);
    expect(header).toMatchObject({ sampleRateHz: 16000, channels: 1, bitsPerSample: 16, dataBytes: 16000 });
    expect(wav.readInt16LE(44 + 20)).not.toBe(0);
  });

  test('a spoken reply over 60 s is kept to its first 60 s for voice_url', async () => {
    await server.close();
    server = await startAppWsServer({ agentAudioMs: 70_000 });
    const { client } = await open();
    client.send({ type: 'audio', audio_data: tone16k(300).toString('base64') });
    const [reply] = await client.waitForType('audio_response', 1, 20_000);
    const wav = Buffer.from(await (await fetch(reply.voice_url as string)).arrayBuffer());
    expect(parseWavHeader(wav).dataBytes).toBe(60 * 32_000);
  });

  test('a second audio turn continues the same conversation', async () => {
    const { client } = await open();
    client.send({ type: 'audio', audio_data: tone16k(300).toString('base64') });
    await client.waitForType('audio_response');
    client.send({ type: 'audio', audio_data: tone16k(500).toString('base64') });
    const replies = await client.waitForType('audio_response', 2);
    expect(replies[1].transcribed_text).toBe('(caller spoke for 0.5 s)');
    expect(server.conversations).toHaveLength(1);
  });

  test('a chat turn: a text-only conversation (channel chat) answered with text_response', async () => {
    const { client } = await open();
    client.send({ type: 'text', text: 'Can I get a refund?', user_id: 'u1' });
    const [reply] = await client.waitForType('text_response');
    expect(reply).toEqual({
      type: 'text_response',
      response: 'You wrote: Can I get a refund?',
      intent: 'billing',
      timestamp: isoTimestamp,
    });
    const conv = server.conversations[0];
    expect(conv.channel.provider).toBe('chat');
    expect(conv.channel.format).toBeUndefined();
    expect(conv.request.mode).toBe('text');
    client.send({ type: 'text', text: 'Thanks, bye' });
    const replies = await client.waitForType('text_response', 2);
    expect(replies[1].intent).toBe('goodbye');
    expect(server.conversations).toHaveLength(1);
  });

  test('audio in a chat conversation is refused with text_conversation', async () => {
    const { client } = await open();
    client.send({ type: 'text', text: 'hello' });
    await client.waitForType('text_response');
    client.send({ type: 'audio', audio_data: tone16k(200).toString('base64') });
    const [err] = await client.waitForType('error');
    expect(err).toMatchObject({ code: 'text_conversation', timestamp: isoTimestamp });
  });

  test('one turn at a time: a message during a turn gets turn_in_progress', async () => {
    const { client } = await open();
    client.send({ type: 'audio', audio_data: tone16k(300).toString('base64') });
    client.send({ type: 'text', text: 'and another thing' });
    const [err] = await client.waitForType('error');
    expect(err).toMatchObject({ code: 'turn_in_progress' });
    await client.waitForType('audio_response');
  });

  test('ping is answered with pong and a timestamp', async () => {
    const { client } = await open();
    client.send({ type: 'ping' });
    const [pong] = await client.waitForType('pong');
    expect(pong).toEqual({ type: 'pong', timestamp: isoTimestamp });
  });

  test('closing the socket ends the conversation', async () => {
    const { client } = await open();
    client.send({ type: 'text', text: 'hi' });
    await client.waitForType('text_response');
    await client.close();
    await waitForServer(server, () => server.conversations[0].ended === 'channel-closed');
  });

  test.each([
    ['not JSON', '{oops', 'invalid_json'],
    ['an unknown type', { type: 'audio_data' }, 'unknown_type'],
    ['audio without audio_data', { type: 'audio' }, 'invalid_audio'],
    ['audio under 100 ms', { type: 'audio', audio_data: tone16k(50).toString('base64') }, 'invalid_audio'],
    ['audio over 20 s', { type: 'audio', audio_data: Buffer.alloc(640_002).toString('base64') }, 'invalid_audio'],
    ['text that is not a string', { type: 'text', text: 42 }, 'invalid_field'],
    ['a context that is not an object', { type: 'text', text: 'hi', context: 'page=1' }, 'invalid_field'],
    ['a context over 2 KB', { type: 'text', text: 'hi', context: { a: 'x'.repeat(3000) } }, 'invalid_field'],
    ['a bad user_id', { type: 'text', text: 'hi', user_id: '<script>' }, 'invalid_field'],
    ['another session_id', { type: 'text', text: 'hi', session_id: 'ws_someone_else' }, 'session_mismatch'],
  ])('%s gets an error with a timestamp and the socket stays usable', async (_name, message, code) => {
    const { client } = await open();
    client.send(message);
    const [err] = await client.waitForType('error');
    expect(err).toEqual({ type: 'error', code, message: expect.any(String), timestamp: isoTimestamp });
    client.send({ type: 'text', text: 'still there?' });
    await client.waitForType('text_response');
  });

  test('reply URLs: unknown ids and other spellings are 404 JSON', async () => {
    for (const path of [
      '/app-ws/replies/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.wav',
      '/app-ws/replies/..%2F..%2Fetc%2Fpasswd',
      '/app-ws/replies/',
      '/App-ws/replies/x.wav',
    ]) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
  });
});
