/**
 * SMS in and out: a signed Twilio Messaging webhook becomes the caller's text in that number's SMS
 * conversation and the agent's answer goes back through the Twilio REST API (a local fake); the
 * webhook refuses bad signatures, other accounts, replays and malformed fields; replies and
 * POST /api/messages keep the limits of send_sms.
 */
import { randomBytes } from 'node:crypto';
import { FAKE_ACCOUNT_SID } from '../helpers/fake-twilio-rest';
import { OUR_NUMBER, startSmsServer, type SmsTestServer } from '../helpers/sms-server';

let server: SmsTestServer;

afterEach(async () => {
  await server?.close();
});

const sid = () => `SM${randomBytes(16).toString('hex')}`;

function inbound(body: string, from = '+15557654321', extra: Record<string, string> = {}): Record<string, string> {
  return {
    MessageSid: sid(),
    SmsSid: sid(),
    AccountSid: FAKE_ACCOUNT_SID,
    From: from,
    To: OUR_NUMBER,
    Body: body,
    NumMedia: '0',
    ...extra,
  };
}

async function eventually<T>(check: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SMS in: Twilio Messaging webhook', () => {
  test('an inbound SMS starts a text conversation (channel sms) and the agent answers by SMS', async () => {
    server = await startSmsServer();
    const res = await server.postSms(inbound('Is my order shipped?'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await res.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    const [conv] = await eventually(() => server.started.length === 1 && server.started);
    expect(conv.channel.provider).toBe('sms');
    expect(conv.channel.format).toBeUndefined();
    expect(conv.start).toMatchObject({ provider: 'sms', from: '+15557654321', to: OUR_NUMBER });
    const [sent] = await eventually(() => server.sent().length === 1 && server.sent());
    expect(sent).toEqual({ To: '+15557654321', From: OUR_NUMBER, Body: 'You wrote: Is my order shipped?' });
    expect(server.twilio.requests.every((r) => r.authorized)).toBe(true);
  });

  test('later messages from the same number continue the same conversation, in order', async () => {
    server = await startSmsServer();
    await server.postSms(inbound('first'));
    await eventually(() => server.sent().length === 1);
    await server.postSms(inbound('second'));
    await eventually(() => server.sent().length === 2);
    expect(server.started).toHaveLength(1);
    expect(server.started[0].texts).toEqual(['first', 'second']);
    expect(server.sent().map((m) => m.Body)).toEqual(['You wrote: first', 'You wrote: second']);
    await server.postSms(inbound('from someone else', '+15550009999'));
    await eventually(() => server.started.length === 2);
  });

  test('a conversation quiet for the idle time ends; the next message starts a new one', async () => {
    server = await startSmsServer({ idleMs: 300 });
    await server.postSms(inbound('hello'));
    await eventually(() => server.started[0]?.ended === 'channel-closed', 3000);
    expect(server.conversations.size).toBe(0);
    await server.postSms(inbound('hello again'));
    await eventually(() => server.started.length === 2);
  });

  test('a replayed webhook (same MessageSid, validly signed) is answered but not processed twice', async () => {
    server = await startSmsServer();
    const params = inbound('only once');
    expect((await server.postSms(params)).status).toBe(200);
    expect((await server.postSms(params)).status).toBe(200);
    await eventually(() => server.sent().length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(server.started[0].texts).toEqual(['only once']);
    expect(server.conversations.counters.duplicates).toBe(1);
  });

  test.each([
    ['no signature', { signature: '' }],
    ['a forged signature', { signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }],
  ])('%s: 403 JSON, nothing processed', async (_name, opts) => {
    server = await startSmsServer();
    const res = await server.postSms(inbound('hi'), opts);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: { code: 'forbidden', message: 'invalid Twilio signature' } });
    expect(server.counters.signatureFailures).toBe(1);
    expect(server.started).toHaveLength(0);
  });

  test('a signature over other parameters (body changed after signing) is refused', async () => {
    server = await startSmsServer();
    const params = inbound('original');
    const { computeTwilioSignature } = await import('../../src/channels/twilio/signature');
    const { FAKE_AUTH_TOKEN } = await import('../helpers/fake-twilio-rest');
    const signature = computeTwilioSignature(FAKE_AUTH_TOKEN, `${server.url}/twilio/sms`, params);
    const res = await server.postSms({ ...params, Body: 'tampered' }, { signature });
    expect(res.status).toBe(403);
  });

  test.each([
    ['another account', { AccountSid: `AC${'f'.repeat(32)}` }, 403],
    ['a malformed MessageSid', { MessageSid: 'SM123' }, 400],
    ['a From that is not E.164', { From: 'alice' }, 400],
    ['a Body over 1,600 characters', { Body: 'a'.repeat(1601) }, 400],
  ])('%s: %i JSON', async (_name, extra, status) => {
    server = await startSmsServer();
    const res = await server.postSms(inbound('hi', undefined, extra as Record<string, string>));
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { code: string } }).error.code).toEqual(expect.any(String));
    expect(server.started).toHaveLength(0);
  });

  test.each(['/twilio/SMS', '/twilio/sms/', '/twilio//sms', '/Twilio/sms'])('other spelling %s: 404', async (path) => {
    server = await startSmsServer();
    const res = await server.postSms(inbound('hi'), { path });
    expect(res.status).toBe(404);
    expect(server.started).toHaveLength(0);
  });

  test('a message without text (a picture alone) is acknowledged and ignored', async () => {
    server = await startSmsServer();
    expect((await server.postSms(inbound('', undefined, { NumMedia: '1' }))).status).toBe(200);
    expect(server.started).toHaveLength(0);
  });

  test('replies keep the limits: at most maxRepliesPerConversation, only to allowed country codes', async () => {
    server = await startSmsServer({ maxReplies: 2 });
    for (const text of ['one', 'two', 'three']) await server.postSms(inbound(text));
    await eventually(
      () => server.sent().length === 2 && server.conversations.counters.repliesRefused.conversation_limit === 1,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(server.sent()).toHaveLength(2);
    expect(server.conversations.counters.repliesRefused).toEqual({ conversation_limit: 1 });

    await server.postSms(inbound('from abroad', '+445550001234'));
    await eventually(() => server.conversations.counters.repliesRefused.destination_not_allowed === 1);
    expect(server.sent().some((m) => m.To === '+445550001234')).toBe(false);
  });

  test('a conversation hands at most maxInboundPerConversation messages to the agent', async () => {
    server = await startSmsServer({ maxInbound: 3, maxReplies: 100 });
    for (let i = 0; i < 6; i++) expect((await server.postSms(inbound(`flood ${i}`))).status).toBe(200);
    await eventually(() => server.started[0]?.texts.length === 3);
    await new Promise((r) => setTimeout(r, 200));
    expect(server.started[0].texts).toEqual(['flood 0', 'flood 1', 'flood 2']);
    expect(server.conversations.counters.overLimit).toBe(3);
  });

  test('a flood of inbound messages from one number is answered no more than the per-number daily limit', async () => {
    server = await startSmsServer({ sms: { maxPerNumberPerDay: 3 }, maxReplies: 100 });
    for (let i = 0; i < 8; i++) await server.postSms(inbound(`msg ${i}`));
    await eventually(
      () => server.sent().length === 3 && server.conversations.counters.repliesRefused.limit_reached === 5,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(server.sent()).toHaveLength(3);
    expect(server.conversations.counters.repliesRefused.limit_reached).toBe(5);
  });
});

