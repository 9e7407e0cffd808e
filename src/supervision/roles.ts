/**
 * Roles of API tokens. An API_TOKENS entry is one of:
 *   <token>                      full access (admin), the format every earlier release used
 *   <role>:<token>               read-only | supervisor | admin
 *   <role>:<name>:<token>        the same, with a name shown on the call's timeline (who listened, whispered)
 * A role-prefixed entry whose remainder holds a colon is always read as name:token (names are
 * 1-32 of A-Z a-z 0-9 _ . -). Tokens stay at least 16 characters.
 *
 * read-only: every GET (calls, recordings, analytics, live status) and nothing that acts.
 * supervisor: read-only plus supervising live calls (whisper, listen, take over), notes.
 * admin: everything (outbound calls, messages, alert rules, webhook subscriptions).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export const ROLES = ['read-only', 'supervisor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { 'read-only': 0, supervisor: 1, admin: 2 };
const NAME = /^[A-Za-z0-9_.-]{1,32}$/;
export const MIN_TOKEN_LENGTH = 16;

export interface ApiTokenEntry {
  token: string;
  role: Role;
  /** Shown on timelines; a short fingerprint of the token when the entry names nobody. */
  name: string;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** A label for a token that never reveals it: the role and 8 hex characters of its SHA-256. */
export function fingerprint(role: Role, token: string): string {
  return `${role}-${digest(token).toString('hex').slice(0, 8)}`;
}

/** One API_TOKENS entry; throws an Error naming what is wrong (without echoing the token). */
export function parseTokenEntry(entry: string): ApiTokenEntry {
  const colon = entry.indexOf(':');
  const prefix = colon > 0 ? entry.slice(0, colon) : '';
  if (!(ROLES as readonly string[]).includes(prefix)) {
    if (entry.length < MIN_TOKEN_LENGTH) throw new Error(`each token must be at least ${MIN_TOKEN_LENGTH} characters`);
    return { token: entry, role: 'admin', name: fingerprint('admin', entry) };
  }
  const role = prefix as Role;
  let rest = entry.slice(colon + 1);
  let name: string | undefined;
  const second = rest.indexOf(':');
  if (second >= 0) {
    name = rest.slice(0, second);
    rest = rest.slice(second + 1);
    if (!NAME.test(name)) throw new Error(`a token's name must be 1-32 of A-Z a-z 0-9 _ . - (in a ${role} entry)`);
  }
  if (rest.length < MIN_TOKEN_LENGTH)
    throw new Error(`each token must be at least ${MIN_TOKEN_LENGTH} characters (in a ${role} entry)`);
  return { token: rest, role, name: name ?? fingerprint(role, rest) };
}

export function parseTokenEntries(entries: readonly string[]): ApiTokenEntry[] {
  return entries.map(parseTokenEntry);
}

/** The entry of `candidate`, compared in constant time against every entry. */
export function entryOf(candidate: string, entries: readonly ApiTokenEntry[]): ApiTokenEntry | undefined {
  const c = digest(candidate);
  let found: ApiTokenEntry | undefined;
  for (const e of entries) if (timingSafeEqual(c, digest(e.token)) && !found) found = e;
  return found;
}

/**
 * True when `token` may start conversations (web calls, app sockets): any configured role but
 * read-only. With no entries configured the API is open and everyone may.
 */
export function mayStartCalls(token: string, entries: readonly ApiTokenEntry[]): boolean {
  if (entries.length === 0) return true;
  const entry = entryOf(token, entries);
  return entry !== undefined && entry.role !== 'read-only';
}

export function atLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}
