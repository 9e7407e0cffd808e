/**
 * Reading the fields of a provider's webhook (src/http/webhook-lane.ts): a form field or query
 * parameter is taken only as one non-empty string, cut to a bound; anything else (missing, repeated,
 * empty) counts as absent, and a required one absent is a 400 naming it.
 */
import { ApiError } from './errors';
import type { WebhookReply } from './webhook-lane';

/** The value when it is a non-empty string, cut to `max` characters; null otherwise. */
export function str(value: unknown, max = 256): string | null {
  return typeof value === 'string' && value.length > 0 ? value.slice(0, max) : null;
}

/** `str` of a required field: 400 `invalid_body` naming the field when it is absent. */
export function required(body: Record<string, unknown>, field: string, max: number, message = 'is required'): string {
  const value = str(body[field], max);
  if (!value) throw new ApiError('invalid_body', `${field}: ${message}`, field);
  return value;
}

/** A query parameter given exactly once (a repeated one is refused like a missing one). */
export function once(query: URLSearchParams, name: string): string | undefined {
  const all = query.getAll(name);
  return all.length === 1 ? all[0] : undefined;
}

/** A TwiML or TeXML answer. */
export const xmlReply = (body: string): WebhookReply => ({ contentType: 'text/xml; charset=utf-8', body });