describe('SMS out: POST /api/messages', () => {
  const post = (body: unknown) =>
    fetch(`${server.url}/api/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  test('sends the message through Twilio and records it as an outbound sms conversation with its transcript', async () => {
    server = await startSmsServer();
    const res = await post({ to: '+15557654321', body: '  Your table is booked for 7 pm.  ' });
    expect(res.status).toBe(201);
    const json = (await res.json()) as { message: { sid: string; status: string }; callId: string };
    expect(json.message).toMatchObject({
      sid: expect.stringMatching(/^SM[0-9a-f]{32}$/),
      status: 'queued',
      to: '+15557654321',
      from: OUR_NUMBER,
    });
    expect(server.sent()).toEqual([{ To: '+15557654321', From: OUR_NUMBER, Body: 'Your table is booked for 7 pm.' }]);
    expect(server.calls).toHaveLength(1);
    expect(server.calls[0].input).toMatchObject({
      direction: 'outbound',
      provider: 'sms',
      from: OUR_NUMBER,
      to: '+15557654321',
    });
    expect(server.calls[0].transcripts).toEqual([
      { speaker: 'agent', text: 'Your table is booked for 7 pm.', startMs: 0, endMs: 0 },
    ]);
    expect(server.calls[0].ended).toMatchObject({ status: 'completed' });
    expect(json.callId).toBe('rec-1');
  });

  test.each([
    ['no body', { to: '+15557654321' }, 400, 'invalid_parameter'],
    ['a number that is not E.164', { to: '5557654321', body: 'hi' }, 400, 'invalid_parameter'],
    ['a country code not allowed', { to: '+445550001234', body: 'hi' }, 403, 'forbidden'],
    ['an empty body', { to: '+15557654321', body: '   ' }, 400, 'invalid_parameter'],
    ['a body over 480 characters', { to: '+15557654321', body: 'a'.repeat(481) }, 400, 'invalid_parameter'],
    ['control characters', { to: '+15557654321', body: 'hi\u0000there' }, 400, 'invalid_parameter'],
    ['an unknown profile', { to: '+15557654321', body: 'hi', profile: 'nope' }, 400, 'invalid_parameter'],
    ['a JSON array', [1, 2], 400, 'invalid_body'],
  ])('%s: %i %s, nothing sent', async (_name, body, status, code) => {
    server = await startSmsServer();
    const res = await post(body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    expect(server.sent()).toHaveLength(0);
    expect(server.calls).toHaveLength(0);
  });

  test('refused with 403 while the API is open (no API_TOKENS): messages cost money', async () => {
    server = await startSmsServer({ apiOpen: true });
    const res = await post({ to: '+15557654321', body: 'hi' });
    expect(res.status).toBe(403);
    expect(server.sent()).toHaveLength(0);
  });

  test('a body over 16 KB is 413 and malformed JSON is 400', async () => {
    server = await startSmsServer();
    expect((await post({ to: '+15557654321', body: 'a'.repeat(20_000) })).status).toBe(413);
    expect((await post('{"to":')).status).toBe(400);
  });

  test('the per-number daily limit: 429 with Retry-After once reached', async () => {
    server = await startSmsServer({ sms: { maxPerNumberPerDay: 2 } });
    expect((await post({ to: '+15557654321', body: 'a' })).status).toBe(201);
    expect((await post({ to: '+15557654321', body: 'b' })).status).toBe(201);
    const res = await post({ to: '+15557654321', body: 'c' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3600');
    expect(server.sent()).toHaveLength(2);
  });

  test('Twilio refusing the message: 503, nothing recorded, the reservation given back', async () => {
    server = await startSmsServer({ sms: { maxPerNumberPerDay: 1 } });
    server.twilio.failNext(400, 21211, 'Invalid To Phone Number');
    const res = await post({ to: '+15557654321', body: 'hello' });
    expect(res.status).toBe(503);
    expect(server.calls).toHaveLength(0);
    expect((await post({ to: '+15557654321', body: 'hello' })).status).toBe(201);
  });
});
