/**
 * Transcript redaction: finds payment cards (Luhn-checked, written or spoken digit by digit), the
 * CVV and expiry said near them, national ids, bank accounts (IBAN with its checksum, or digits
 * after "account"/"sort code"/"routing"), e-mail addresses (written or spoken: "john dot smith at
 * example dot com") and phone numbers, and replaces each with a label (`[card number]`). Pure and
 * synchronous: it runs once per finished transcript turn, never per audio frame.
 */
import { findDigitRuns, luhnValid, runSlices, type DigitRun, type DigitToken } from './digit-runs';

export const REDACTION_KINDS = ['card', 'cvv', 'expiry', 'national-id', 'bank-account', 'email', 'phone'] as const;
export type RedactionKind = (typeof REDACTION_KINDS)[number];

export const REDACTION_LABELS: Record<RedactionKind, string> = {
  card: '[card number]',
  cvv: '[cvv]',
  expiry: '[expiry]',
  'national-id': '[national id]',
  'bank-account': '[bank account]',
  email: '[email]',
  phone: '[phone number]',
};

export interface RedactionContext {
  /** A card number was read out shortly before (an earlier turn of this call): short digit runs are its CVV/expiry. */
  cardRecent?: boolean;
}

export interface RedactionResult {
  text: string;
  /** Kinds found (each once, in order of first appearance). */
  kinds: RedactionKind[];
  /** A card number was among them. */
  foundCard: boolean;
}

interface Span {
  start: number;
  end: number;
  kind: RedactionKind;
}

