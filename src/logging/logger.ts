/**
 * Structured logging with winston: JSON lines in production, readable lines otherwise (coloured only
 * when the output is a terminal: a file or a pipe gets no ANSI codes). Lines go to stdout
 * asynchronously, never blocking the event loop on a slow reader (src/logging/destination.ts).
 * Call-related code logs through `logger.child({ callId })` so every line carries the call id.
 * Secrets are never logged: known secret fields are redacted wherever they appear at the top level.
 * Personal data (PII_FIELDS: phone numbers, transcript text, names, SMS text, tool arguments, Twilio
 * error text, the agent's hang-up reason) is masked unless LOG_PII=true (`pii: true`): phone numbers
 * keep their last two digits ("+*********42"), text becomes "[pii: N chars]". Phone numbers that
 * appear inside any other string (a message, an error) are masked the same way.
 */
import winston from 'winston';
import Transport from 'winston-transport';
import { onDroppedLogLines, stdoutDestination, type LogDestination } from './destination';

export type Logger = winston.Logger;

const SECRET_KEYS = /^(authorization|auth_?token|api_?key|apikey|password|secret|token|x-twilio-signature|cookie)$/i;

/**
 * Log fields that hold personal data. Code that logs such data must put it under one of these keys
 * (at any depth) so the rule applies; field names are matched case-insensitively.
 */
export const PII_FIELDS = {
  /** Phone numbers: shown as their last two digits. */
  phone: ['from', 'to', 'caller', 'called', 'callerNumber', 'callerId', 'number', 'phoneNumber'],
  /** Free text and structured personal data: replaced by its length. */
  text: [
    'transcript',
    'text',
    'callerName',
    'smsText',
    'body',
    'arguments',
    'args',
    'toolArguments',
    'twilioError',
    'endCallReason',
  ],
} as const;

const PHONE_KEYS = new Set(PII_FIELDS.phone.map((k) => k.toLowerCase()));
const TEXT_KEYS = new Set(PII_FIELDS.text.map((k) => k.toLowerCase()));
/** E.164-looking numbers inside free text. */
const PHONE_IN_TEXT = /\+[1-9]\d{6,14}\b/g;
/** A phone number (possibly masked already, as maskNumber does): digits, *, +, spaces, ( ) . - */
const PHONE_VALUE = /^\+?[\d*\s().-]{3,}$/;
const MAX_DEPTH = 6;

/** "+15551234542" → "+*********42": every digit but the last two becomes *. */
export function maskPhone(value: string): string {
  const digits = value.replace(/\D/g, '').length;
  let seen = 0;
  return value.replace(/\d/g, (d) => (++seen > digits - 2 ? d : '*'));
}

function maskPiiValue(key: string, value: unknown): unknown {
  if (value === null || value === undefined || value === '') return value;
  if (PHONE_KEYS.has(key) && typeof value === 'string' && PHONE_VALUE.test(value)) return maskPhone(value);
  if (typeof value === 'string') return `[pii: ${value.length} chars]`;
  return '[pii]';
}

function scrubString(value: string): string {
  return value.replace(PHONE_IN_TEXT, maskPhone);
}

/** A masked copy of `value` (never changes the caller's objects). */
function scrub(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (!value || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  if (value instanceof Error || value instanceof Date || Buffer.isBuffer(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubField(k, v, depth + 1);
  return out;
}

function scrubField(key: string, value: unknown, depth: number): unknown {
  const lower = key.toLowerCase();
  if (PHONE_KEYS.has(lower) || TEXT_KEYS.has(lower)) return maskPiiValue(lower, value);
  return scrub(value, depth);
}

const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_KEYS.test(key)) (info as Record<string, unknown>)[key] = '[redacted]';
  }
  return info;
});

/** Masks PII fields (and phone numbers inside any string) in a log entry; `info` is winston's own copy. */
const redactPii = winston.format((info) => {
  const entry = info as Record<string, unknown>;
  for (const key of Object.keys(entry)) {
    if (key === 'level') continue;
    entry[key] = scrubField(key, entry[key], 0);
  }
  return info;
});

export interface LoggerOptions {
  level: string;
  json: boolean;
  silent?: boolean;
  /** Log personal data as is (LOG_PII=true). Default false: PII_FIELDS are masked. */
  pii?: boolean;
  /** Colour the level names. Default: only when the output is a terminal and NO_COLOR is unset. */
  colors?: boolean;
  /** Write here instead of stdout (tests, files). */
  stream?: NodeJS.WritableStream;
}

/** winston's formatted line (triple-beam's MESSAGE). */
const MESSAGE = Symbol.for('message');

/**
 * Each formatted line to the process's asynchronous stdout (src/logging/destination.ts), opened at
 * the first line: a silent logger never makes one.
 */
class StdoutTransport extends Transport {
  private destination: LogDestination | undefined;

  override log(info: Record<symbol, unknown>, next: () => void): void {
    (this.destination ??= stdoutDestination()).write(`${String(info[MESSAGE])}\n`);
    next();
  }
}

export function createLogger({ level, json, silent = false, pii = false, colors, stream }: LoggerOptions): Logger {
  const output = stream ?? process.stdout;
  const colorize = colors ?? (Boolean((output as { isTTY?: boolean }).isTTY) && !process.env.NO_COLOR);
  const privacy = pii ? [] : [redactPii()];
  const format = json
    ? winston.format.combine(
        redact(),
        ...privacy,
        winston.format.timestamp(),
        winston.format.errors({ stack: true }),
        winston.format.json(),
      )
    : winston.format.combine(
        redact(),
        ...privacy,
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.errors({ stack: true }),
        ...(colorize ? [winston.format.colorize()] : []),
        winston.format.printf(({ timestamp, level: lvl, message, stack, ...fields }) => {
          const extra = Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
          return `${String(timestamp)} ${lvl} ${String(message)}${extra}${stack ? `\n${String(stack)}` : ''}`;
        }),
      );
  const transport = stream ? new winston.transports.Stream({ stream }) : new StdoutTransport();
  const logger = winston.createLogger({ level, format, silent, transports: [transport] });
  // The stdout logger of the process (the last one made) says when its reader made it drop lines.
  if (!stream && !silent) {
    onDroppedLogLines((count) =>
      logger.warn('log lines dropped: the reader of stdout fell behind', { droppedLines: count }),
    );
  }
  return logger;
}
