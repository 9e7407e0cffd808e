/** Small helpers for E.164 numbers: the country calling code, and masking for logs. */

/** ITU country calling codes of two digits (1 and 7 are the one-digit ones; every other code has three). */
const TWO_DIGIT_CODES = new Set([
  '20', '27', '30', '31', '32', '33', '34', '36', '39', '40', '41', '43', '44', '45', '46', '47', '48', '49',
  '51', '52', '53', '54', '55', '56', '57', '58', '60', '61', '62', '63', '64', '65', '66', '81', '82', '84',
  '86', '90', '91', '92', '93', '94', '95', '98',
]); // prettier-ignore

/**
 * The country calling code of an E.164 number, with its `+` ("+1", "+44", "+353"), or undefined when
 * the text is not an E.164 number. Calling codes are prefix-free, so the first digits decide.
 */
export function countryCallingCode(e164: string | null | undefined): string | undefined {
  if (!e164 || !/^\+[1-9]\d{1,14}$/.test(e164)) return undefined;
  const digits = e164.slice(1);
  if (digits[0] === '1' || digits[0] === '7') return `+${digits[0]}`;
  if (TWO_DIGIT_CODES.has(digits.slice(0, 2))) return `+${digits.slice(0, 2)}`;
  return `+${digits.slice(0, 3)}`;
}

/** A phone number for logs: every digit but the last two replaced by `*` ("+*********42"). */
export function maskNumber(number: string | null | undefined): string {
  if (!number) return '(none)';
  const keep = number.slice(-2);
  return number.slice(0, -2).replace(/[0-9A-Za-z]/g, '*') + keep;
}
