/**
 * RealtimeClient against the local Realtime server: a spoken greeting, a drop in the middle of a
 * response recovered with the same configuration and the conversation so far, a stalled server
 * caught by the idle timeout, and a planned replacement.
 */
import { RealtimeClient, type RealtimeOpenInfo } from '../../src/engines/realtime/realtime-client';
import {
  assistantMessageItem,
  buildSessionUpdate,
  isKnownServerEvent,
  textMessageItem,
  type RealtimeClientEvent,
  type RealtimeServerEvent,
} from '../../src/engines/realtime/protocol';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { createLogger } from '../../src/logging/logger';

const logger = createLogger({ level: 'error', json: false, silent: !process.env.SWITCHBOARD_TEST_LOGS });

const SESSION = buildSessionUpdate({
  model: 'gpt-realtime',
  instructions: 'You are a test agent.',
  voice: 'marin',
  audioFormat: 'pcmu',
  vad: { type: 'server_vad', threshold: 0.5, silenceMs: 500, prefixPaddingMs: 300 },
  transcriptionModel: 'gpt-4o-transcribe',
});

describe('RealtimeClient with the local Realtime server', () => {
  let server: LocalRealtimeServer;
  let client: RealtimeClient | undefined;

  beforeAll(async () => {
    server = await LocalRealtimeServer.start({
      replies: ['Hello, this is a fairly long greeting so that the test can drop the connection halfway through it.'],
    });
  });
  afterEach(() => {
    client?.close();
    client = undefined;
  });
  afterAll(() => server.close());

  /** A client that keeps a transcript of what the agent said, like the bridge does. */
  function start(opts: { idleTimeoutMs?: number } = {}) {
    const said: string[] = [];
    const opens: RealtimeOpenInfo[] = [];
    const events: RealtimeServerEvent[] = [];
    const c = new RealtimeClient({
      url: server.url,
      model: 'gpt-realtime',
      apiKey: 'sk-local',
      logger,
      reconnect: { attempts: 3, baseMs: 50, maxMs: 200 },
      idleTimeoutMs: opts.idleTimeoutMs,
      onOpen: (info) => {
        opens.push(info);
        const out: RealtimeClientEvent[] = [SESSION];
        if (!info.reconnect) out.push({ type: 'response.create' });
        else {
          out.push({ type: 'conversation.item.create', item: textMessageItem('user', 'I called about my invoice') });
          for (const text of said) out.push({ type: 'conversation.item.create', item: assistantMessageItem(text) });
        }
        return out;
      },
    });
    c.on('event', (e) => {
      events.push(e);
      if (isKnownServerEvent(e) && e.type === 'response.output_audio_transcript.done') said.push(e.transcript);
    });
    client = c;
    c.connect();
    return { c, said, opens, events };
  }

  it('recovers from a drop mid-response with the same session config and the conversation so far', async () => {
    const { c, opens, events } = start();
    await server.waitFor((s) => (s.sessions.at(-1)?.responses[0]?.audioMsSent ?? 0) > 0 && s.sessions.at(-1));
    const first = server.sessions.at(-1)!;
    // Caller audio keeps flowing during the gap (once the client has noticed it).
    const noticed = new Promise<void>((r) => c.once('reconnecting', () => r()));
    server.dropAllConnections();
    await noticed;
    for (let i = 0; i < 25; i++) c.appendAudio(Buffer.alloc(160, 0xff).toString('base64'));

    const second = await server.waitFor(
      (s) => s.sessions.length > first.index + 1 && s.sessions.at(-1)!.appends >= 25 && s.sessions.at(-1),
    );
    expect(opens.map((o) => o.reconnect)).toEqual([false, true]);
    expect(second.sessionUpdates[0]).toEqual(first.sessionUpdates[0]);
    expect(second.authorization).toBe('Bearer sk-local');
    expect(second.contextItems).toMatchObject([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'I called about my invoice' }] },
    ]);
    expect(c.stats.reconnects).toBe(1);
    expect(c.stats.audioFramesDropped).toBe(0);
    expect(c.stats.audioFramesSent).toBe(25);
    // The cancelled greeting never completed on the first session.
    expect(events.filter((e) => e.type === 'response.done')).toHaveLength(0);
  });

  it('catches a stalled server with the idle timeout and carries on in a new session', async () => {
    const { c, said } = start({ idleTimeoutMs: 300 });
    // Let one greeting complete so there is context to carry.
    await server.waitFor((s) => s.sessions.at(-1)?.responses[0]?.status === 'completed', 15000);
    const stalledIndex = server.sessions.length - 1;
    await new Promise<void>((r) => {
      const check = (): void => (said.length === 1 ? r() : void c.once('event', check));
      check();
    });
    c.send({ type: 'response.create' });
    await server.waitFor((s) => (s.sessions[stalledIndex].responses[1]?.audioMsSent ?? 0) > 0);
    server.stallConnections();
    const next = await server.waitFor(
      (s) => s.sessions.length > stalledIndex + 1 && s.sessions.at(-1)!.contextItems.length === 2 && s.sessions.at(-1),
    );
    expect(next.contextItems[1]).toMatchObject({
      role: 'assistant',
      content: [{ type: 'output_text', text: said[0] }],
    });
    expect(c.state).toBe('open');
  });

  it('replaces the session at a turn boundary without dropping the call', async () => {
    const { c, opens } = start();
    await server.waitFor((s) => s.sessions.at(-1)?.responses[0]?.status === 'completed', 15000);
    const before = server.sessions.length;
    c.replaceSession('session-age');
    const fresh = await server.waitFor(
      (s) => s.sessions.length === before + 1 && s.sessions.at(-1)!.contextItems.length >= 2 && s.sessions.at(-1),
    );
    await server.waitFor((s) => s.sessions[before - 1].closedAt !== null);
    expect(opens.at(-1)).toEqual({ reconnect: true, attempt: 0, replacement: true });
    expect(fresh.sessionUpdates).toHaveLength(1);
    expect(server.openConnections).toBe(1);
    expect(c.stats.replacements).toBe(1);
  });
});
