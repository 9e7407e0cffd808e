import {
  base64DecodedLength,
  clearMessage,
  markMessage,
  MAX_MEDIA_PAYLOAD_BYTES,
  mediaMessage,
  mediaMessageBytes,
  mediaMessagePrefix,
  parseTwilioMessage,
} from '../../src/channels/twilio/protocol';

const SID = 'MZ18ad3ab5a668481ce02b83e7395059f0';
const FRAME_B64 = Buffer.alloc(160, 0x7f).toString('base64');

function media(overrides: Record<string, unknown> = {}, mediaOverrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    event: 'media',
    sequenceNumber: '4',
    streamSid: SID,
    media: { track: 'inbound', chunk: '2', timestamp: '5', payload: FRAME_B64, ...mediaOverrides },
    ...overrides,
  });
}

function reasonOf(raw: string): string {
  const result = parseTwilioMessage(raw);
  if (result.ok) throw new Error(`expected a parse failure, got ${result.message.event}`);
  return result.reason;
}

describe('parseTwilioMessage', () => {
  it('reads the connected handshake', () => {
    expect(parseTwilioMessage('{"event":"connected","protocol":"Call","version":"1.0.0"}')).toEqual({
      ok: true,
      message: { event: 'connected', protocol: 'Call', version: '1.0.0' },
    });
  });

  it('reads start with custom parameters, tracks and media format', () => {
    const raw = JSON.stringify({
      event: 'start',
      sequenceNumber: '1',
      streamSid: SID,
      start: {
        accountSid: 'AC123',
        streamSid: SID,
        callSid: 'CA123',
        tracks: ['inbound'],
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        customParameters: { callId: 'abc', from: '+15550001' },
      },
    });
    expect(parseTwilioMessage(raw)).toEqual({
      ok: true,
      message: {
        event: 'start',
        sequenceNumber: 1,
        streamSid: SID,
        start: {
          accountSid: 'AC123',
          streamSid: SID,
          callSid: 'CA123',
          tracks: ['inbound'],
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
          customParameters: { callId: 'abc', from: '+15550001' },
        },
      },
    });
  });

  it('turns numeric strings of media into numbers and keeps the payload as received', () => {
    const result = parseTwilioMessage(media());
    expect(result).toEqual({
      ok: true,
      message: {
        event: 'media',
        sequenceNumber: 4,
        streamSid: SID,
        media: { track: 'inbound', chunk: 2, timestamp: 5, payload: FRAME_B64 },
      },
    });
  });

  it('reads mark, dtmf and stop', () => {
    expect(
      parseTwilioMessage(`{"event":"mark","sequenceNumber":"9","streamSid":"${SID}","mark":{"name":"m1"}}`),
    ).toMatchObject({ ok: true, message: { event: 'mark', mark: { name: 'm1' } } });
    expect(
      parseTwilioMessage(`{"event":"dtmf","streamSid":"${SID}","dtmf":{"track":"inbound_track","digit":"#"}}`),
    ).toMatchObject({ ok: true, message: { event: 'dtmf', dtmf: { digit: '#' } } });
    expect(
      parseTwilioMessage(`{"event":"stop","streamSid":"${SID}","stop":{"accountSid":"AC1","callSid":"CA1"}}`),
    ).toMatchObject({ ok: true, message: { event: 'stop', stop: { accountSid: 'AC1', callSid: 'CA1' } } });
  });

  it.each([
    ['invalid JSON', '{"event":"media",', 'invalid JSON'],
    ['a JSON array', '[1,2]', 'message is not a JSON object'],
    ['a JSON string', '"media"', 'message is not a JSON object'],
    ['no event', `{"streamSid":"${SID}"}`, 'missing event'],
    ['an unknown event', `{"event":"bogus","streamSid":"${SID}"}`, 'unknown event: bogus'],
    ['media without streamSid', media({ streamSid: undefined }), 'media: missing streamSid'],
    ['a streamSid with quotes', media({ streamSid: 'MZ"x' }), 'media: missing streamSid'],
    ['media without media', media({ media: undefined }), 'media: missing media'],
    ['a numeric payload', media({}, { payload: 12 }), 'media: payload is not a string'],
    ['an empty payload', media({}, { payload: '' }), 'media: empty payload'],
    ['payload outside the base64 alphabet', media({}, { payload: 'ab!d' }), 'media: payload is not base64'],
    ['payload of a bad length', media({}, { payload: 'abcde' }), 'media: payload is not base64'],
    ['padding in the middle', media({}, { payload: 'ab=dabcd' }), 'media: payload is not base64'],
    ['a non-numeric timestamp', media({}, { timestamp: 'soon' }), 'media: timestamp is not a non-negative number'],
    ['a negative timestamp', media({}, { timestamp: '-20' }), 'media: timestamp is not a non-negative number'],
    ['a missing timestamp', media({}, { timestamp: undefined }), 'media: timestamp is not a non-negative number'],
    ['a bad sequenceNumber', media({ sequenceNumber: 'x' }), 'media: sequenceNumber is not numeric'],
    ['start without callSid', `{"event":"start","streamSid":"${SID}","start":{}}`, 'start: missing start.callSid'],
    ['start without start', `{"event":"start","streamSid":"${SID}"}`, 'start: missing start'],
    [
      'start with non-string parameters',
      `{"event":"start","streamSid":"${SID}","start":{"callSid":"CA1","customParameters":{"a":1}}}`,
      'start: customParameters values must be short strings',
    ],
    ['mark without name', `{"event":"mark","streamSid":"${SID}","mark":{}}`, 'mark: missing mark.name'],
    ['dtmf with a word', `{"event":"dtmf","streamSid":"${SID}","dtmf":{"digit":"12"}}`, 'dtmf: invalid digit'],
  ])('rejects %s', (_name, raw, reason) => {
    expect(reasonOf(raw)).toBe(reason);
  });

  it('rejects a payload above the sane size without decoding it', () => {
    const big = Buffer.alloc(MAX_MEDIA_PAYLOAD_BYTES + 3).toString('base64');
    expect(reasonOf(media({}, { payload: big }))).toBe('media: payload too large');
    const limit = Buffer.alloc(MAX_MEDIA_PAYLOAD_BYTES).toString('base64');
    expect(parseTwilioMessage(media({}, { payload: limit })).ok).toBe(true);
  });

  describe("media in Twilio's own layout (the fast path)", () => {
    const twilioLayout = (seq: string, ts: string, payload: string, track = 'inbound', sid = SID): string =>
      `{"event":"media","sequenceNumber":"${seq}","media":{"track":"${track}","chunk":"3","timestamp":"${ts}","payload":"${payload}"},"streamSid":"${sid}"}`;

    it('reads exactly what the general parser reads from the same message laid out differently', () => {
      const fast = parseTwilioMessage(twilioLayout('007', '40', FRAME_B64, 'outbound'));
      const general = parseTwilioMessage(
        JSON.stringify({
          streamSid: SID,
          event: 'media',
          media: { payload: FRAME_B64, timestamp: '40', chunk: '3', track: 'outbound' },
          sequenceNumber: '007',
        }),
      );
      expect(fast).toEqual({
        ok: true,
        message: {
          event: 'media',
          sequenceNumber: 7,
          streamSid: SID,
          media: { track: 'outbound', chunk: 3, timestamp: 40, payload: FRAME_B64 },
        },
      });
      expect(general).toEqual(fast);
    });

    it.each([
      ['a payload of a bad length', twilioLayout('1', '0', 'abcde'), 'media: payload is not base64'],
      ['padding in the middle', twilioLayout('1', '0', 'ab=dabcd'), 'media: payload is not base64'],
      [
        'an oversized payload',
        twilioLayout('1', '0', Buffer.alloc(MAX_MEDIA_PAYLOAD_BYTES + 3).toString('base64')),
        'media: payload too large',
      ],
      ['a streamSid with a quote', twilioLayout('1', '0', FRAME_B64, 'inbound', 'MZ\\"x'), 'media: missing streamSid'],
      ['a negative timestamp', twilioLayout('1', '-20', FRAME_B64), 'media: timestamp is not a non-negative number'],
      ['a trailing comma', `${twilioLayout('1', '0', FRAME_B64).slice(0, -1)},}`, 'invalid JSON'],
    ])('gives the general errors for %s', (_name, raw, reason) => {
      expect(reasonOf(raw)).toBe(reason);
    });
  });

  it('rejects giant messages before parsing them', () => {
    expect(reasonOf(`{"event":"media","junk":"${'x'.repeat(300 * 1024)}"}`)).toBe('message too large');
  });

  it('computes decoded base64 lengths from the text', () => {
    for (const n of [1, 2, 3, 159, 160, 161]) {
      expect(base64DecodedLength(Buffer.alloc(n).toString('base64'))).toBe(n);
    }
  });
});

