/**
 * The local Realtime server over a real WebSocket with real audio (espeak-ng speech when installed,
 * else the synthetic voice): VAD, transcription, spoken replies at real-time pace, cancel, truncate,
 * function calls, bad input and the fault-injection controls.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { synthesize } from '../../src/simulators/tts';
import { buildSessionUpdate, type SessionOptions } from '../../src/engines/realtime/protocol';

type Ev = { type: string; [k: string]: unknown };

/** A raw test client: records every server event, waits for the ones a test needs. */
class RawClient {
  readonly events: Ev[] = [];
  readonly ws: WebSocket;
  closeCode?: number;
  private waiters: Array<() => void> = [];

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data) => {
      this.events.push(JSON.parse(data.toString()) as Ev);
      for (const w of this.waiters.splice(0)) w();
    });
    this.ws.on('close', (code) => {
      this.closeCode = code;
      for (const w of this.waiters.splice(0)) w();
    });
    this.ws.on('error', () => undefined);
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  send(event: object): void {
    this.ws.send(JSON.stringify(event));
  }

  of(type: string): Ev[] {
    return this.events.filter((e) => e.type === type);
  }

  /** Waits until `count` events of `type` (matching `match`) have arrived since index `from`. */
  waitFor(type: string, match: (e: Ev) => boolean = () => true, timeoutMs = 15000, from = 0): Promise<Ev> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.events.slice(from).find((e) => e.type === type && match(e));
        if (found) {
          clearTimeout(timer);
          resolve(found);
          return true;
        }
        this.waiters.push(() => void check());
        return false;
      };
      const timer = setTimeout(() => reject(new Error(`no ${type} within ${timeoutMs} ms`)), timeoutMs);
      check();
    });
  }

  waitClosed(timeoutMs = 5000): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.closeCode !== undefined) return resolve(this.closeCode);
      const timer = setTimeout(() => reject(new Error('socket did not close')), timeoutMs);
      this.ws.once('close', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

const SESSION: SessionOptions = {
  model: 'gpt-realtime',
  instructions: 'You are a test agent.',
  voice: 'marin',
  audioFormat: 'pcmu',
  vad: { type: 'server_vad', threshold: 0.5, silenceMs: 500, prefixPaddingMs: 300 },
  transcriptionModel: 'gpt-4o-transcribe',
};

const MULAW_SILENCE = 0xff;

/** Sends mu-law audio as 20 ms appends (as fast as the socket takes them: the VAD runs on audio time). */
function sendMulaw(client: RawClient, audio: Buffer): void {
  for (let off = 0; off < audio.length; off += 160) {
    client.send({ type: 'input_audio_buffer.append', audio: audio.subarray(off, off + 160).toString('base64') });
  }
}

function silence(ms: number): Buffer {
  return Buffer.alloc(ms * 8, MULAW_SILENCE);
}

function audioBytesOf(client: RawClient, responseId: string): number {
  return client
    .of('response.output_audio.delta')
    .filter((e) => e.response_id === responseId)
    .reduce((n, e) => n + Buffer.from(e.delta as string, 'base64').length, 0);
}

describe('LocalRealtimeServer', () => {
  let server: LocalRealtimeServer;
  const clients: RawClient[] = [];

  async function connect(model = 'gpt-realtime', headers: Record<string, string> = {}): Promise<RawClient> {
    const c = new RawClient(`${server.url}?model=${model}`, headers);
    clients.push(c);
    await c.opened();
    await c.waitFor('session.created');
    return c;
  }

  async function configured(options: Partial<SessionOptions> = {}): Promise<RawClient> {
    const c = await connect();
    c.send(buildSessionUpdate({ ...SESSION, ...options }));
    await c.waitFor('session.updated');
    return c;
  }

  beforeAll(async () => {
    server = await LocalRealtimeServer.start({
      replies: ({ turn, callerText, toolOutput }) =>
        toolOutput !== undefined
          ? `Your order ships ${toolOutput}.`
          : turn === 0 && !callerText
            ? 'Hello, thanks for calling. How can I help you today?'
            : 'Sure, I can help with your order status.',
      callerTranscripts: ['I would like to check my order status'],
      toolCalls: ({ tools, toolOutput }) =>
        toolOutput === undefined && tools.some((t) => t.name === 'lookup_order')
          ? { name: 'lookup_order', arguments: { orderId: '42' }, callId: 'call_test_1' }
          : undefined,
    });
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    server.acceptConnections();
  });

  afterAll(() => server.close());

  it('creates a session for ?model= and echoes session.update in the GA shape', async () => {
    const c = await connect('gpt-realtime-mini');
    expect(c.events[0]).toMatchObject({
      type: 'session.created',
      session: { type: 'realtime', model: 'gpt-realtime-mini' },
    });
    c.send(buildSessionUpdate(SESSION));
    const updated = await c.waitFor('session.updated');
    expect(updated.session).toMatchObject({
      type: 'realtime',
      instructions: 'You are a test agent.',
      audio: {
        input: {
          format: { type: 'audio/pcmu' },
          turn_detection: { type: 'server_vad', threshold: 0.5, silence_duration_ms: 500 },
          transcription: { model: 'gpt-4o-transcribe' },
        },
        output: { format: { type: 'audio/pcmu' }, voice: 'marin' },
      },
    });
    const info = server.sessions[server.sessions.length - 1];
    expect(info.model).toBe('gpt-realtime-mini');
    expect(info.inputFormat).toBe('pcmu');
    expect(info.sessionUpdates).toHaveLength(1);
  });

  it('detects a spoken caller turn, transcribes it and answers with speech at real-time pace', async () => {
    const c = await configured();
    const speech = await synthesize('I would like to check my order status please', { format: 'pcmu' });
    const speechMs = speech.length / 8;
    sendMulaw(c, Buffer.concat([silence(600), speech, silence(1200)]));

    const started = await c.waitFor('input_audio_buffer.speech_started');
    const stopped = await c.waitFor('input_audio_buffer.speech_stopped');
    expect(stopped.item_id).toBe(started.item_id);
    // Speech begins after the 600 ms of silence (espeak has a short lead-in) ...
    expect(started.audio_start_ms).toBeGreaterThanOrEqual(580);
    expect(started.audio_start_ms).toBeLessThan(600 + 300);
    // ... and stops once 500 ms of silence follow its end.
    expect(stopped.audio_end_ms).toBeGreaterThan(600 + speechMs * 0.7 + 500);
    expect(stopped.audio_end_ms).toBeLessThanOrEqual(600 + speechMs + 500 + 20);

    await c.waitFor('input_audio_buffer.committed', (e) => e.item_id === started.item_id);
    const added = await c.waitFor('conversation.item.added', (e) => (e.item as { role?: string }).role === 'user');
    expect((added.item as { id: string }).id).toBe(started.item_id);
    const transcript = await c.waitFor('conversation.item.input_audio_transcription.completed');
    expect(transcript).toMatchObject({ item_id: started.item_id, transcript: 'I would like to check my order status' });

    const created = await c.waitFor('response.created');
    const responseId = (created.response as { id: string }).id;
    const firstDelta = await c.waitFor('response.output_audio.delta');
    const firstDeltaAt = Date.now();
    const audioDone = await c.waitFor('response.output_audio.done', () => true, 20000);
    const streamedForMs = Date.now() - firstDeltaAt;
    const done = await c.waitFor('response.done');

    const replyText = 'Sure, I can help with your order status.';
    const expectedBytes = (await synthesize(replyText, { format: 'pcmu' })).length;
    const receivedBytes = audioBytesOf(c, responseId);
    expect(receivedBytes).toBe(expectedBytes);
    expect(firstDelta.item_id).toBe(audioDone.item_id);
    // Real-time pace: the stream cannot finish faster than the audio lasts minus the 1 s lead.
    expect(streamedForMs).toBeGreaterThanOrEqual(receivedBytes / 8 - 1000 - 150);

    const transcriptDeltas = c
      .of('response.output_audio_transcript.delta')
      .filter((e) => e.response_id === responseId)
      .map((e) => e.delta)
      .join('');
    expect(transcriptDeltas).toBe(replyText);
    expect(await c.waitFor('response.output_audio_transcript.done')).toMatchObject({ transcript: replyText });
    const response = done.response as {
      status: string;
      usage: { output_token_details: { audio_tokens: number }; input_token_details: { audio_tokens: number } };
    };
    expect(response.status).toBe('completed');
    // ~10 audio tokens per second of audio, in and out.
    expect(response.usage.output_token_details.audio_tokens).toBe(Math.round(receivedBytes / 8 / 100));
    expect(response.usage.input_token_details.audio_tokens).toBeGreaterThan(0);
  });

  it('greets on response.create before any speech, and cancels on response.cancel', async () => {
    const c = await configured();
    c.send({ type: 'response.create' });
    const created = await c.waitFor('response.created');
    const id = (created.response as { id: string }).id;
    await c.waitFor('response.output_audio_transcript.delta');
    expect(c.of('response.output_audio_transcript.delta')[0].delta).toBe('Hello,');
    await c.waitFor('response.output_audio.delta');
    c.send({ type: 'response.cancel' });
    const done = await c.waitFor('response.done');
    expect(done.response).toMatchObject({ id, status: 'cancelled', status_details: { reason: 'client_cancelled' } });
    const deltasAtCancel = c.of('response.output_audio.delta').length;
    const total = (await synthesize('Hello, thanks for calling. How can I help you today?', { format: 'pcmu' })).length;
    expect(audioBytesOf(c, id)).toBeLessThan(total);
    // A second cancel has nothing to cancel: an error, and the socket stays usable.
    c.send({ type: 'response.cancel' });
    const err = await c.waitFor('error');
    expect(err.error).toMatchObject({ type: 'invalid_request_error', code: 'response_cancel_not_active' });
    expect(c.of('response.output_audio.delta')).toHaveLength(deltasAtCancel);
    expect(server.sessions[server.sessions.length - 1].cancels).toBe(2);
  });

  it('truncates at a position already sent, and rejects one beyond it like the real API', async () => {
    const c = await configured();
    c.send({ type: 'response.create' });
    const created = await c.waitFor('response.created');
    const id = (created.response as { id: string }).id;
    const delta = await c.waitFor('response.output_audio.delta');
    c.send({ type: 'response.cancel' });
    await c.waitFor('response.done');
    const sentMs = Math.floor(audioBytesOf(c, id) / 8);
    const itemId = delta.item_id as string;

    c.send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: sentMs + 500 });
    const err = await c.waitFor('error');
    expect((err.error as { message: string }).message).toBe(
      `Audio content of ${sentMs}ms is already shorter than ${sentMs + 500}ms`,
    );
    c.send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: 300 });
    expect(await c.waitFor('conversation.item.truncated')).toMatchObject({ item_id: itemId, audio_end_ms: 300 });
    expect(server.sessions[server.sessions.length - 1].truncates).toEqual([
      { item_id: itemId, content_index: 0, audio_end_ms: sentMs + 500, ok: false },
      { item_id: itemId, content_index: 0, audio_end_ms: 300, ok: true },
    ]);
  });

  it('speaks PCM16 at 24 kHz when the session asks for audio/pcm', async () => {
    const c = await configured({ audioFormat: 'pcm16' });
    c.send({ type: 'response.create' });
    const created = await c.waitFor('response.created');
    await c.waitFor('response.done', () => true, 20000);
    const bytes = audioBytesOf(c, (created.response as { id: string }).id);
    const greeting = 'Hello, thanks for calling. How can I help you today?';
    const mulawBytes = (await synthesize(greeting, { format: 'pcmu' })).length;
    expect(bytes % 2).toBe(0);
    // Same speech, 3x the sample rate and 2 bytes per sample: 6x the bytes of 8 kHz mu-law.
    expect(bytes / mulawBytes).toBeGreaterThan(5.9);
    expect(bytes / mulawBytes).toBeLessThan(6.1);
    expect(bytes).toBe((await synthesize(greeting, { format: 'pcm16-24k' })).length);
  });

  it('cancels by itself on barge-in only when interrupt_response is set', async () => {
    const speech = await synthesize('Wait, stop', { format: 'pcmu' });
    for (const interruptResponse of [false, true]) {
      const c = await configured({ interruptResponse });
      c.send({ type: 'response.create' });
      await c.waitFor('response.output_audio.delta');
      sendMulaw(c, Buffer.concat([silence(100), speech]));
      await c.waitFor('input_audio_buffer.speech_started');
      // A round trip after speech_started: anything the server did on its own has been sent by now.
      c.send({ type: 'input_audio_buffer.clear' });
      await c.waitFor('input_audio_buffer.cleared');
      const done = c.of('response.done');
      if (interruptResponse) {
        expect(done).toHaveLength(1);
        expect(done[0].response).toMatchObject({ status: 'cancelled', status_details: { reason: 'turn_detected' } });
      } else {
        expect(done).toHaveLength(0);
      }
    }
  });

  it('stores conversation.item.create as context and acknowledges it', async () => {
    const c = await configured();
    c.send({
      type: 'conversation.item.create',
      item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'My invoice' }] },
    });
    c.send({
      type: 'conversation.item.create',
      item: { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Sure.' }] },
    });
    await c.waitFor('conversation.item.added', (e) => (e.item as { role: string }).role === 'assistant');
    const info = server.sessions[server.sessions.length - 1];
    expect(info.contextItems.map((i) => i.type === 'message' && i.content[0])).toEqual([
      { type: 'input_text', text: 'My invoice' },
      { type: 'output_text', text: 'Sure.' },
    ]);
  });

  it('asks for a function call and answers with its output after function_call_output + response.create', async () => {
    const c = await configured({
      tools: [{ type: 'function', name: 'lookup_order', parameters: { type: 'object', properties: {} } }],
    });
    c.send({ type: 'response.create' });
    const call = await c.waitFor('response.function_call_arguments.done');
    expect(call).toMatchObject({ call_id: 'call_test_1', name: 'lookup_order', arguments: '{"orderId":"42"}' });
    const first = await c.waitFor('response.done');
    expect(first.response).toMatchObject({
      status: 'completed',
      output: [{ type: 'function_call', call_id: 'call_test_1' }],
    });
    expect(c.of('response.output_audio.delta')).toHaveLength(0);

    c.send({
      type: 'conversation.item.create',
      item: { type: 'function_call_output', call_id: 'call_test_1', output: 'tomorrow' },
    });
    c.send({ type: 'response.create' });
    const spoken = await c.waitFor('response.output_audio_transcript.done', () => true, 20000);
    expect(spoken.transcript).toBe('Your order ships tomorrow.');
    const info = server.sessions[server.sessions.length - 1];
    expect(info.functionCalls).toEqual([
      { call_id: 'call_test_1', name: 'lookup_order', arguments: '{"orderId":"42"}' },
    ]);
    expect(info.contextItems).toMatchObject([
      { type: 'function_call_output', call_id: 'call_test_1', output: 'tomorrow' },
    ]);
  });

  it('without turn detection, commits only on input_audio_buffer.commit and does not answer by itself', async () => {
    const c = await configured();
    c.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: null } } } });
    await c.waitFor('session.updated', () => c.of('session.updated').length === 2);
    sendMulaw(c, Buffer.concat([silence(300), await synthesize('Hello there', { format: 'pcmu' }), silence(1500)]));
    c.send({ type: 'input_audio_buffer.commit' });
    const committed = await c.waitFor('input_audio_buffer.committed');
    const transcript = await c.waitFor('conversation.item.input_audio_transcription.completed');
    expect(transcript.item_id).toBe(committed.item_id);
    // Flush: a later round trip proves nothing else was produced for the commit.
    c.send({ type: 'input_audio_buffer.clear' });
    await c.waitFor('input_audio_buffer.cleared');
    expect(c.of('input_audio_buffer.speech_started')).toHaveLength(0);
    expect(c.of('response.created')).toHaveLength(0);
  });

  it('rejects garbage with error events and keeps the socket usable', async () => {
    const c = await configured();
    c.ws.send('not json');
    c.send({ no: 'type' });
    c.send({ type: 'bogus.event' });
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'robot', content: [] } });
    c.send({
      type: 'session.update',
      session: { type: 'realtime', audio: { input: { format: { type: 'audio/opus' } } } },
    });
    c.send({ type: 'conversation.item.truncate', item_id: 'item_nope', content_index: 0, audio_end_ms: 10 });
    c.send({ type: 'input_audio_buffer.commit' });
    c.ws.send(Buffer.from([1, 2, 3]));
    await c.waitFor('error', () => c.of('error').length >= 8);
    expect(c.of('error').map((e) => (e.error as { code: string }).code)).toEqual([
      'invalid_json',
      'missing_required_parameter',
      'invalid_value',
      'invalid_value',
      'invalid_value',
      'item_truncate_invalid_item_id',
      'input_audio_buffer_commit_empty',
      'invalid_request_error',
    ]);
    for (const e of c.of('error')) expect(e.error).toMatchObject({ type: 'invalid_request_error' });
    // The failed session.update changed nothing.
    expect(server.sessions[server.sessions.length - 1].inputFormat).toBe('pcmu');
    c.send({ type: 'response.create' });
    await c.waitFor('response.created');
  });

  it('closes a socket that sends the retired OpenAI-Beta header with 4000', async () => {
    const c = new RawClient(`${server.url}?model=gpt-realtime`, { 'OpenAI-Beta': 'realtime=v1' });
    clients.push(c);
    expect(await c.waitClosed()).toBe(4000);
    expect(server.sessions[server.sessions.length - 1].openaiBeta).toBe('realtime=v1');
  });

  describe('fault injection', () => {
    it('drops every connection abruptly', async () => {
      const a = await configured();
      const b = await configured();
      server.dropAllConnections();
      expect(await a.waitClosed()).toBe(1006);
      expect(await b.waitClosed()).toBe(1006);
      await server.waitFor((s) => s.openConnections === 0);
    });

    it('refuses the next handshakes with HTTP 503, then accepts again', async () => {
      server.refuseConnections(1);
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`${server.url}?model=m`);
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('error', () => undefined);
      });
      expect(status).toBe(503);
      await connect();
    });

    it('holds a handshake open without answering (connect-timeout tests)', async () => {
      server.holdConnections(1);
      const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
      const received: Buffer[] = [];
      socket.on('data', (d) => received.push(d));
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(
        'GET /v1/realtime?model=m HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      // The next connection is served normally while the held one still has no answer.
      await connect();
      expect(Buffer.concat(received).length).toBe(0);
      socket.destroy();
    });

    it('stalls: sockets stay open and say nothing more', async () => {
      const c = await configured();
      c.send({ type: 'response.create' });
      await c.waitFor('response.output_audio.delta');
      server.stallConnections();
      const countAtStall = c.events.length;
      // A later request is still accepted (counted) but never answered.
      c.send({ type: 'bogus.event' });
      await server.waitFor((s) => s.sessions[s.sessions.length - 1].received['bogus.event'] === 1);
      expect(c.events.length).toBe(countAtStall);
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
    });

    it('sends error events on demand without closing', async () => {
      const c = await configured();
      server.sendErrorEvent('simulated outage');
      const err = await c.waitFor('error');
      expect(err.error).toMatchObject({ type: 'server_error', message: 'simulated outage' });
      c.send({ type: 'response.create' });
      await c.waitFor('response.created');
    });

    it('answers slowly when told to: response.created at once, audio after the delay', async () => {
      const c = await configured();
      server.responseDelayMs = 300;
      try {
        c.send({ type: 'response.create' });
        await c.waitFor('response.created');
        const createdAt = Date.now();
        await c.waitFor('response.output_audio.delta');
        expect(Date.now() - createdAt).toBeGreaterThanOrEqual(290);
      } finally {
        server.responseDelayMs = 0;
      }
    });

    it('ends a session at the session-length limit with an error, like the real API', async () => {
      const short = await LocalRealtimeServer.start({ maxSessionMs: 200, ttsEngine: 'tone' });
      try {
        const c = new RawClient(`${short.url}?model=m`);
        clients.push(c);
        expect(await c.waitClosed()).toBe(1000);
        expect(c.of('error')[0].error).toMatchObject({ code: 'session_expired' });
      } finally {
        await short.close();
      }
    });

    it('rejects a wrong API key with HTTP 401 when one is required', async () => {
      const strict = await LocalRealtimeServer.start({ requireApiKey: 'sk-test-123' });
      try {
        const status = await new Promise<number>((resolve) => {
          const ws = new WebSocket(`${strict.url}?model=m`, { headers: { Authorization: 'Bearer wrong' } });
          ws.on('unexpected-response', (_req, res) => {
            resolve(res.statusCode ?? 0);
            ws.terminate();
          });
          ws.on('error', () => undefined);
        });
        expect(status).toBe(401);
        const ok = new RawClient(`${strict.url}?model=m`, { Authorization: 'Bearer sk-test-123' });
        clients.push(ok);
        await ok.waitFor('session.created');
        expect(strict.sessions[0].authorization).toBe('Bearer sk-test-123');
      } finally {
        await strict.close();
      }
    });
  });
});
