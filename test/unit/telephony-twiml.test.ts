import {
  connectStreamTwiml,
  dialTwiml,
  emptyTwiml,
  hangupTwiml,
  refusalTwiml,
  sayAndHangupTwiml,
} from '../../src/channels/twilio/twiml';
import { parseTwiml } from '../../src/simulators/twilio-caller';
// The reference the hand-written answers are held to (tests only; the server no longer loads it).
import VoiceResponse from 'twilio/lib/twiml/VoiceResponse';

describe('connectStreamTwiml', () => {
  const xml = connectStreamTwiml({
    streamUrl: 'wss://sb.example.com/streams',
    parameters: { callId: 'c_123', from: '+15550001111' },
    fallbackMessage: 'Sorry, something went wrong. Please call again later.',
  });

  it('connects a stream to the URL with every parameter', () => {
    expect(xml).toContain(
      '<Response><Connect><Stream url="wss://sb.example.com/streams">' +
        '<Parameter name="callId" value="c_123"/><Parameter name="from" value="+15550001111"/>' +
        '</Stream></Connect>',
    );
  });

  it('puts the fallback apology after <Connect>, where it plays only if the stream ends', () => {
    expect(xml.indexOf('<Say>Sorry, something went wrong.')).toBeGreaterThan(xml.indexOf('</Connect>'));
    expect(xml.endsWith('</Say></Response>')).toBe(true);
  });

  it('escapes parameter values and text so hostile input stays data', () => {
    const hostile = connectStreamTwiml({
      streamUrl: 'wss://sb.example.com/streams',
      parameters: { note: '"/><Hangup/><x a="&' },
      fallbackMessage: '<Play>http://evil</Play> & bye',
    });
    expect(hostile).not.toContain('<Hangup/>');
    expect(hostile).not.toContain('<Play>');
    expect(hostile).toContain('&amp; bye');
    const parsed = parseTwiml(hostile);
    expect(parsed.parameters).toEqual({ note: '"/><Hangup/><x a="&' });
    expect(parsed.says).toEqual(['<Play>http://evil</Play> & bye']);
    expect(parsed.hasHangup).toBe(false);
  });

  it('adds <Connect action> for the transfer hook when asked', () => {
    const withAction = connectStreamTwiml({ streamUrl: 'wss://h/streams', action: '/twilio/stream-ended' });
    expect(withAction).toContain('<Connect action="/twilio/stream-ended">');
    expect(parseTwiml(withAction).connectAction).toBe('/twilio/stream-ended');
  });
});

describe('other TwiML', () => {
  it('refuses politely: say then hang up', () => {
    expect(refusalTwiml('All our agents are busy. Please call back later.')).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Say>All our agents are busy. Please call back later.</Say><Hangup/></Response>',
    );
    expect(sayAndHangupTwiml('Bye', 'Polly.Joanna')).toContain('<Say voice="Polly.Joanna">Bye</Say><Hangup/>');
  });

  it('dials a number or a SIP URI for a transfer', () => {
    expect(dialTwiml('+15550002222', { announce: 'Transferring you now.' })).toContain(
      '<Say>Transferring you now.</Say><Dial><Number>+15550002222</Number></Dial>',
    );
    expect(dialTwiml('sip:desk@example.com')).toContain('<Dial><Sip>sip:desk@example.com</Sip></Dial>');
    expect(parseTwiml(dialTwiml('+15550002222')).dial).toBe('+15550002222');
  });

  it('acknowledges with an empty response', () => {
    expect(emptyTwiml()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
  });
});

/**
 * The answers are written by hand (src/channels/twilio/twiml.ts); twilio's own builder is the
 * reference they must match byte for byte, escaping and refusals included.
 */
