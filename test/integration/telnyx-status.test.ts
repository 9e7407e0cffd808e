/**
 * How Telnyx calls end: a Call Control call.hangup webhook while the stream runs, the stream socket
 * dropping without a stop, and the AI lost for good (our side closes the stream; the TeXML hangs up).
 */
import request from 'supertest';
import WebSocket from 'ws';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signTelnyxWebhook } from '../../src/channels/telnyx/signature';
import { eventually } from '../../scripts/lib/bridge-harness';
import { startTelnyxHarness, type TelnyxHarness } from '../../scripts/lib/telnyx-harness';

function signedHeaders(h: TelnyxHarness, body: string, contentType: string): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  return {
    'content-type': contentType,
    [SIGNATURE_HEADER]: signTelnyxWebhook(h.privateKey, ts, body),
    [TIMESTAMP_HEADER]: String(ts),
  };
}

async function endedCall(h: TelnyxHarness, callSid: string) {
  return eventually(() =>
    h.t.sb.db.call.findFirst({ where: { callSid, endedAt: { not: null } }, include: { events: true } }),
  );
}

describe('ending Telnyx calls', () => {
  let h: TelnyxHarness;

  beforeAll(async () => {
    h = await startTelnyxHarness({ replies: ['Hello, how can I help?'] }, { AI_RECONNECT_ATTEMPTS: '2' });
  });
  afterAll(() => h.close());

  it('ends a live call on a signed Call Control call.hangup; streaming events change nothing', async () => {
    const handle = h.telnyxCall({ script: [{ silenceMs: 30_000 }] });
    await eventually(() =>
      h.t.sb.db.call.findFirst({ where: { callSid: handle.callControlId, answeredAt: { not: null } } }),
    );
    const streaming = JSON.stringify({
      data: {
        event_type: 'streaming.started',
        payload: { call_control_id: handle.callControlId, stream_url: 'wss://x' },
      },
    });
    const ack = await request(h.t.baseUrl)
      .post('/telnyx/status')
      .set(signedHeaders(h, streaming, 'application/json'))
      .send(streaming)
      .expect(200);
    expect(ack.body).toEqual({ received: true });
    const hangup = JSON.stringify({
      data: {
        event_type: 'call.hangup',
        id: 'evt-1',
        payload: { call_control_id: handle.callControlId, hangup_cause: 'normal_clearing', hangup_source: 'caller' },
      },
      meta: { attempt: 1 },
    });
    await request(h.t.baseUrl)
      .post('/telnyx/status')
      .set(signedHeaders(h, hangup, 'application/json'))
      .send(hangup)
      .expect(200);
    // The call is over at once (recording and analytics kept); Telnyx then stops and closes the stream itself.
    const call = await endedCall(h, handle.callControlId);
    expect(call).toMatchObject({ status: 'completed', endReason: 'caller-hangup' });
    expect(handle.nowMs).toBeLessThan(20_000);
    await handle.hangup();
  });

  it('ends the call as telnyx-socket-closed when the stream socket drops without a stop', async () => {
    const body = new URLSearchParams({
      CallSid: 'v3:drop-1',
      AccountSid: 'a',
      From: '+15550001',
      To: '+15550002',
    }).toString();
    const texml = await request(h.t.baseUrl)
      .post('/telnyx/voice')
      .set(signedHeaders(h, body, 'application/x-www-form-urlencoded'))
      .send(body)
      .expect(200);
    const parameters = Object.fromEntries(
      [...texml.text.matchAll(/<Parameter name="([^"]+)" value="([^"]+)"\/>/g)].map((m) => [m[1], m[2]]),
    );
    const ws = new WebSocket(`ws://127.0.0.1:${h.t.port}/telnyx/stream`);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('{"event":"connected","version":"1.0.0"}');
    ws.send(
      JSON.stringify({
        event: 'start',
        sequence_number: '1',
        stream_id: 'drop-stream-1',
        start: {
          call_control_id: 'v3:drop-1',
          custom_parameters: parameters,
          media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 },
        },
      }),
    );
    await eventually(() => h.t.sb.db.call.findFirst({ where: { callSid: 'v3:drop-1', answeredAt: { not: null } } }));
    ws.terminate();
    const call = await endedCall(h, 'v3:drop-1');
    expect(call.endReason).toBe('telnyx-socket-closed');
    expect(call.streamSid).toBe('drop-stream-1');
  });

  it('closes the stream when the AI is lost for good; the <Redirect> after <Connect> gets the apology', async () => {
    const handle = h.telnyxCall({ script: [{ untilAgentSilentMs: 400 }, { silenceMs: 20_000 }] });
    await eventually(() => h.ai.sessions.length >= 1 && h.ai.sessions.at(-1)!.responses.length >= 1, 15_000);
    h.ai.refuseConnections('all');
    h.ai.dropAllConnections();
    const summary = await handle.done;
    h.ai.acceptConnections();
    expect(summary.closedBy).toBe('server');
    expect(summary.durationMs).toBeLessThan(15_000);
    expect(summary.texml).toMatch(
      /<\/Connect><Redirect method="POST">[^<]+\/telnyx\/stream-ended\?callId=[^<]+<\/Redirect><\/Response>$/,
    );
    expect(summary.afterStreamTexml).toMatch(/<Say>We are sorry[^<]*<\/Say><Hangup\/><\/Response>$/);
    const call = await endedCall(h, handle.callControlId);
    expect(call.endReason).toBe('ai-unavailable');
    expect(call.events.map((e) => e.type)).toContain('ai.failed');
  });
});
