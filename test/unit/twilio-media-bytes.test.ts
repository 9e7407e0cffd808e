/**
 * The uplink's byte-level fast path (src/channels/twilio/media-bytes.ts) against the parser it
 * stands in for: whatever it accepts, parseTwilioMessage accepts with the same values, and
 * everything in Twilio's own layout for this stream is accepted (so the fast path is really taken).
 */
import { readTwilioMedia, type TwilioMediaFields } from '../../src/channels/twilio/media-bytes';
import { MAX_MEDIA_PAYLOAD_BYTES, parseTwilioMessage } from '../../src/channels/twilio/protocol';

const SID = 'MZ0123456789abcdef0123456789abcdef';
const SID_BYTES = Buffer.from(SID, 'latin1');

const twilioLayout = (seq: string, ts: string, payload: string, track = 'inbound', sid = SID, chunk = '3'): string =>
  `{"event":"media","sequenceNumber":"${seq}","media":{"track":"${track}","chunk":"${chunk}","timestamp":"${ts}","payload":"${payload}"},"streamSid":"${sid}"}`;

function read(text: string | Buffer): TwilioMediaFields | undefined {
  const out: TwilioMediaFields = { payload: '', timestampMs: -1, sequenceNumber: -1 };
  return readTwilioMedia(Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'), SID_BYTES, out) ? out : undefined;
}

/** What the general parser makes of the same bytes, as the fast path's fields (undefined: not this stream's media). */
function general(bytes: Buffer): TwilioMediaFields | undefined {
  const parsed = parseTwilioMessage(bytes.toString('utf8'));
  if (!parsed.ok || parsed.message.event !== 'media' || parsed.message.streamSid !== SID) return undefined;
  const { media, sequenceNumber } = parsed.message;
  return { payload: media.payload, timestampMs: media.timestamp, sequenceNumber };
}

describe('readTwilioMedia (media read from the frame bytes)', () => {
  const payloads = [1, 2, 3, 160, 161, 320, MAX_MEDIA_PAYLOAD_BYTES].map((n, i) =>
    Buffer.alloc(n, (i * 37 + 0xfb) & 0xff).toString('base64'),
  );

  it.each([
    ['a 20 ms frame', twilioLayout('2', '20', payloads[3]), 2, 20],
    ['the outbound track, leading zeros', twilioLayout('007', '040', payloads[4], 'outbound'), 7, 40],
    [
      '15-digit numbers',
      twilioLayout('999999999999999', '123456789012345', payloads[0]),
      999999999999999,
      123456789012345,
    ],
    ['one padding character', twilioLayout('1', '0', payloads[1]), 1, 0],
    ['the largest payload', twilioLayout('1', '0', payloads[6]), 1, 0],
  ])('reads %s as the general parser does', (_name, text, seq, ts) => {
    const fast = read(text);
    expect(fast).toEqual({ payload: expect.any(String), timestampMs: ts, sequenceNumber: seq });
    expect(fast).toEqual(general(Buffer.from(text)));
  });

  it.each([
    ['another stream', twilioLayout('1', '0', payloads[3], 'inbound', 'MZ99999999999999999999999999999999')],
    ['a streamSid that only starts like this one', twilioLayout('1', '0', payloads[3], 'inbound', `${SID}x`)],
    ['16 digits', twilioLayout('1234567890123456', '0', payloads[3])],
    ['an empty number', twilioLayout('', '0', payloads[3])],
    [
      'a payload one byte too large',
      twilioLayout('1', '0', Buffer.alloc(MAX_MEDIA_PAYLOAD_BYTES + 1).toString('base64')),
    ],
    ['a payload of a bad length', twilioLayout('1', '0', 'abcde')],
    ['three padding characters', twilioLayout('1', '0', 'ab===')],
    ['an empty payload', twilioLayout('1', '0', '')],
    ['an escaped character', twilioLayout('1', '0', 'ab\\/d')],
    ['another track', twilioLayout('1', '0', payloads[3], 'both')],
    ['a space', twilioLayout('1', '0', payloads[3]).replace('":"media', '": "media')],
    [
      'another key order',
      `{"event":"media","sequenceNumber":"1","streamSid":"${SID}","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"${payloads[3]}"}}`,
    ],
    ['trailing bytes', `${twilioLayout('1', '0', payloads[3])}\n`],
    ['a truncated message', twilioLayout('1', '0', payloads[3]).slice(0, -1)],
    ['a mark', `{"event":"mark","sequenceNumber":"1","streamSid":"${SID}","mark":{"name":"x"}}`],
  ])('leaves %s to the general parser', (_name, text) => {
    expect(read(text)).toBeUndefined();
  });

  it('never reads a mutated message differently from the general parser, and reads every one it would', () => {
    const base = Buffer.from(twilioLayout('41', '820', payloads[3]), 'utf8');
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
    let readFast = 0;
    let readByBoth = 0;
    for (const bytes of variants) {
      const fast = read(bytes);
      const slow = general(bytes);
      if (fast) {
        readFast++;
        expect({ fast, text: bytes.toString('latin1') }).toEqual({ fast: slow, text: bytes.toString('latin1') });
      }
      // Whatever the general parser reads in Twilio's own layout (what its text fast path matches), this reads too.
      const twilioShaped =
        /^\{"event":"media","sequenceNumber":"\d+","media":\{"track":"(in|out)bound","chunk":"\d+","timestamp":"\d+","payload":"[A-Za-z0-9+/]+={0,2}"\},"streamSid":"[^"]+"\}$/.test(
          bytes.toString('latin1'),
        );
      if (slow && twilioShaped) {
        readByBoth++;
        expect({ fast, text: bytes.toString('latin1') }).toEqual({ fast: slow, text: bytes.toString('latin1') });
      }
    }
    expect(variants.length).toBeGreaterThan(10_000);
    // Digit and base64 substitutions keep a valid message: hundreds of the variants are read.
    expect(readFast).toBeGreaterThan(300);
    expect(readByBoth).toBe(readFast);
  });
});
