/**
 * Structured logging with winston: JSON lines in production, readable colored lines otherwise.
 * Call-related code logs through `logger.child({ callId })` so every line carries the call id.
 * Secrets are never logged: known secret fields are redacted wherever they appear.
 */
import winston from 'winston';

export type Logger = winston.Logger;

const SECRET_KEYS = /^(authorization|auth_?token|api_?key|apikey|password|secret|token|x-twilio-signature|cookie)$/i;

const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_KEYS.test(key)) (info as Record<string, unknown>)[key] = '[redacted]';
  }
  return info;
});

export interface LoggerOptions {
  level: string;
  json: boolean;
  silent?: boolean;
}

export function createLogger({ level, json, silent = false }: LoggerOptions): Logger {
  const format = json
    ? winston.format.combine(
        redact(),
        winston.format.timestamp(),
        winston.format.errors({ stack: true }),
        winston.format.json(),
      )
    : winston.format.combine(
        redact(),
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.errors({ stack: true }),
        winston.format.colorize(),
        winston.format.printf(({ timestamp, level: lvl, message, stack, ...fields }) => {
          const extra = Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
          return `${String(timestamp)} ${lvl} ${String(message)}${extra}${stack ? `\n${String(stack)}` : ''}`;
        }),
      );
  return winston.createLogger({ level, format, silent, transports: [new winston.transports.Console()] });
}
