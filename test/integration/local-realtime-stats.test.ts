import WebSocket from 'ws';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';

describe('local Realtime server totals (GET /stats, used by npm run bench)', () => {
  let server: LocalRealtimeServer;
  afterEach(async () => {
    await server.close();
  });

  it('counts appends of open and closed sessions and serves them as JSON', async () => {
    server = await LocalRealtimeServer.start({ ttsEngine: 'tone', statsEndpoint: true, keepClosedSessions: false });
    const frame = Buffer.alloc(160, 0xff).toString('base64');
    const ws = new WebSocket(`${server.url}?model=gpt-realtime`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(
      JSON.stringify({
        type: 'session.update',
        session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' } } } },
      }),
    );
    for (let i = 0; i < 5; i++) ws.send(`{"type":"input_audio_buffer.append","audio":"${frame}"}`);
    await server.waitFor((s) => s.stats().appends === 5);
    const statsUrl = server.url.replace(/^ws:/, 'http:').replace(/\/v1\/realtime$/, '/stats');
    expect(await (await fetch(statsUrl)).json()).toMatchObject({
      sessions: 1,
      openSessions: 1,
      appends: 5,
      audioMsIn: 100,
    });

    ws.close();
    await server.waitFor((s) => s.openConnections === 0);
    expect(server.stats()).toMatchObject({ sessions: 1, openSessions: 0, appends: 5 });
    expect(server.sessions).toHaveLength(0); // closed sessions keep totals only
  });

  it('answers 426 at /stats unless enabled', async () => {
    server = await LocalRealtimeServer.start({ ttsEngine: 'tone' });
    const res = await fetch(server.url.replace(/^ws:/, 'http:').replace(/\/v1\/realtime$/, '/stats'));
    expect(res.status).toBe(426);
  });
});
