import type { RequestListener } from 'node:http';
import request from 'supertest';
import type { ChannelServices } from '../../src/channels';
import type { EndAction } from '../../src/conversation/channel';
import { createTelnyxWebhooks, statusOfCallControlEvent, telnyxStreamUrl } from '../../src/channels/telnyx/routes';
import { createWebhookLane } from '../../src/http/webhook-lane';
import { createLogger } from '../../src/logging/logger';

const logger = createLogger({ level: 'error', json: false, silent: true });

function appWith(refuseUnsigned: boolean, admitted: string[], endings = new Map<string, EndAction>()): RequestListener {
  const counters = { signatureFailures: 0, callsRefused: 0 };
  const services = {
    config: { publicUrl: 'https://sb.example/base' },
    logger,
    counters,
    streamTokens: { issue: () => '1.token' },
    admission: {
      admitIncoming: (incoming: { providerCallId: string }) => {
        admitted.push(incoming.providerCallId);
        return Promise.resolve({ admitted: false, refusal: 'busy' });
      },
    },
  } as unknown as ChannelServices;
  const routes = createTelnyxWebhooks({
    ...services,
    verifier: undefined,
    refuseUnsigned,
    codec: 'PCMU',
    takeStreamEnding: (callId) => {
      const action = endings.get(callId);
      endings.delete(callId);
      return action;
    },
  });
  const lane = createWebhookLane({
    mounts: [{ mount: '/telnyx', routes, limiter: (_req, _res, next) => next() }],
    headers: [],
    clientIp: () => undefined,
    logger,
  });
  return (req, res) => {
    if (lane(req, res)) return;
    res.statusCode = 404;
    res.end();
  };
}

describe('Telnyx routes', () => {
  it('refuses every webhook in production when no TELNYX_PUBLIC_KEY is configured', async () => {
    const admitted: string[] = [];
    const res = await request(appWith(true, admitted))
      .post('/telnyx/voice')
      .type('form')
      .send('CallSid=v3:a')
      .expect(403);
    expect(res.body).toEqual({ error: { code: 'forbidden', message: expect.stringMatching(/TELNYX_PUBLIC_KEY/) } });
    await request(appWith(true, admitted))
      .post('/telnyx/status')
      .type('form')
      .send('CallSid=v3:a&CallStatus=completed')
      .expect(403);
    expect(admitted).toEqual([]);
  });

  it('without a key in development takes unsigned webhooks, and answers busy TeXML when the call is refused', async () => {
    const admitted: string[] = [];
    const res = await request(appWith(false, admitted))
      .post('/telnyx/voice')
      .type('form')
      .send('CallSid=v3:a&To=%2B1')
      .expect(200);
    expect(res.type).toBe('text/xml');
    expect(res.text).toMatch(/<Say>We are sorry, all our lines are busy[^<]*<\/Say><Hangup\/>/);
    expect(admitted).toEqual(['v3:a']);
  });

  it("answers the stream-ended redirect with our side's transfer or hang-up once, else an apology", async () => {
    const endings = new Map<string, EndAction>([
      [
        'c1',
        { kind: 'transfer', target: { number: '+15550001', announce: 'Connecting you <now>.', callerId: '+15550009' } },
      ],
      ['c2', { kind: 'transfer', target: { number: 'sip:desk@pbx.example' } }],
      ['c3', { kind: 'hangup' }],
    ]);
    const app = appWith(false, [], endings);
    const ended = (callId: string) =>
      request(app).post(`/telnyx/stream-ended?callId=${callId}`).type('form').send('CallSid=v3:a');
    expect((await ended('c1')).text).toContain(
      '<Response><Say>Connecting you &lt;now&gt;.</Say><Dial callerId="+15550009"><Number>+15550001</Number></Dial></Response>',
    );
    expect((await ended('c2')).text).toContain('<Dial><Sip>sip:desk@pbx.example</Sip></Dial>');
    expect((await ended('c3')).text).toContain('<Response><Hangup/></Response>');
    // Taken once: a second fetch (or an unknown call) gets the apology.
    expect((await ended('c1')).text).toMatch(/<Say>We are sorry, our assistant is not available[^<]*<\/Say><Hangup\/>/);
    expect((await request(app).post('/telnyx/stream-ended').type('form').send('')).text).toContain('<Hangup/>');
  });

  it('maps Call Control events to call statuses', () => {
    expect(statusOfCallControlEvent('call.initiated', {})).toBe('ringing');
    expect(statusOfCallControlEvent('call.answered', {})).toBe('in-progress');
    expect(statusOfCallControlEvent('call.hangup', { hangup_cause: 'normal_clearing' })).toBe('completed');
    expect(statusOfCallControlEvent('call.hangup', { hangup_cause: 'user_busy' })).toBe('busy');
    expect(statusOfCallControlEvent('call.hangup', { hangup_cause: 'timeout' })).toBe('no-answer');
    expect(statusOfCallControlEvent('streaming.started', {})).toBeUndefined();
    expect(statusOfCallControlEvent('streaming.stopped', {})).toBeUndefined();
  });

  it('derives the stream URL from PUBLIC_URL (wss for https, path prefix kept)', () => {
    expect(telnyxStreamUrl('https://sb.example/base/')).toBe('wss://sb.example/base/telnyx/stream');
    expect(telnyxStreamUrl('http://localhost:3000')).toBe('ws://localhost:3000/telnyx/stream');
  });
});
