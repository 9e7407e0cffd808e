/**
 * Names and wire format of the cluster event stream (src/cluster/nats/bus.ts), kept apart so the
 * subjects, the stream name and the JSON round trip can be tested and read in one place.
 *
 * Subjects: `<prefix>.calls.<callId>.<eventType>` for an event of a call (e.g.
 * `switchboard.calls.CA12.call.updated`), `<prefix>.events.<eventType>` for one without a call.
 * Stream: `<PREFIX>_EVENTS` (upper case, characters a stream name cannot hold become `_`).
 * Payload: JSON `{ id, type, at, data }` (`id`: the publisher's local bus id); header `Sb-Origin`
 * carries the publishing instance. Dates of Prisma rows (a Call's startedAt…) travel as ISO strings
 * and are turned back into Date objects on arrival, so a remote event looks like a local one.
 */
import type { AnyBusEvent, BusEventType } from '../../events/event-bus';

export const ORIGIN_HEADER = 'Sb-Origin';

/** Fields of the rows carried in events (Call, Transcript, Analytics) that are Date objects. */
const DATE_FIELDS = new Set(['startedAt', 'answeredAt', 'endedAt', 'createdAt', 'updatedAt', 'erasedAt']);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** A NATS subject token must not hold `.`, `*`, `>` or white space; anything else passes unchanged. */
export function subjectToken(value: string): string {
  const token = value.replace(/[.*>\s]/g, '_');
  return token === '' ? '_' : token;
}

/** Checks NATS_PREFIX: dot-separated tokens without wildcards or white space. */
export function checkPrefix(prefix: string): string {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix))
    throw new Error(`NATS prefix "${prefix}" must be dot-separated tokens of letters, digits, _ and -`);
  return prefix;
}

export function streamName(prefix: string): string {
  return `${prefix.toUpperCase().replace(/[^A-Z0-9_-]/g, '_')}_EVENTS`;
}

/** The subjects the stream captures (only these: request/reply subjects under the prefix stay free). */
export function streamSubjects(prefix: string): string[] {
  return [`${prefix}.calls.>`, `${prefix}.events.>`];
}

/** The call an event belongs to, when it has one. */
export function callIdOf(event: AnyBusEvent): string | undefined {
  const data = event.data as { callId?: unknown; call?: { id?: unknown } };
  if (typeof data.callId === 'string') return data.callId;
  if (typeof data.call?.id === 'string') return data.call.id;
  return undefined;
}

export function subjectFor(prefix: string, event: AnyBusEvent): string {
  const callId = callIdOf(event);
  return callId === undefined
    ? `${prefix}.events.${event.type}`
    : `${prefix}.calls.${subjectToken(callId)}.${event.type}`;
}

export function encodeEvent(event: AnyBusEvent): string {
  return JSON.stringify({ id: event.id, type: event.type, at: event.at, data: event.data });
}

/** The event of a stream message; undefined when the payload is not one of ours. */
export function decodeEvent(payload: string): Pick<AnyBusEvent, 'id' | 'type' | 'at' | 'data'> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload, (key, value: unknown) =>
      DATE_FIELDS.has(key) && typeof value === 'string' && ISO_DATE.test(value) ? new Date(value) : value,
    );
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const e = parsed as { id?: unknown; type?: unknown; at?: unknown; data?: unknown };
  if (typeof e.type !== 'string' || typeof e.at !== 'string' || typeof e.data !== 'object' || e.data === null)
    return undefined;
  return {
    id: typeof e.id === 'number' ? e.id : 0,
    type: e.type as BusEventType,
    at: e.at,
    data: e.data,
  } as Pick<AnyBusEvent, 'id' | 'type' | 'at' | 'data'>;
}
