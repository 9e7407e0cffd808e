/**
 * The downlink's byte-level fast path (src/engines/realtime/audio-delta-bytes.ts) against the
 * parser it stands in for: whatever it accepts, parseServerEvent accepts as the same audio delta
 * with the same ids and the same decoded bytes; the layouts servers send are accepted (so the fast
 * path is really taken); the rest is left to the parser.
 */
import { readAudioDelta, type AudioDelta } from '../../src/engines/realtime/audio-delta-bytes';
import { parseServerEvent, type ResponseOutputAudioDeltaEvent } from '../../src/engines/realtime/protocol';

interface Read {
  itemId: string;
  responseId: string;
  hex: string;
}

function fast(bytes: Buffer): Read | undefined {
  const out: AudioDelta = { itemId: '?', responseId: '?', audio: Buffer.alloc(0) };
  return readAudioDelta(bytes, out)
    ? { itemId: out.itemId, responseId: out.responseId, hex: out.audio.toString('hex') }
    : undefined;
}

/** What the general path makes of the same bytes (RealtimeClient: parse, then decode the delta). */
function general(bytes: Buffer): Read | undefined {
  const parsed = parseServerEvent(bytes.toString('utf8'));
  if (!parsed.ok || parsed.event.type !== 'response.output_audio.delta') return undefined;
  const e = parsed.event as ResponseOutputAudioDeltaEvent;
  return { itemId: e.item_id, responseId: e.response_id, hex: Buffer.from(e.delta, 'base64').toString('hex') };
}

const audio = (n: number, seed = 7): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 97 + seed) & 0xff));
const delta = (n: number): string => audio(n).toString('base64');

/** The local AI's layout (src/simulators/local-realtime/responses.ts) and others a server may send. */
const accepted: Array<[string, string]> = [
  [
    'the local AI (type, ids, indexes, delta)',
    JSON.stringify({
      type: 'response.output_audio.delta',
      event_id: 'event_1',
      response_id: 'resp_1',
      item_id: 'item_1',
      output_index: 0,
      content_index: 0,
      delta: delta(800),
    }),
  ],
  [
    'the delta first, the type last',
    JSON.stringify({
      delta: delta(160),
      item_id: 'item_B',
      response_id: 'resp_B',
      type: 'response.output_audio.delta',
    }),
  ],
  ['the beta name', JSON.stringify({ type: 'response.audio.delta', response_id: 'r', item_id: 'i', delta: delta(3) })],
  [
    'one padding character',
    JSON.stringify({ type: 'response.output_audio.delta', response_id: 'r', item_id: 'i', delta: delta(2) }),
  ],
  [
    'two padding characters',
    JSON.stringify({ type: 'response.output_audio.delta', response_id: 'r', item_id: 'i', delta: delta(1) }),
  ],
  [
    'pretty-printed, with literals, numbers and a non-ASCII string elsewhere',
    JSON.stringify(
      {
        type: 'response.output_audio.delta',
        response_id: 'resp_Ω1',
        note: 'héllo "quoted" — fine',
        flag: true,
        other: false,
        nothing: null,
        n: -12.5e-3,
        item_id: 'item_1',
        delta: delta(4800),
      },
      null,
      2,
    ).replace('resp_Ω1', 'resp_1'),
  ],
  ['empty ids', JSON.stringify({ type: 'response.output_audio.delta', response_id: '', item_id: '', delta: delta(6) })],
];

