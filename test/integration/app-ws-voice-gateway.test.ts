/**
 * The voice-gateway protocol over real sockets: init/ready, caller audio streamed in arbitrary chunk
 * sizes reaching the conversation as 20 ms frames, agent audio back as audio_out (acknowledged at
 * real-time pace), transcripts of both sides, text turns, ping, barge-in clear, and every bad message
 * answered with a coded error.
 */
import { startAppWsServer, TestClient, tone16k, waitForServer, type AppWsServer } from '../helpers/app-ws-server';
import { MAX_BAD_MESSAGES } from '../../src/channels/app-ws/socket-session';

let server: AppWsServer;
const clients: TestClient[] = [];

beforeEach(async () => {
  server = await startAppWsServer();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.close();
});

async function open(): Promise<TestClient> {
  const client = await TestClient.open(`${server.wsUrl}/voice-gateway`);
  clients.push(client);
  return client;
}

async function ready(client: TestClient, callId = 'app-call-1'): Promise<Record<string, unknown>> {
  client.send({ type: 'init', callId, languageHint: 'en' });
  const [msg] = await client.waitForType('ready');
  return msg;
}

/** Sends PCM16 16 kHz audio in chunks of `chunkMs` (odd sizes on purpose), as fast as the socket takes them. */
function streamAudio(client: TestClient, audio: Buffer, callId = 'app-call-1', chunkBytes = 1_234): void {
  for (let offset = 0; offset < audio.length; offset += chunkBytes) {
    const end = Math.min(audio.length, offset + chunkBytes);
    const chunk = audio.subarray(offset, end - ((end - offset) % 2));
    client.send({ type: 'audio', callId, chunk: chunk.toString('base64') });
  }
}

