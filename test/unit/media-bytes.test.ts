/**
 * The uplink's byte-level fast path (src/channels/media-bytes.ts) against the parsers it stands in
 * for, for each provider's layout: whatever it accepts, the provider's parser accepts with the same
 * values, and everything in the provider's own layout for this stream is accepted (so the fast path
 * is really taken).
 */
import { MediaReader, type MediaFields } from '../../src/channels/media-bytes';
import { MAX_MEDIA_PAYLOAD_BYTES as TWILIO_MAX, parseTwilioMessage } from '../../src/channels/twilio/protocol';
import { MAX_MEDIA_PAYLOAD_BYTES as TELNYX_MAX, parseTelnyxMessage } from '../../src/channels/telnyx/protocol';

interface Provider {
  name: string;
  reader: MediaReader;
  id: string;
  maxPayloadBytes: number;
  layout(seq: string, ts: string, payload: string, track?: string, id?: string): string;
  /** What the provider's parser makes of the same bytes, as the fast path's fields (undefined: not this stream's media). */
  general(bytes: Buffer, id: string): MediaFields | undefined;
}

const providers: Provider[] = [
  {
    name: 'Twilio',
    reader: new MediaReader({ sequenceKey: 'sequenceNumber', streamKey: 'streamSid', maxPayloadBytes: TWILIO_MAX }),
    id: 'MZ0123456789abcdef0123456789abcdef',
    maxPayloadBytes: TWILIO_MAX,
    layout: (seq, ts, payload, track = 'inbound', id = 'MZ0123456789abcdef0123456789abcdef') =>
      `{"event":"media","sequenceNumber":"${seq}","media":{"track":"${track}","chunk":"3","timestamp":"${ts}","payload":"${payload}"},"streamSid":"${id}"}`,
    general(bytes, id) {
      const parsed = parseTwilioMessage(bytes.toString('utf8'));
      if (!parsed.ok || parsed.message.event !== 'media' || parsed.message.streamSid !== id) return undefined;
      const { media, sequenceNumber } = parsed.message;
      return {
        payload: media.payload,
        timestampMs: media.timestamp,
        sequenceNumber,
        outbound: media.track === 'outbound',
      };
    },
  },
  {
    name: 'Telnyx',
    reader: new MediaReader({ sequenceKey: 'sequence_number', streamKey: 'stream_id', maxPayloadBytes: TELNYX_MAX }),
    id: '32de0dea-53cb-4b21-89d4-9da5fa2bd6d4',
    maxPayloadBytes: TELNYX_MAX,
    layout: (seq, ts, payload, track = 'inbound', id = '32de0dea-53cb-4b21-89d4-9da5fa2bd6d4') =>
      `{"event":"media","sequence_number":"${seq}","media":{"track":"${track}","chunk":"3","timestamp":"${ts}","payload":"${payload}"},"stream_id":"${id}"}`,
    general(bytes, id) {
      const parsed = parseTelnyxMessage(bytes.toString('utf8'));
      if (!parsed.ok || parsed.message.event !== 'media' || parsed.message.stream_id !== id) return undefined;
      const { media, sequence_number } = parsed.message;
      return {
        payload: media.payload,
        timestampMs: media.timestamp,
        sequenceNumber: sequence_number,
        outbound: media.track === 'outbound',
      };
    },
  },
];

