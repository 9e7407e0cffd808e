/**
 * Parsing of query strings, path parameters and bodies. Every helper either returns a typed value or
 * throws `ApiError.invalid(field, ...)`, so a bad request is a 400 naming the field, never a 500.
 * Express's query parser can hand over arrays (`?limit=1&limit=2`) and objects; they are refused.
 */
import { CALL_STATUSES, type CallStatus } from '../calls/call-status';
import { ApiError } from './errors';

export type Query = Record<string, unknown>;

export const DEFAULT_PAGE_LIMIT = 20;
export const MAX_PAGE_LIMIT = 100;
export const MAX_NOTES_LENGTH = 10_000;
export const MAX_QUERY_TEXT_LENGTH = 200;
export const MAX_FILTER_TEXT_LENGTH = 100;
export const SENTIMENTS = ['positive', 'neutral', 'negative'] as const;
export type Sentiment = (typeof SENTIMENTS)[number];
export const INTERVALS = ['hour', 'day', 'week'] as const;
export type Interval = (typeof INTERVALS)[number];

/** A single string value of a query parameter, or undefined when absent or empty. */
export function optionalString(query: Query, field: string, maxLength = MAX_FILTER_TEXT_LENGTH): string | undefined {
  const value = query[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw ApiError.invalid(field, 'must be given once, as a plain value');
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (trimmed.length > maxLength) throw ApiError.invalid(field, `must be at most ${maxLength} characters`);
  return trimmed;
}

/** A whole number within [min, max]; `default` when absent. */
export function integerParam(
  query: Query,
  field: string,
  options: { min: number; max: number; default: number },
): number {
  const raw = optionalString(query, field, 20);
  if (raw === undefined) return options.default;
  if (!/^-?\d+$/.test(raw)) throw ApiError.invalid(field, 'must be a whole number');
  const value = Number(raw);
  if (value < options.min) throw ApiError.invalid(field, `must be at least ${options.min}`);
  if (value > options.max) throw ApiError.invalid(field, `must be at most ${options.max}`);
  return value;
}

/** One of `choices`; undefined when absent. */
export function enumParam<T extends string>(query: Query, field: string, choices: readonly T[]): T | undefined {
  const raw = optionalString(query, field);
  if (raw === undefined) return undefined;
  if (!(choices as readonly string[]).includes(raw))
    throw ApiError.invalid(field, `must be one of ${choices.join(', ')}`);
  return raw as T;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
const DAY_MS = 86_400_000;

/**
 * An ISO-8601 date (`2026-11-01`, UTC) or date-time with a zone (`2026-11-01T10:00:00Z`,
 * `...+01:00`). With `endOfDay`, a date-only value means the end of that UTC day, so
 * `endDate=2026-11-30` includes the whole of November 30.
 */
export function dateParam(query: Query, field: string, options: { endOfDay?: boolean } = {}): Date | undefined {
  const raw = optionalString(query, field, 40);
  if (raw === undefined) return undefined;
  const dateOnly = ISO_DATE.test(raw);
  if (!dateOnly && !ISO_DATE_TIME.test(raw))
    throw ApiError.invalid(
      field,
      'must be an ISO-8601 date (2026-11-01) or date-time with a zone (2026-11-01T10:00:00Z)',
    );
  // Date.parse rolls 2026-02-31 over to March: check the calendar day first.
  if (!validCalendarDay(raw.slice(0, 10))) throw ApiError.invalid(field, 'is not a valid calendar date');
  const ms = Date.parse(dateOnly ? `${raw}T00:00:00.000Z` : raw);
  if (!Number.isFinite(ms)) throw ApiError.invalid(field, 'is not a valid date-time');
  return new Date(dateOnly && options.endOfDay ? ms + DAY_MS - 1 : ms);
}

function validCalendarDay(day: string): boolean {
  const ms = Date.parse(`${day}T00:00:00.000Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === day;
}

/** startDate / endDate, checking that the range is not reversed. */
export function dateRange(query: Query): { startDate?: Date; endDate?: Date } {
  const startDate = dateParam(query, 'startDate');
  const endDate = dateParam(query, 'endDate', { endOfDay: true });
  if (startDate && endDate && endDate.getTime() < startDate.getTime())
    throw ApiError.invalid('endDate', 'must not be before startDate');
  return { startDate, endDate };
}

export function statusParam(query: Query): CallStatus | undefined {
  return enumParam(query, 'status', CALL_STATUSES);
}

/** Call ids are cuids; anything else (`../x`, very long, odd characters) is refused before any lookup. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function idParam(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value))
    throw ApiError.invalid(field, 'must be 1-64 letters, digits, "-" or "_"');
  return value;
}

/** A boolean query flag: true/1/yes or false/0/no; `fallback` when absent. */
export function booleanParam(query: Query, field: string, fallback = false): boolean {
  const raw = optionalString(query, field, 10)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw ApiError.invalid(field, 'must be true or false');
}

/** Body of POST /api/calls/:id/notes. */
export function notesBody(body: unknown): string {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new ApiError('invalid_body', 'body must be a JSON object {"notes": string}');
  const notes = (body as Record<string, unknown>).notes;
  if (typeof notes !== 'string') throw ApiError.invalid('notes', 'must be a string');
  if (notes.length > MAX_NOTES_LENGTH)
    throw ApiError.invalid('notes', `must be at most ${MAX_NOTES_LENGTH} characters`);
  return notes;
}
