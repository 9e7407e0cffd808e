import crypto from 'node:crypto';
import twilio from 'twilio';
import {
  computeTwilioSignature,
  isValidTwilioSignature,
  streamUrl,
  validateStreamHandshake,
  webhookUrl,
} from '../../src/channels/twilio/signature';

const TOKEN = '12345';
// The example from Twilio's security documentation, reproduced with the twilio package.
const DOC_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const DOC_PARAMS = {
  CallSid: 'CA1234567890ABCDE',
  Caller: '+12349013030',
  Digits: '1234',
  From: '+12349013030',
  To: '+18005551212',
};

describe('Twilio signatures', () => {
  it('match the known vector from Twilio and the twilio package', () => {
    const signature = computeTwilioSignature(TOKEN, DOC_URL, DOC_PARAMS);
    expect(signature).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    expect(signature).toBe(twilio.getExpectedTwilioSignature(TOKEN, DOC_URL, DOC_PARAMS));
  });

  it('are HMAC-SHA1 over the URL followed by the sorted key/value pairs', () => {
    const expected = crypto
      .createHmac('sha1', 'secret-token')
      .update('https://x.example/twilio/incoming-callAccountSidAC1CallSidCA1')
      .digest('base64');
    expect(
      computeTwilioSignature('secret-token', 'https://x.example/twilio/incoming-call', {
        CallSid: 'CA1',
        AccountSid: 'AC1',
      }),
    ).toBe(expected);
  });

  it('validate the right signature and reject a wrong URL, wrong params, wrong token or none', () => {
    const signature = computeTwilioSignature(TOKEN, DOC_URL, DOC_PARAMS);
    expect(isValidTwilioSignature(TOKEN, signature, DOC_URL, DOC_PARAMS)).toBe(true);
    expect(isValidTwilioSignature(TOKEN, signature, 'https://evil.example/myapp.php?foo=1&bar=2', DOC_PARAMS)).toBe(
      false,
    );
    expect(isValidTwilioSignature(TOKEN, signature, DOC_URL, { ...DOC_PARAMS, Digits: '9' })).toBe(false);
    expect(isValidTwilioSignature('other-token', signature, DOC_URL, DOC_PARAMS)).toBe(false);
    expect(isValidTwilioSignature(TOKEN, undefined, DOC_URL, DOC_PARAMS)).toBe(false);
    expect(isValidTwilioSignature(TOKEN, '', DOC_URL, DOC_PARAMS)).toBe(false);
    expect(isValidTwilioSignature('', signature, DOC_URL, DOC_PARAMS)).toBe(false);
  });

  it('accept the explicit default-port form Twilio may have signed', () => {
    const signed = computeTwilioSignature(TOKEN, 'https://sb.example:443/twilio/incoming-call', { A: '1' });
    expect(isValidTwilioSignature(TOKEN, signed, 'https://sb.example/twilio/incoming-call', { A: '1' })).toBe(true);
  });

  it('never throw on a malformed URL', () => {
    expect(isValidTwilioSignature(TOKEN, 'abc=', 'not a url', {})).toBe(false);
  });
});

describe('URLs', () => {
  it('build webhook URLs from PUBLIC_URL with or without a trailing slash', () => {
    expect(webhookUrl('https://sb.example.com/', '/twilio/incoming-call')).toBe(
      'https://sb.example.com/twilio/incoming-call',
    );
    expect(webhookUrl('https://sb.example.com/base', 'twilio/call-status')).toBe(
      'https://sb.example.com/base/twilio/call-status',
    );
  });

  it('turn https into wss and http into ws for the stream URL', () => {
    expect(streamUrl('https://sb.example.com')).toBe('wss://sb.example.com/streams');
    expect(streamUrl('https://sb.example.com:8443/')).toBe('wss://sb.example.com:8443/streams');
    expect(streamUrl('http://localhost:3000')).toBe('ws://localhost:3000/streams');
    expect(() => streamUrl('ftp://x')).toThrow(/PUBLIC_URL/);
  });
});

describe('validateStreamHandshake', () => {
  const publicUrl = 'https://sb.example.com';

  it('accepts an upgrade signed over the wss stream URL with empty params', () => {
    const signature = computeTwilioSignature(TOKEN, 'wss://sb.example.com/streams', {});
    expect(validateStreamHandshake(TOKEN, publicUrl, { 'x-twilio-signature': signature })).toBe(true);
  });

  it('rejects a signature over another URL, a missing header and a bad PUBLIC_URL', () => {
    const wrongHost = computeTwilioSignature(TOKEN, 'wss://attacker.example/streams', {});
    const wrongScheme = computeTwilioSignature(TOKEN, 'https://sb.example.com/streams', {});
    expect(validateStreamHandshake(TOKEN, publicUrl, { 'x-twilio-signature': wrongHost })).toBe(false);
    expect(validateStreamHandshake(TOKEN, publicUrl, { 'x-twilio-signature': wrongScheme })).toBe(false);
    expect(validateStreamHandshake(TOKEN, publicUrl, {})).toBe(false);
    expect(validateStreamHandshake(TOKEN, 'nonsense', { 'x-twilio-signature': wrongHost })).toBe(false);
  });
});
