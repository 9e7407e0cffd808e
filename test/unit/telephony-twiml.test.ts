import {
  connectStreamTwiml,
  dialTwiml,
  emptyTwiml,
  refusalTwiml,
  sayAndHangupTwiml,
} from '../../src/channels/twilio/twiml';
import { parseTwiml } from '../../src/simulators/twilio-caller';

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