const TLDS = 'com|org|net|edu|gov|io|co|uk|us|de|fr|es|it|nl|ca|au|info|biz|me|ai|eu|ch|be|at|se|no|dk|ie|in|jp|br';
const WRITTEN_EMAIL = /[a-z0-9][a-z0-9._%+-]*\s*@\s*[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}/gi;
const SPOKEN_EMAIL = new RegExp(
  `[a-z0-9][a-z0-9._%+-]*(?:\\s+(?:dot|underscore|dash|hyphen)\\s+[a-z0-9]+)*\\s+at\\s+[a-z0-9-]+` +
    `(?:(?:\\s+dot\\s+|\\.)[a-z0-9-]+)*(?:\\s+dot\\s+|\\.)(?:${TLDS})\\b`,
  'gi',
);
const IBAN = /\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b/gi;
const UK_NINO = /\b[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b/gi;
const SSN = /\b\d{3}-\d{2}-\d{4}\b/g;
const EXPIRY_MONTH_YEAR = /\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?\s+(?:20)?\d{2}\b/gi;

/** Keywords just before a digit run that say what it is; the first that matches wins. */
const CUES: Array<{ kind: RedactionKind; cue: RegExp; min: number; max: number }> = [
  {
    kind: 'cvv',
    cue: /\b(cvv|cvc|cv2|csc|security code|verification|three digits?|back of (the|my) card)\b/i,
    min: 3,
    max: 4,
  },
  { kind: 'expiry', cue: /\b(expir\w*|expires?|exp|valid (thru|through|until))\b/i, min: 3, max: 6 },
  {
    kind: 'national-id',
    cue: /\b(social security|ssn|social|national (id|insurance)|passport|id number|identity|tax (id|number)|sin)\b/i,
    min: 6,
    max: 12,
  },
  { kind: 'bank-account', cue: /\b(account|acct|routing|sort code|iban|bank)\b/i, min: 6, max: 18 },
  { kind: 'phone', cue: /\b(phone|mobile|cell|call me|reach me|number|contact|text me)\b/i, min: 7, max: 15 },
];
/** How far before a run its cue may be. */
const CUE_WINDOW = 40;

function mod97(iban: string): boolean {
  const s = iban.replace(/\s+/g, '').toUpperCase();
  if (s.length < 15 || s.length > 34) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rest = 0;
  for (const ch of moved) {
    const v = ch >= 'A' && ch <= 'Z' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const d of v) rest = (rest * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rest === 1;
}

function overlaps(spans: Span[], start: number, end: number): boolean {
  return spans.some((s) => s.start < end && start < s.end);
}

function addMatches(
  text: string,
  re: RegExp,
  kind: RedactionKind,
  spans: Span[],
  check?: (m: string) => boolean,
): void {
  for (const m of text.matchAll(re)) {
    const start = m.index;
    const end = start + m[0].length;
    if ((!check || check(m[0])) && !overlaps(spans, start, end)) spans.push({ start, end, kind });
  }
}

function looksLikeExpiry(text: string, tokens: DigitToken[], digits: string): boolean {
  if (digits.length !== 4 && digits.length !== 6) return false;
  const month = Number(digits.slice(0, 2));
  if (month < 1 || month > 12) return false;
  return text.slice(tokens[0].start, tokens[tokens.length - 1].end).includes('/') || tokens.length >= 2;
}

function classifyRun(
  text: string,
  run: { tokens: DigitToken[]; digits: string; start: number; end: number },
  enabled: ReadonlySet<RedactionKind>,
  nearCard: boolean,
): RedactionKind | undefined {
  const before = text.slice(Math.max(0, run.start - CUE_WINDOW), run.start);
  const n = run.digits.length;
  for (const c of CUES) {
    if (enabled.has(c.kind) && n >= c.min && n <= c.max && c.cue.test(before)) return c.kind;
  }
  if (nearCard && (n === 3 || n === 4 || n === 6)) {
    if (enabled.has('expiry') && looksLikeExpiry(text, run.tokens, run.digits)) return 'expiry';
    if (enabled.has('cvv') && n <= 4) return 'cvv';
  }
  const plus = text[run.start - 1] === '+';
  if (enabled.has('phone') && ((n >= 10 && n <= 15) || (plus && n >= 8 && n <= 15))) return 'phone';
  return undefined;
}

/** Cards inside one run (token-aligned, 13–19 digits, Luhn); returns the runs left around them. */
function takeCards(run: DigitRun, spans: Span[]): DigitRun[] {
  const slices = runSlices(run, 13, 19).filter((s) => luhnValid(s.digits) && !/^(\d)\1+$/.test(s.digits));
  const used = new Array<boolean>(run.tokens.length).fill(false);
  for (const s of slices) {
    if (used.slice(s.from, s.to).some(Boolean)) continue;
    for (let i = s.from; i < s.to; i++) used[i] = true;
    spans.push({ start: s.start, end: s.end, kind: 'card' });
  }
  const rest: DigitRun[] = [];
  let cur: DigitToken[] = [];
  const push = (): void => {
    if (cur.length === 0) return;
    rest.push({
      tokens: cur,
      digits: cur.map((t) => t.digits).join(''),
      start: cur[0].start,
      end: cur[cur.length - 1].end,
    });
    cur = [];
  };
  run.tokens.forEach((t, i) => {
    if (used[i]) push();
    else cur.push(t);
  });
  push();
  return rest;
}

/** Redacts the enabled kinds from text. */
export function redactText(
  text: string,
  enabled: ReadonlySet<RedactionKind>,
  context: RedactionContext = {},
): RedactionResult {
  if (enabled.size === 0 || text.length === 0) return { text, kinds: [], foundCard: false };
  const spans: Span[] = [];
  if (enabled.has('email')) {
    addMatches(text, WRITTEN_EMAIL, 'email', spans);
    addMatches(text, SPOKEN_EMAIL, 'email', spans);
  }
  if (enabled.has('bank-account')) addMatches(text, IBAN, 'bank-account', spans, mod97);
  if (enabled.has('national-id')) {
    addMatches(text, UK_NINO, 'national-id', spans);
    addMatches(text, SSN, 'national-id', spans);
  }
  let runs = findDigitRuns(text).filter((r) => !overlaps(spans, r.start, r.end));
  let foundCard = false;
  if (enabled.has('card')) {
    const before = spans.length;
    runs = runs.flatMap((r) => takeCards(r, spans));
    foundCard = spans.length > before;
  }
  const nearCard = foundCard || context.cardRecent === true;
  if (enabled.has('expiry') && nearCard) addMatches(text, EXPIRY_MONTH_YEAR, 'expiry', spans);
  for (const run of runs) {
    if (overlaps(spans, run.start, run.end)) continue;
    const kind = classifyRun(text, run, enabled, nearCard);
    if (kind) spans.push({ start: run.start, end: run.end, kind });
  }
  if (spans.length === 0) return { text, kinds: [], foundCard: false };
  spans.sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  const kinds: RedactionKind[] = [];
  for (const s of spans) {
    const start = s.kind === 'phone' && text[s.start - 1] === '+' ? s.start - 1 : s.start;
    out += text.slice(at, start) + REDACTION_LABELS[s.kind];
    at = s.end;
    if (!kinds.includes(s.kind)) kinds.push(s.kind);
  }
  out += text.slice(at);
  return { text: out, kinds, foundCard };
}