describe('outbound serializers', () => {
  it('build valid Twilio media, mark and clear messages', () => {
    expect(JSON.parse(mediaMessage(SID, FRAME_B64))).toEqual({
      event: 'media',
      streamSid: SID,
      media: { payload: FRAME_B64 },
    });
    expect(JSON.parse(markMessage(SID, 'item_1:320:2'))).toEqual({
      event: 'mark',
      streamSid: SID,
      mark: { name: 'item_1:320:2' },
    });
    expect(JSON.parse(clearMessage(SID))).toEqual({ event: 'clear', streamSid: SID });
  });

  it("writes a media message's bytes from the stream's prefix exactly as the string spells them", () => {
    const prefix = mediaMessagePrefix(SID);
    for (const payload of [FRAME_B64, Buffer.alloc(800, 0x7f).toString('base64'), 'AA==', '']) {
      const bytes = mediaMessageBytes(prefix, payload);
      expect(bytes.equals(Buffer.from(mediaMessage(SID, payload)))).toBe(true);
      expect(JSON.parse(bytes.toString('utf8'))).toEqual({ event: 'media', streamSid: SID, media: { payload } });
    }
    // Each message is its own buffer: a later one never changes one already handed to the socket.
    const first = mediaMessageBytes(prefix, FRAME_B64);
    const copy = Buffer.from(first);
    mediaMessageBytes(prefix, 'AA==');
    expect(first.equals(copy)).toBe(true);
  });

  it('escapes mark names so any name stays valid JSON', () => {
    const name = 'a"b\\c\n';
    expect(JSON.parse(markMessage(SID, name)).mark.name).toBe(name);
  });

  it('round-trip through the parser (what Twilio echoes back)', () => {
    const echoed = parseTwilioMessage(markMessage(SID, 'm-7'));
    expect(echoed).toMatchObject({ ok: true, message: { event: 'mark', streamSid: SID, mark: { name: 'm-7' } } });
  });
});
