import {
  audioFormatOf,
  parseTelnyxMessage,
  telnyxClearMessage,
  telnyxMarkMessage,
  telnyxMediaMessage,
  type TelnyxInboundMessage,
} from '../../src/channels/telnyx/protocol';

const STREAM = '32DE0DEA-53CB-4B21-89A4-9E1819C043BC';
const CCID = 'v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg';

function ok(raw: string): TelnyxInboundMessage {
  const parsed = parseTelnyxMessage(raw);
  if (!parsed.ok) throw new Error(`expected ok, got ${parsed.reason}`);
  return parsed.message;
}

function reason(raw: string): string {
  const parsed = parseTelnyxMessage(raw);
  if (parsed.ok) throw new Error(`expected a failure for ${raw.slice(0, 80)}`);
  return parsed.reason;
}

// The documented start frame (AsyncAPI example), with our TeXML parameters.
const START = {
  event: 'start',
  sequence_number: '1',
  stream_id: STREAM,
  start: {
    user_id: '3E6F995F-85F7-4705-9741-53B116D28237',
    call_control_id: CCID,
    call_session_id: 'ff55a038-6f5d-11ef-9692-02420aeffb1f',
    from: '+13122010094',
    to: '+13122123456',
    tags: ['TAG1', 'TAG2'],
    client_state: 'aGF2ZSBhIG5pY2UgZGF5ID1d',
    custom_parameters: { callId: 'c1', token: 't' },
    media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 },
  },
};

