/**
 * Who may open an app WebSocket, decided in the upgrade, before the socket opens:
 * - an API token (API_TOKENS) in `Authorization: Bearer <token>` (never in the URL: URLs end up in
 *   logs and proxies), or
 * - a short-lived, single-use session token minted by `POST /api/web-calls` for a public website
 *   (bound to an agent profile and an expiry), in the header or, since a browser's WebSocket cannot
 *   set headers, as `?session_token=`. It is spent by the upgrade that presents it.
 * With no API_TOKENS configured the endpoints are open (local development), like the API.
 * The session tokens are the web-call channel's (src/channels/webrtc/session-token.ts): one
 * instance is shared, so a token spent here cannot be spent there too.
 */
import { mayStartCalls, type ApiTokenEntry } from '../../supervision/roles';
import type { IncomingMessage } from 'node:http';
import { bearerToken, tokenMatches } from '../../http/auth';

export const SESSION_TOKEN_QUERY = 'session_token';
/** Session tokens start with this (an API token never does: see isSessionToken in the web-call channel). */
const SESSION_TOKEN_PREFIX = 'wcs1.';

export interface SessionClaimsLike {
  profile: string;
  languageHint?: string;
  expiresAt: number;
  nonce: string;
}

/** The part of the web-call channel's SessionTokens this channel uses. */
export interface SessionTokenVerifier {
  verify(token: string): SessionClaimsLike | 'malformed' | 'forged' | 'expired' | 'replayed';
  spend(claims: SessionClaimsLike): 'ok' | 'replayed' | 'full';
}

export type AppWsAuth =
  | { ok: true; kind: 'api-token' | 'session-token' | 'open'; profile?: string; languageHint?: string }
  | { ok: false; status: number; reason: string; message: string };

function deny(status: number, reason: string, message: string): AppWsAuth {
  return { ok: false, status, reason, message };
}

export function authenticateUpgrade(
  req: IncomingMessage,
  pathAndQuery: string,
  apiTokens: readonly string[],
  sessions: SessionTokenVerifier | undefined,
  /** The tokens' roles: a read-only token may not start a conversation (403). */
  apiTokenEntries: readonly ApiTokenEntry[] = [],
): AppWsAuth {
  const header = bearerToken(req.headers.authorization);
  const q = pathAndQuery.indexOf('?');
  const query = new URLSearchParams(q === -1 ? '' : pathAndQuery.slice(q + 1));
  const fromQuery = query.getAll(SESSION_TOKEN_QUERY);
  if (query.has('access_token') || query.has('token')) {
    return deny(401, 'token-in-url', 'send the API token in the Authorization header, never in the URL');
  }
  if (fromQuery.length > 1) return deny(401, 'session-malformed', 'one session_token only');
  if (fromQuery.length === 1 && header !== undefined) {
    return deny(401, 'ambiguous', 'send either an Authorization header or a session_token, not both');
  }
  const credential = header ?? fromQuery[0];
  if (credential !== undefined && credential.startsWith(SESSION_TOKEN_PREFIX)) {
    if (!sessions) return deny(401, 'session-unsupported', 'session tokens are not enabled on this server');
    const claims = sessions.verify(credential);
    if (typeof claims === 'string') {
      return deny(401, `session-${claims}`, `session token ${claims}; mint a new one with POST /api/web-calls`);
    }
    const spent = sessions.spend(claims);
    if (spent === 'replayed') return deny(401, 'session-replayed', 'session token already used; mint a new one');
    if (spent === 'full') return deny(503, 'busy', 'too many sessions at once; try again shortly');
    return { ok: true, kind: 'session-token', profile: claims.profile, languageHint: claims.languageHint };
  }
  if (fromQuery.length === 1) {
    return deny(401, 'token-in-url', 'only a session token may travel in the URL; send the API token as a header');
  }
  if (apiTokens.length === 0) return { ok: true, kind: 'open' };
  if (credential === undefined) {
    return deny(401, 'missing', 'send an API token (Authorization: Bearer <token>) or a session_token');
  }
  if (!tokenMatches(credential, apiTokens)) return deny(401, 'wrong-token', 'invalid API token');
  if (apiTokenEntries.length > 0 && !mayStartCalls(credential, apiTokenEntries)) {
    return deny(403, 'read-only', 'this token is read-only: it can watch calls but not start them');
  }
  return { ok: true, kind: 'api-token' };
}