describe('the same bytes as twilio.twiml.VoiceResponse', () => {
  type Voice = NonNullable<VoiceResponse.SayAttributes['voice']>;

  // Characters that matter to XML (escaped ones, whitespace, controls it cannot carry, surrogate
  // halves, U+FFFE) mixed with plain and multi-byte text.
  const ALPHABET = [
    'a',
    'Z',
    '0',
    ' ',
    '&',
    '<',
    '>',
    '"',
    "'",
    '\t',
    '\n',
    '\r',
    '&amp;',
    'é',
    '日',
    '😀',
    '\u0000',
    '\u0007',
    '\u000B',
    '\uFFFE',
    '\uD800',
    '\uDC00',
    ';',
    '/',
    '=',
  ];
  const ILLEGAL_PICKS = new Set(['\u0000', '\u0007', '\u000B', '\uFFFE', '\uD800', '\uDC00']);
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const anyString = (illegalAllowed: boolean): string => {
    let s = '';
    const n = Math.floor(random() * 8);
    for (let i = 0; i < n; i++) {
      const c = ALPHABET[Math.floor(random() * ALPHABET.length)]!;
      if (!illegalAllowed && ILLEGAL_PICKS.has(c)) continue;
      s += c;
    }
    return s;
  };
  /** XML 1.0 cannot carry these (twilio's builder refuses them in text, writes them into attributes). */
  /* eslint-disable no-control-regex -- the control characters are what it finds */
  const XML_ILLEGAL =
    /[\0-\x08\x0B\f\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:[^\uD800-\uDBFF]|^)[\uDC00-\uDFFF]/;
  /* eslint-enable no-control-regex */
  /** What ours must give: the reference's answer, or a refusal where an attribute holds such a character. */
  const refusedIfIllegal = (attributes: (string | undefined)[], reference: string): string =>
    attributes.some((a) => a !== undefined && XML_ILLEGAL.test(a)) ? 'threw' : reference;
  /** The value, or 'threw' when building it throws. */
  const outcome = (build: () => string): string => {
    try {
      return build();
    } catch {
      return 'threw';
    }
  };

  it('connects a stream with parameters, an action and an apology', () => {
    for (let i = 0; i < 400; i++) {
      const illegal = i % 4 === 0;
      const parameters: Record<string, string> = {};
      const count = Math.floor(random() * 3);
      for (let k = 0; k < count; k++)
        parameters[`p${k}${anyString(false).replace(/[^a-z0-9]/gi, '')}`] = anyString(illegal);
      const options = {
        streamUrl: `wss://h/streams${anyString(illegal)}`,
        parameters,
        fallbackMessage: random() < 0.8 ? anyString(illegal) : undefined,
        action: random() < 0.5 ? `/twilio/stream-ended?callId=${anyString(illegal)}` : undefined,
        voice: random() < 0.3 ? `Polly.${anyString(illegal)}` : undefined,
      };
      const expected = outcome(() => {
        const response = new VoiceResponse();
        const connect = response.connect(options.action ? { action: options.action } : {});
        const stream = connect.stream({ url: options.streamUrl });
        for (const [name, value] of Object.entries(parameters)) stream.parameter({ name, value });
        if (options.fallbackMessage) {
          response.say(options.voice ? { voice: options.voice as Voice } : {}, options.fallbackMessage);
        }
        return response.toString();
      });
      const attributes = [
        options.streamUrl,
        options.action,
        options.fallbackMessage ? options.voice : undefined,
        ...Object.values(parameters),
      ];
      expect({ options, xml: outcome(() => connectStreamTwiml(options)) }).toEqual({
        options,
        xml: refusedIfIllegal(attributes, expected),
      });
    }
  });

  it('says, hangs up, dials and acknowledges', () => {
    for (let i = 0; i < 400; i++) {
      const illegal = i % 4 === 0;
      const message = anyString(illegal);
      const voice = random() < 0.5 ? anyString(illegal) : undefined;
      const target = random() < 0.5 ? `sip:${anyString(illegal)}` : `+1555${anyString(illegal)}`;
      const callerId = random() < 0.5 ? anyString(illegal) : undefined;
      const reference = {
        sayAndHangup: refusedIfIllegal(
          [voice],
          outcome(() => {
            const r = new VoiceResponse();
            r.say(voice ? { voice: voice as Voice } : {}, message);
            r.hangup();
            return r.toString();
          }),
        ),
        hangup: outcome(() => {
          const r = new VoiceResponse();
          if (message) r.say(message);
          r.hangup();
          return r.toString();
        }),
        dial: refusedIfIllegal(
          [callerId, message ? voice : undefined],
          outcome(() => {
            const r = new VoiceResponse();
            if (message) r.say(voice ? { voice: voice as Voice } : {}, message);
            const dial = r.dial(callerId ? { callerId } : {});
            if (target.startsWith('sip:')) dial.sip(target);
            else dial.number(target);
            return r.toString();
          }),
        ),
      };
      const ours = {
        sayAndHangup: outcome(() => sayAndHangupTwiml(message, voice)),
        hangup: outcome(() => hangupTwiml(message)),
        dial: outcome(() => dialTwiml(target, { announce: message, callerId, voice })),
      };
      expect({ message, voice, target, callerId, ours }).toEqual({ message, voice, target, callerId, ours: reference });
    }
    expect(emptyTwiml()).toBe(new VoiceResponse().toString());
    expect(hangupTwiml()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>');
  });

  it('refuses a character XML cannot carry, in text and in attributes, without echoing the value', () => {
    expect(() => sayAndHangupTwiml('call +15550001111 \u0000')).toThrow(/^invalid character for TwiML at index 18$/);
    expect(() => dialTwiml('+15550002222', { callerId: '+1555\u0007' })).toThrow(
      /^invalid character for TwiML at index 5$/,
    );
    expect(() => connectStreamTwiml({ streamUrl: 'wss://h/streams', parameters: { callId: 'c\uD800' } })).toThrow(
      /invalid character/,
    );
  });
});