describe('Telnyx media streaming protocol', () => {
  it('reads the documented connected and start frames', () => {
    expect(ok('{"event":"connected","version":"1.0.0"}')).toEqual({ event: 'connected', version: '1.0.0' });
    const start = ok(JSON.stringify(START));
    expect(start).toMatchObject({
      event: 'start',
      sequence_number: 1,
      stream_id: STREAM,
      start: {
        call_control_id: CCID,
        from: '+13122010094',
        to: '+13122123456',
        custom_parameters: { callId: 'c1', token: 't' },
        media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 },
      },
    });
  });

  it('reads media in the documented layout (fast path) and in any other key order alike', () => {
    const payload = Buffer.alloc(160, 0xff).toString('base64');
    const documented = `{"event":"media","sequence_number":"4","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"${payload}"},"stream_id":"${STREAM}"}`;
    const reordered = JSON.stringify({
      stream_id: STREAM,
      event: 'media',
      media: { payload, timestamp: 5, chunk: 2, track: 'inbound' },
      sequence_number: 4,
    });
    const expected = {
      event: 'media',
      sequence_number: 4,
      stream_id: STREAM,
      media: { track: 'inbound', chunk: 2, timestamp: 5, payload },
    };
    expect(ok(documented)).toEqual(expected);
    expect(ok(reordered)).toEqual(expected);
  });

  it('reads mark, dtmf, error and stop frames as documented', () => {
    expect(ok(`{"event":"mark","stream_id":"${STREAM}","sequence_number":"5","mark":{"name":"m-1"}}`)).toEqual({
      event: 'mark',
      sequence_number: 5,
      stream_id: STREAM,
      mark: { name: 'm-1' },
    });
    expect(
      ok(
        `{"event":"dtmf","stream_id":"${STREAM}","occurred_at":"2025-06-05T08:54:19.698408Z","sequence_number":"5","dtmf":{"digit":"1"}}`,
      ),
    ).toMatchObject({ event: 'dtmf', dtmf: { digit: '1' } });
    expect(
      ok(`{"event":"error","payload":{"code":100003,"title":"malformed_frame","detail":"x"},"stream_id":"${STREAM}"}`),
    ).toEqual({
      event: 'error',
      stream_id: STREAM,
      payload: { code: 100003, title: 'malformed_frame', detail: 'x' },
    });
    expect(
      ok(
        `{"event":"stop","sequence_number":"5","stop":{"user_id":"u","call_control_id":"${CCID}"},"stream_id":"${STREAM}"}`,
      ),
    ).toEqual({
      event: 'stop',
      sequence_number: 5,
      stream_id: STREAM,
      stop: { call_control_id: CCID },
    });
  });

  it('turns malformed frames into reasons, never exceptions', () => {
    const cases: [string, string][] = [
      ['not json', 'invalid JSON'],
      ['[1,2]', 'message is not a JSON object'],
      ['{"stream_id":"x"}', 'missing event'],
      [`{"event":"media","stream_id":"${STREAM}","media":{"payload":"!!!!"}}`, 'media: payload is not base64'],
      [`{"event":"media","stream_id":"${STREAM}","media":{"payload":"abc"}}`, 'media: payload is not base64'],
      [`{"event":"media","stream_id":"${STREAM}","media":{"payload":""}}`, 'media: empty payload'],
      [
        `{"event":"media","stream_id":"${STREAM}","media":{"payload":"${'A'.repeat(40000)}"}}`,
        'media: payload too large',
      ],
      [
        `{"event":"media","stream_id":"${STREAM}","media":{"payload":"AAAA","timestamp":"-1"}}`,
        'media: timestamp is not a non-negative number',
      ],
      [`{"event":"media","stream_id":"${STREAM}"}`, 'media: missing media'],
      ['{"event":"media","media":{"payload":"AAAA"}}', 'media: missing stream_id'],
      [`{"event":"media","stream_id":"bad id\\"","media":{"payload":"AAAA"}}`, 'media: missing stream_id'],
      [`{"event":"start","stream_id":"${STREAM}","start":{"media_format":{}}}`, 'start: missing start.call_control_id'],
      [
        `{"event":"start","stream_id":"${STREAM}","start":{"call_control_id":"${CCID}"}}`,
        'start: missing start.media_format',
      ],
      [
        `{"event":"start","stream_id":"${STREAM}","start":{"call_control_id":"${CCID}","media_format":{},"custom_parameters":[1]}}`,
        'start: custom_parameters is not an object',
      ],
      [
        `{"event":"start","stream_id":"${STREAM}","start":{"call_control_id":"${CCID}","media_format":{},"custom_parameters":{"a":1}}}`,
        'start: custom_parameters values must be short strings',
      ],
      [`{"event":"mark","stream_id":"${STREAM}"}`, 'mark: missing mark.name'],
      [`{"event":"mark","stream_id":"${STREAM}","mark":{"name":"${'x'.repeat(300)}"}}`, 'mark: name too long'],
      [`{"event":"dtmf","stream_id":"${STREAM}","dtmf":{"digit":"12"}}`, 'dtmf: invalid digit'],
      [
        `{"event":"media","stream_id":"${STREAM}","sequence_number":"x","media":{"payload":"AAAA"}}`,
        'media: sequence_number is not numeric',
      ],
      [`{"event":"hello","stream_id":"${STREAM}"}`, 'unknown event: hello'],
      ['x'.repeat(300 * 1024), 'message too large'],
    ];
    for (const [raw, expected] of cases) expect(reason(raw)).toBe(expected);
    const tooMany = {
      ...START,
      start: {
        ...START.start,
        custom_parameters: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])),
      },
    };
    expect(reason(JSON.stringify(tooMany))).toBe('start: too many custom_parameters');
  });

  it('maps media_format to the seam formats: PCMU and PCMA at 8 kHz mono only', () => {
    expect(audioFormatOf({ encoding: 'PCMU', sample_rate: 8000, channels: 1 })).toEqual({
      encoding: 'pcmu',
      sampleRateHz: 8000,
    });
    expect(audioFormatOf({ encoding: 'audio/x-mulaw', sample_rate: 8000, channels: 1 })).toEqual({
      encoding: 'pcmu',
      sampleRateHz: 8000,
    });
    expect(audioFormatOf({ encoding: 'PCMA', sample_rate: 8000, channels: 1 })).toEqual({
      encoding: 'pcma',
      sampleRateHz: 8000,
    });
    expect(audioFormatOf({ encoding: 'L16', sample_rate: 16000, channels: 1 })).toBeUndefined();
    expect(audioFormatOf({ encoding: 'PCMU', sample_rate: 16000, channels: 1 })).toBeUndefined();
    expect(audioFormatOf({ encoding: 'PCMA', sample_rate: 8000, channels: 2 })).toBeUndefined();
    expect(audioFormatOf({ encoding: 'OPUS', sample_rate: 8000, channels: 1 })).toBeUndefined();
  });

  it('builds the documented outbound frames (valid JSON, mark names escaped)', () => {
    expect(JSON.parse(telnyxMediaMessage('AAAA').toString('utf8'))).toEqual({
      event: 'media',
      media: { payload: 'AAAA' },
    });
    // Written as bytes, each message its own buffer: a later one never changes one handed to the socket.
    const payload = Buffer.alloc(800, 0xd5).toString('base64');
    const first = telnyxMediaMessage(payload);
    expect(first.toString('utf8')).toBe(`{"event":"media","media":{"payload":"${payload}"}}`);
    const copy = Buffer.from(first);
    telnyxMediaMessage('AA==');
    expect(first.equals(copy)).toBe(true);
    expect(JSON.parse(telnyxMarkMessage('a"b\\c'))).toEqual({ event: 'mark', mark: { name: 'a"b\\c' } });
    expect(JSON.parse(telnyxClearMessage())).toEqual({ event: 'clear' });
  });
});