describe.each(providers)('MediaReader for $name (media read from the frame bytes)', (p) => {
  const idBytes = MediaReader.streamId(p.id)!;
  const read = (text: string | Buffer): MediaFields | undefined => {
    const out: MediaFields = { payload: '', timestampMs: -1, sequenceNumber: -1, outbound: true };
    return p.reader.read(Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'), idBytes, 64 * 1024, out)
      ? out
      : undefined;
  };
  const payloads = [1, 2, 3, 160, 161, 320, p.maxPayloadBytes].map((n, i) =>
    Buffer.alloc(n, (i * 37 + 0xfb) & 0xff).toString('base64'),
  );

  it.each([
    ['a 20 ms frame', () => p.layout('2', '20', payloads[3]), 2, 20, false],
    ['the outbound track, leading zeros', () => p.layout('007', '040', payloads[4], 'outbound'), 7, 40, true],
    [
      '15-digit numbers',
      () => p.layout('999999999999999', '123456789012345', payloads[0]),
      999999999999999,
      123456789012345,
      false,
    ],
    ['one padding character', () => p.layout('1', '0', payloads[1]), 1, 0, false],
    ['the largest payload', () => p.layout('1', '0', payloads[6]), 1, 0, false],
  ])('reads %s as the parser does', (_name, text, seq, ts, outbound) => {
    const fast = read(text());
    expect(fast).toEqual({ payload: expect.any(String), timestampMs: ts, sequenceNumber: seq, outbound });
    expect(fast).toEqual(p.general(Buffer.from(text()), p.id));
  });

  it.each([
    ['another stream', () => p.layout('1', '0', payloads[3], 'inbound', `${p.id.slice(0, -1)}9`)],
    ['an id that only starts like this one', () => p.layout('1', '0', payloads[3], 'inbound', `${p.id}x`)],
    ['16 digits', () => p.layout('1234567890123456', '0', payloads[3])],
    ['an empty number', () => p.layout('', '0', payloads[3])],
    ['a payload one byte too large', () => p.layout('1', '0', Buffer.alloc(p.maxPayloadBytes + 1).toString('base64'))],
    ['a payload of a bad length', () => p.layout('1', '0', 'abcde')],
    ['three padding characters', () => p.layout('1', '0', 'ab===')],
    ['an empty payload', () => p.layout('1', '0', '')],
    ['an escaped character', () => p.layout('1', '0', 'ab\\/d')],
    ['another track', () => p.layout('1', '0', payloads[3], 'both')],
    ['a space', () => p.layout('1', '0', payloads[3]).replace('":"media', '": "media')],
    ['trailing bytes', () => `${p.layout('1', '0', payloads[3])}\n`],
    ['a truncated message', () => p.layout('1', '0', payloads[3]).slice(0, -1)],
    [
      'the other provider’s spelling',
      () => providers.find((o) => o !== p)!.layout('1', '0', payloads[3], 'inbound', p.id),
    ],
  ])('leaves %s to the parser', (_name, text) => {
    expect(read(text())).toBeUndefined();
  });

  it('never reads a mutated message differently from the parser, and reads every one it would', () => {
    const base = Buffer.from(p.layout('41', '820', payloads[3]), 'utf8');
    const replacements = [
      0x22, 0x5c, 0x20, 0x30, 0x39, 0x41, 0x2b, 0x2f, 0x3d, 0x7d, 0x7b, 0x2c, 0x78, 0x00, 0xc3, 0xff,
    ];
    const variants: Buffer[] = [];
    for (let i = 0; i < base.length; i++) {
      variants.push(Buffer.concat([base.subarray(0, i), base.subarray(i + 1)])); // deleted
      for (const b of replacements) {
        const replaced = Buffer.from(base);
        replaced[i] = b;
        variants.push(replaced);
        variants.push(Buffer.concat([base.subarray(0, i), Buffer.of(b), base.subarray(i)])); // inserted
      }
    }
    // The provider's layout with any digits, payload, track and id (what its text fast path matches).
    const shape = new RegExp(
      `^${p
        .layout('SEQ', 'TS', 'PAYLOAD', 'TRACK', 'ID')
        .replace(/[{}]/g, '\\$&')
        .replace(/SEQ|TS|(?<="chunk":")3/g, '\\d+')
        .replace('PAYLOAD', '[A-Za-z0-9+/]+={0,2}')
        .replace('TRACK', '(in|out)bound')
        .replace('ID', '[^"]+')}$`,
    );
    let readFast = 0;
    let readByBoth = 0;
    for (const bytes of variants) {
      const fast = read(bytes);
      const slow = p.general(bytes, p.id);
      const text = bytes.toString('latin1');
      if (fast) {
        readFast++;
        expect({ fast, text }).toEqual({ fast: slow, text });
      }
      // Whatever the parser reads in the provider's own layout (what its text fast path matches), this reads too.
      if (slow && shape.test(text)) {
        readByBoth++;
        expect({ fast, text }).toEqual({ fast: slow, text });
      }
    }
    expect(variants.length).toBeGreaterThan(10_000);
    // Digit and base64 substitutions keep a valid message: hundreds of the variants are read.
    expect(readFast).toBeGreaterThan(300);
    expect(readByBoth).toBe(readFast);
  });
});

describe('MediaReader.streamId', () => {
  it('gives bytes only for ids that JSON writes as they are', () => {
    expect(MediaReader.streamId('MZ0123')?.toString()).toBe('MZ0123');
    expect(MediaReader.streamId('v3:Md-I_9.1')?.toString()).toBe('v3:Md-I_9.1');
    for (const id of ['', 'a"}', 'a\\b', 'a b', 'é', 'x'.repeat(257)]) expect(MediaReader.streamId(id)).toBeUndefined();
  });
});