describe('voice gateway', () => {
  test('init starts a voice conversation (PCM16 16 kHz, the language hint, the client call id) and answers ready', async () => {
    const client = await open();
    const msg = await ready(client, 'abc-123');
    expect(msg).toEqual({ type: 'ready', callId: 'abc-123', conversationId: 'call-1' });
    const conv = server.conversations[0];
    expect(conv.channel.format).toEqual({ encoding: 'pcm16', sampleRateHz: 16000 });
    expect(conv.channel.provider).toBe('app-ws');
    expect(conv.request).toMatchObject({ mode: 'voice', languageHint: 'en' });
    expect(conv.start).toMatchObject({ provider: 'app-ws', streamId: 'abc-123' });
    expect(conv.start.parameters).toMatchObject({ protocol: 'voice-gateway', clientCallId: 'abc-123' });
  });

  test('a greeting played while the conversation starts reaches the client after ready, in order', async () => {
    await server.close();
    server = await startAppWsServer({ greeting: true });
    const client = await open();
    await ready(client);
    await client.waitForType('transcript');
    expect(client.messages.map((m) => m.type)).toEqual(['ready', 'audio_out', 'transcript']);
    expect(client.messages[2]).toEqual({ type: 'transcript', role: 'assistant', text: 'Welcome!' });
  });

  test('an audio turn: caller frames, both transcripts and the agent audio as audio_out, acknowledged at playback pace', async () => {
    const client = await open();
    await ready(client);
    const speech = Buffer.concat([tone16k(600), Buffer.alloc(16000 * 2 * 0.5)]);
    streamAudio(client, speech);
    const transcripts = await client.waitForType('transcript', 2);
    expect(transcripts[0]).toEqual({ type: 'transcript', role: 'caller', text: '(caller spoke for 0.6 s)' });
    expect(transcripts[1]).toEqual({ type: 'transcript', role: 'assistant', text: 'Thanks, I heard you.' });
    const out = await client.waitForType('audio_out', 5);
    const bytes = out.map((m) => Buffer.from(m.chunk as string, 'base64'));
    expect(bytes.every((b) => b.length === 3200)).toBe(true);
    expect(bytes[0].readInt16LE(2)).not.toBe(0);
    const conv = server.conversations[0];
    // 1.1 s of audio = 55 whole frames of 20 ms, whatever the chunk sizes were.
    await waitForServer(server, () => conv.callerFrames === 55);
    // 500 ms of agent audio: the last marker is acknowledged no sooner than 500 ms after it was sent.
    await waitForServer(server, () => conv.played.length === 5);
    const sentAt = conv.sentAudio[0].atMs;
    expect(conv.played.map((p) => p.marker)).toEqual(['1.0', '1.1', '1.2', '1.3', '1.4']);
    expect(conv.played[4].atMs - sentAt).toBeGreaterThanOrEqual(480);
    expect(conv.played[0].atMs - sentAt).toBeGreaterThanOrEqual(90);
  });

  test('a text turn: the agent answers with an assistant transcript line', async () => {
    const client = await open();
    await ready(client);
    client.send({ type: 'text', callId: 'app-call-1', text: 'Where is my order?' });
    const [line] = await client.waitForType('transcript');
    expect(line).toEqual({ type: 'transcript', role: 'assistant', text: 'You wrote: Where is my order?' });
    expect(server.conversations[0].callerTexts).toEqual(['Where is my order?']);
  });

  test('ping is answered with pong, before and after init', async () => {
    const client = await open();
    client.send({ type: 'ping' });
    const [pong] = await client.waitForType('pong');
    expect(typeof pong.timestamp).toBe('string');
    await ready(client);
    client.send({ type: 'ping' });
    await client.waitForType('pong', 2);
  });

  test('barge-in: clear reaches the client and unplayed markers are never acknowledged', async () => {
    await server.close();
    server = await startAppWsServer({ agentAudioMs: 3000 });
    const client = await open();
    await ready(client);
    streamAudio(client, Buffer.concat([tone16k(300), Buffer.alloc(16000 * 2 * 0.4)]));
    await client.waitForType('audio_out', 30);
    const conv = server.conversations[0];
    conv.channel.clear();
    const playedAtClear = conv.played.length;
    await client.waitForType('clear');
    // The agent's next audio plays at once, and only its marker is acknowledged.
    conv.channel.sendAudio(tone16k(100), 'after.0');
    await new Promise((r) => setTimeout(r, 800));
    expect(playedAtClear).toBeLessThan(30);
    expect(conv.played.slice(playedAtClear).map((p) => p.marker)).toEqual(['after.0']);
  });

  test('closing the socket ends the conversation (channel-closed)', async () => {
    const client = await open();
    await ready(client);
    await client.close();
    await waitForServer(server, () => server.conversations[0].ended === 'channel-closed');
  });

  test('our side ending the conversation closes the socket with 1000', async () => {
    const client = await open();
    await ready(client);
    server.conversations[0].channel.end('agent-hangup');
    await client.waitFor(() => client.closed);
    expect(client.closed).toEqual({ code: 1000, reason: 'agent-hangup' });
  });

  test('a full server refuses the conversation with a busy error and close code 1013', async () => {
    server.busy = true;
    const client = await open();
    client.send({ type: 'init', callId: 'x' });
    const [err] = await client.waitForType('error');
    expect(err).toMatchObject({ code: 'busy' });
    await client.waitFor(() => client.closed);
    expect(client.closed?.code).toBe(1013);
  });

  test.each([
    ['not JSON', 'hello', 'invalid_json'],
    ['a JSON array', '[1,2]', 'invalid_json'],
    ['no type', { callId: 'a' }, 'missing_type'],
    ['an unknown type', { type: 'dance' }, 'unknown_type'],
    ['audio before init', { type: 'audio', callId: 'a', chunk: 'AAAAAA==' }, 'not_initialized'],
    ['init without callId', { type: 'init' }, 'invalid_field'],
    ['init with a bad callId', { type: 'init', callId: 'a b/c' }, 'invalid_field'],
    ['init with a bad language hint', { type: 'init', callId: 'a', languageHint: 'english!' }, 'invalid_field'],
  ])('%s gets an error and the socket stays open', async (_name, message, code) => {
    const client = await open();
    client.send(message);
    const [err] = await client.waitForType('error');
    expect(err).toMatchObject({ type: 'error', code });
    expect(typeof err.message).toBe('string');
    client.send({ type: 'ping' });
    await client.waitForType('pong');
    expect(server.module.counters.protocolErrors[code as string]).toBe(1);
  });

  test.each([
    ['a different callId', { type: 'audio', callId: 'other', chunk: 'AAAAAA==' }, 'call_mismatch'],
    ['odd-length PCM', { type: 'audio', callId: 'app-call-1', chunk: 'AAAA' }, 'invalid_audio'],
    ['bad base64', { type: 'audio', callId: 'app-call-1', chunk: '@@@@' }, 'invalid_audio'],
    ['an empty chunk', { type: 'audio', callId: 'app-call-1', chunk: '' }, 'invalid_audio'],
    [
      'a chunk over 2 s',
      { type: 'audio', callId: 'app-call-1', chunk: Buffer.alloc(64_002).toString('base64') },
      'invalid_audio',
    ],
    ['blank text', { type: 'text', callId: 'app-call-1', text: '   ' }, 'invalid_field'],
    ['text with control characters', { type: 'text', callId: 'app-call-1', text: 'hi\u0007' }, 'invalid_field'],
    ['text over 2000 characters', { type: 'text', callId: 'app-call-1', text: 'a'.repeat(2001) }, 'invalid_field'],
    ['a second init', { type: 'init', callId: 'app-call-1' }, 'already_initialized'],
    [
      'a message over 96 KiB',
      { type: 'text', callId: 'app-call-1', text: 'a', pad: 'x'.repeat(100_000) },
      'message_too_large',
    ],
  ])('after init, %s gets an error and the conversation goes on', async (_name, message, code) => {
    const client = await open();
    await ready(client);
    client.send(message);
    const [err] = await client.waitForType('error');
    expect(err).toMatchObject({ code });
    client.send({ type: 'text', callId: 'app-call-1', text: 'still there?' });
    await client.waitForType('transcript');
  });

  test('a binary frame gets an error', async () => {
    const client = await open();
    client.ws.send(Buffer.from([1, 2, 3]));
    const [err] = await client.waitForType('error');
    expect(err).toMatchObject({ code: 'binary_not_supported' });
  });

  test(`${MAX_BAD_MESSAGES} bad messages close the socket with 1008`, async () => {
    const client = await open();
    for (let i = 0; i < MAX_BAD_MESSAGES; i++) client.send('nope');
    await client.waitFor(() => client.closed);
    expect(client.closed?.code).toBe(1008);
    expect(client.ofType('error')).toHaveLength(MAX_BAD_MESSAGES);
  });

  test('a message flood (over 200 a second) gets rate_limited and the socket is closed', async () => {
    const client = await open();
    for (let i = 0; i < 400; i++) client.send({ type: 'ping' });
    await client.waitFor(() => client.closed);
    expect(client.closed?.code).toBe(1008);
    expect(client.ofType('error')).toEqual([expect.objectContaining({ code: 'rate_limited' })]);
    expect(client.ofType('pong').length).toBeLessThanOrEqual(200);
  });

  test('a message over the 1 MiB hard cap closes the socket (1009) without a crash', async () => {
    const client = await open();
    client.send('x'.repeat(1024 * 1024 + 10));
    await client.waitFor(() => client.closed);
    expect(client.closed?.code).toBe(1009);
    const again = await open();
    again.send({ type: 'ping' });
    await again.waitForType('pong');
  });
});
