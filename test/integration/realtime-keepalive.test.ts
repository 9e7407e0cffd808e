/**
 * A Realtime connection that goes dead between responses (no close, no events, no pong) is noticed
 * by the ping/pong keepalive and re-made, over real sockets.
 */
import { RealtimeClient } from '../../src/engines/realtime/realtime-client';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { createLogger } from '../../src/logging/logger';
import { buildSessionUpdate } from '../../src/engines/realtime/protocol';

const logger = createLogger({ level: 'error', json: true, silent: true });

describe('Realtime keepalive', () => {
  let server: LocalRealtimeServer;
  let client: RealtimeClient | undefined;

  beforeEach(async () => {
    server = await LocalRealtimeServer.start({ ttsEngine: 'tone' });
  });
  afterEach(async () => {
    client?.close();
    await server.close();
  });

  function connect(keepaliveMs: number): { client: RealtimeClient; opens: boolean[]; reasons: string[] } {
    const opens: boolean[] = [];
    const reasons: string[] = [];
    const c = new RealtimeClient({
      url: server.url,
      model: 'gpt-realtime',
      logger,
      keepaliveMs,
      reconnect: { attempts: 3, baseMs: 20, maxMs: 50 },
      onOpen: (info) => {
        opens.push(info.reconnect);
        return [
          buildSessionUpdate({
            model: 'gpt-realtime',
            instructions: 'test',
            voice: 'marin',
            audioFormat: 'pcmu',
            vad: { type: 'server_vad', threshold: 0.5, silenceMs: 500, prefixPaddingMs: 300 },
          }),
        ];
      },
    });
    c.on('reconnecting', (info) => reasons.push(info.reason));
    c.connect();
    client = c;
    return { client: c, opens, reasons };
  }

  it('re-makes a connection whose server stopped answering pings, with no response in progress', async () => {
    const { client: c, opens, reasons } = connect(150);
    await server.waitFor(() => server.sessions.length === 1 && c.state === 'open', 5000);
    // Healthy: pings are answered, nothing happens over several intervals.
    await new Promise((r) => setTimeout(r, 600));
    expect(opens).toEqual([false]);
    server.blackholeConnections();
    await server.waitFor(() => server.sessions.length === 2 && c.state === 'open', 5000);
    expect(opens).toEqual([false, true]);
    expect(reasons).toEqual([expect.stringMatching(/no pong within 150 ms/)]);
  });

  it('does nothing when disabled', async () => {
    const { client: c, opens } = connect(0);
    await server.waitFor(() => server.sessions.length === 1 && c.state === 'open', 5000);
    server.blackholeConnections();
    await new Promise((r) => setTimeout(r, 500));
    expect(c.state).toBe('open');
    expect(opens).toEqual([false]);
  });
});
