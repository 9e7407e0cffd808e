import { REDACTION_KINDS, redactText, type RedactionKind } from '../../src/privacy/redactor';
import { findDigitRuns, luhnValid } from '../../src/privacy/digit-runs';

const ALL = new Set<RedactionKind>(REDACTION_KINDS);
const r = (text: string, cardRecent = false): string => redactText(text, ALL, { cardRecent }).text;

describe('redactText', () => {
  it('redacts a Luhn-valid card written in groups and keeps the rest', () => {
    expect(r('my card is 4111 1111 1111 1111 thanks')).toBe('my card is [card number] thanks');
    expect(r('it is 4111-1111-1111-1111.')).toBe('it is [card number].');
  });

  it('redacts a card spoken digit by digit, with oh and double', () => {
    const spoken = 'four one one one, one one one one, one one one one, one one one one';
    expect(r(`sure, ${spoken}`)).toBe('sure, [card number]');
    // 5500 0000 0000 0004 (Luhn-valid Mastercard test number) with "double oh" and "oh".
    expect(r('five five double oh oh oh oh oh, oh oh oh oh, oh oh oh four')).toBe('[card number]');
    expect(r('4111 1111 one one one one 1111')).toBe('[card number]');
  });

  it('leaves a digit run that fails Luhn as a card (an order number)', () => {
    const out = redactText('order 4111 1111 1111 1112 please', new Set<RedactionKind>(['card']));
    expect(out.text).toBe('order 4111 1111 1111 1112 please');
    expect(out.kinds).toEqual([]);
  });

  it('redacts the CVV and expiry said with or after the card', () => {
    expect(r('card 4111111111111111 expiry 08/27 and the security code is 123')).toBe(
      'card [card number] expiry [expiry] and the security code is [cvv]',
    );
    expect(r('4111 1111 1111 1111 737')).toBe('[card number] [cvv]');
    // A later turn of the same call: cardRecent.
    expect(r('it is seven three seven', true)).toBe('it is [cvv]');
    expect(r('oh eight two seven', true)).toBe('[expiry]');
    expect(r('valid until 08/27', false)).toBe('valid until [expiry]');
    expect(r('expires august 2027', true)).toBe('expires [expiry]');
    expect(r('the code on the back of the card: 4 4 1', false)).toBe('the code on the back of the card: [cvv]');
    // Without a card nearby and without a cue, three digits are just a number.
    expect(r('I have 123 apples')).toBe('I have 123 apples');
  });

  it('redacts national ids', () => {
    expect(r('my social security number is 123-45-6789')).toBe('my social security number is [national id]');
    expect(r('ssn one two three four five six seven eight nine')).toBe('ssn [national id]');
    expect(r('national insurance AB 12 34 56 C ok')).toBe('national insurance [national id] ok');
  });

  it('redacts bank accounts: IBAN with its checksum, digits after a cue', () => {
    expect(r('IBAN GB82 WEST 1234 5698 7654 32 please')).toBe('IBAN [bank account] please');
    expect(r('GB82 WEST 1234 5698 7654 33')).not.toContain('[bank account]');
    expect(r('account number 12345678 sort code 12-34-56')).toBe(
      'account number [bank account] sort code [bank account]',
    );
  });

  it('redacts e-mail addresses written or spoken', () => {
    expect(r('write to John.Smith+x@example.co.uk now')).toBe('write to [email] now');
    expect(r('it is john dot smith at example dot com')).toBe('it is [email]');
    expect(r('jane at gmail.com')).toBe('[email]');
    expect(r("I'm at home. Then I left")).toBe("I'm at home. Then I left");
  });

  it('redacts phone numbers', () => {
    expect(r('call me on +44 20 7946 0958')).toBe('call me on [phone number]');
    expect(r('it is (555) 123-4567 or 555 123 4567 8')).toContain('[phone number]');
    expect(r('my number is five five five, one two three four')).toBe('my number is [phone number]');
    expect(r('reach me at 2125550123')).toBe('reach me at [phone number]');
  });

  it('redacts only the enabled kinds and reports what it found', () => {
    const only = redactText('mail a@b.com card 4111111111111111', new Set<RedactionKind>(['email']));
    expect(only.text).toBe('mail [email] card 4111111111111111');
    expect(only.kinds).toEqual(['email']);
    const both = redactText('mail a@b.com card 4111111111111111', ALL);
    expect(both.kinds).toEqual(['email', 'card']);
    expect(both.foundCard).toBe(true);
    expect(redactText('anything 4111111111111111', new Set()).text).toBe('anything 4111111111111111');
  });

  it('survives hostile input quickly', () => {
    const long = 'one '.repeat(20000) + 'a@'.repeat(5000) + '4'.repeat(10000) + ' at x dot '.repeat(3000);
    const t0 = Date.now();
    const out = redactText(long, ALL);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(typeof out.text).toBe('string');
    expect(redactText('', ALL).text).toBe('');
  });
});

describe('digit runs', () => {
  it('finds numerals and digit words, not a lone "oh"', () => {
    expect(findDigitRuns('oh, well').length).toBe(0);
    expect(findDigitRuns('room two oh four').map((r) => r.digits)).toEqual(['204']);
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
  });
});

describe('identifiers are not numbers', () => {
  it('leaves digits inside a hex id alone (a message SID), and still redacts a phone number beside it', () => {
    const sid = 'SM37ecaccee5d6ae0f1234567890cb0e81';
    const out = r(`message ${sid} sent to my number 415 555 0100 22`);
    expect(out).toContain(sid);
    expect(out).toContain('[phone number]');
  });
});