describe('readAudioDelta (agent audio read from the message bytes)', () => {
  it.each(accepted)('reads %s as the parser does', (_name, text) => {
    const bytes = Buffer.from(text, 'utf8');
    const got = fast(bytes);
    expect(got).toBeDefined();
    expect(got).toEqual(general(bytes));
  });

  it('decodes into a buffer of its own each time', () => {
    const out: AudioDelta = { itemId: '', responseId: '', audio: Buffer.alloc(0) };
    const message = (n: number): Buffer =>
      Buffer.from(
        JSON.stringify({ type: 'response.output_audio.delta', response_id: 'r', item_id: 'i', delta: delta(n) }),
      );
    expect(readAudioDelta(message(160), out)).toBe(true);
    const first = out.audio;
    const firstHex = first.toString('hex');
    expect(readAudioDelta(message(320), out)).toBe(true);
    expect(out.audio).not.toBe(first);
    expect(first.toString('hex')).toBe(firstHex);
    expect(out.audio.equals(audio(320))).toBe(true);
  });

  it.each([
    [
      'another event',
      '{"type":"response.output_audio_transcript.delta","response_id":"r","item_id":"i","delta":"aGk="}',
    ],
    [
      'no response_id (a protocol error for the parser)',
      '{"type":"response.output_audio.delta","item_id":"i","delta":"AAAA"}',
    ],
    ['a number as item_id', '{"type":"response.output_audio.delta","response_id":"r","item_id":5,"delta":"AAAA"}'],
    [
      'an escape in an id',
      '{"type":"response.output_audio.delta","response_id":"r\\u0031","item_id":"i","delta":"AAAA"}',
    ],
    [
      'an escape in the type',
      '{"type":"response.output_audio\\u002edelta","response_id":"r","item_id":"i","delta":"AAAA"}',
    ],
    [
      'an invalid escape',
      '{"type":"response.output_audio.delta","x":"\\q","response_id":"r","item_id":"i","delta":"AAAA"}',
    ],
    ['an escaped key', '{"type":"response.output_audio.delta","response_id":"r","item_\\u0069d":"i","delta":"AAAA"}'],
    ['a nested value', '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","x":{},"delta":"AAAA"}'],
    [
      'a duplicate key',
      '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","item_id":"j","delta":"AAAA"}',
    ],
    ['a non-ASCII id', '{"type":"response.output_audio.delta","response_id":"r","item_id":"é","delta":"AAAA"}'],
    ['URL-safe base64', '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"-_-_"}'],
    ['unpadded base64', '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"AAA"}'],
    ['base64 with a space', '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"AA AA"}'],
    ['an empty delta', '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":""}'],
    [
      'padding in the middle',
      '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"AA==AAAA"}',
    ],
    ['trailing bytes', '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"AAAA"}x'],
    ['a trailing comma', '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"AAAA",}'],
    ['a bad number', '{"type":"response.output_audio.delta","n":01,"response_id":"r","item_id":"i","delta":"AAAA"}'],
    ['a control character', '{"type":"response.output_audio.delta","response_id":"r\t","item_id":"i","delta":"AAAA"}'],
    [
      'a control character elsewhere',
      '{"type":"response.output_audio.delta","x":"\u001f","response_id":"r","item_id":"i","delta":"AAAA"}',
    ],
    ['an array', '["response.output_audio.delta"]'],
  ])('leaves %s to the parser', (_name, text) => {
    expect(fast(Buffer.from(text, 'utf8'))).toBeUndefined();
  });

  it('never disagrees with the parser on mutated messages', () => {
    // A fixed pseudo-random sequence: the same mutations every run.
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = Buffer.from('{}[]",:\\ \t\n0123456789-+.eE=/+AZaz_ntrufl\u00e9\u0001\u001f', 'utf8');
    let taken = 0;
    let checked = 0;
    for (const [, text] of accepted) {
      const base = Buffer.from(text, 'utf8');
      for (let n = 0; n < 1500; n++) {
        const bytes = Buffer.from(base);
        const edits = 1 + random(3);
        let mutated: Buffer = bytes;
        for (let e = 0; e < edits; e++) {
          const at = random(mutated.length);
          const kind = random(3);
          const b = alphabet[random(alphabet.length)];
          if (kind === 0) mutated[at] = b;
          else if (kind === 1) mutated = Buffer.concat([mutated.subarray(0, at), mutated.subarray(at + 1)]);
          else mutated = Buffer.concat([mutated.subarray(0, at), Buffer.from([b]), mutated.subarray(at)]);
        }
        const got = fast(mutated);
        checked++;
        if (got === undefined) continue;
        taken++;
        expect(got).toEqual(general(mutated));
      }
    }
    // Many mutations land in the base64 or in fields the reader skips, so the fast path is exercised.
    expect(checked).toBe(accepted.length * 1500);
    expect(taken).toBeGreaterThan(checked / 50);
  });
});
