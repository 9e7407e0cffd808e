/**
 * Digit runs in transcript text: digits written as numerals ("4111 1111"), spoken as words ("four one
 * one one", "double seven", "oh") or mixed, with spaces, hyphens, commas, dots or slashes between.
 * Each run keeps the character span it covers and where each digit came from, so a part of a run (a
 * card inside a longer run) can be replaced on its own.
 */

const WORD_DIGITS: Record<string, string> = {
  zero: '0',
  oh: '0',
  o: '0',
  nought: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
};
const REPEAT: Record<string, number> = { double: 2, triple: 3 };

/** One token of a run: its digits and its span in the text. */
export interface DigitToken {
  digits: string;
  start: number;
  end: number;
  /** Spoken as a word ("four"), not written as a numeral. */
  spoken: boolean;
  /** "oh"/"o": a zero only next to other digits. */
  interjection?: boolean;
}

export interface DigitRun {
  tokens: DigitToken[];
  digits: string;
  start: number;
  end: number;
}

const TOKEN = /[A-Za-z]+|\d+/g;
/** What may stand between two tokens of one run. */
const JOINER = /^[\s,.\-/()]*$/;

function gluedToLetters(text: string, start: number, end: number): boolean {
  return (start > 0 && /[A-Za-z]/.test(text[start - 1])) || (end < text.length && /[A-Za-z]/.test(text[end]));
}

/** Finds every run of digit tokens in text (numerals and digit words), in order. */
export function findDigitRuns(text: string): DigitRun[] {
  const runs: DigitRun[] = [];
  let current: DigitToken[] = [];
  let pendingRepeat: { times: number; start: number } | undefined;
  const close = (): void => {
    // A lone "oh" (or a few) is an interjection, not a zero.
    if (current.some((t) => !t.interjection)) {
      const digits = current.map((t) => t.digits).join('');
      runs.push({ tokens: current, digits, start: current[0].start, end: current[current.length - 1].end });
    }
    current = [];
    pendingRepeat = undefined;
  };
  let lastEnd = -1;
  for (const m of text.matchAll(TOKEN)) {
    const word = m[0];
    const start = m.index;
    const end = start + word.length;
    const lower = word.toLowerCase();
    let digits: string | undefined;
    let spoken = false;
    // Numerals glued to letters are part of an identifier (a message SID, "ae0f1234567cb0e8"), not a
    // number someone said or typed.
    if (/^\d+$/.test(word)) digits = gluedToLetters(text, start, end) ? undefined : word;
    else if (lower in WORD_DIGITS) {
      digits = WORD_DIGITS[lower];
      spoken = true;
    }
    const joined = lastEnd >= 0 && JOINER.test(text.slice(lastEnd, start));
    if (lower in REPEAT) {
      if (!joined && current.length > 0) close();
      pendingRepeat = { times: REPEAT[lower], start };
      lastEnd = end;
      continue;
    }
    if (digits === undefined) {
      close();
      lastEnd = -1;
      continue;
    }
    if (!joined && current.length > 0) close();
    if (pendingRepeat && spoken && digits.length === 1) {
      current.push({
        digits: digits.repeat(pendingRepeat.times),
        start: pendingRepeat.start,
        end,
        spoken,
        interjection: false,
      });
    } else {
      current.push({ digits, start, end, spoken, interjection: lower === 'o' || lower === 'oh' });
    }
    pendingRepeat = undefined;
    lastEnd = end;
  }
  close();
  return runs;
}

/** Luhn checksum of a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** A slice of a run, token-aligned: tokens [from, to). */
export interface RunSlice {
  from: number;
  to: number;
  digits: string;
  start: number;
  end: number;
}

/** Token-aligned slices of a run whose digit count is within [min, max], longest first. */
export function runSlices(run: DigitRun, min: number, max: number): RunSlice[] {
  const out: RunSlice[] = [];
  for (let from = 0; from < run.tokens.length; from++) {
    let digits = '';
    for (let to = from; to < run.tokens.length; to++) {
      digits += run.tokens[to].digits;
      if (digits.length > max) break;
      if (digits.length >= min)
        out.push({ from, to: to + 1, digits, start: run.tokens[from].start, end: run.tokens[to].end });
    }
  }
  return out.sort((a, b) => b.digits.length - a.digits.length || a.start - b.start);
}
