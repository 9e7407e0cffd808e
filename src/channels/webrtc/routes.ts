/**
 * Web calls over WebRTC:
 * - `POST /api/web-calls` (API token): mints a short-lived, single-use session token bound to an
 *   agent profile, for a website's page that must not hold the API token.
 * - `POST /api/web-calls/offer` (API token or session token): SDP offer in, SDP answer out; the
 *   call starts at once and its audio flows over the peer connection.
 * - `GET /api/web-calls/profiles` (API token): the agent profiles the dashboard's softphone offers.
 * Mounted by app.ts under /api/web-calls in front of the API's token check (it does its own), behind
 * the API's rate limit. Routes are case-sensitive and strict: other spellings fall through to the
 * token-checked API (401 or 404).
 */
import { mayStartCalls, type ApiTokenEntry } from '../../supervision/roles';
import { randomBytes } from 'node:crypto';
import express, { Router, type Request } from 'express';
import { PCM16_48K } from '../../conversation/audio-format';
import type { ChannelStart } from '../../conversation/channel';
import { bearerToken, tokenMatches } from '../../http/auth';
import { ApiError } from '../../http/errors';
import type { Logger } from '../../logging/logger';
import { answerOffer, MAX_SDP_CHARS, OfferError, offerProblem, type AnswerOptions } from './peer';
import {
  DEFAULT_SESSION_TTL_SEC,
  isSessionToken,
  MAX_SESSION_TTL_SEC,
  MIN_SESSION_TTL_SEC,
  type SessionClaims,
  type SessionTokens,
} from './session-token';
import type { WebRtcChannel } from './webrtc-channel';

/** Largest request body (an SDP offer is at most MAX_SDP_CHARS). */
export const MAX_WEB_CALL_BODY_BYTES = 32 * 1024;
export const DEFAULT_MAX_WEB_CALLS = 50;
/** Offers being negotiated at once (each holds a native peer connection while it gathers). */
export const MAX_PENDING_OFFERS = 8;
export const LANGUAGE_HINT_PATTERN = /^(auto|[a-z]{2,3}(-[A-Za-z0-9]{2,8})?)$/;

export interface WebCallInfo {
  profile: string | undefined;
  languageHint: string | undefined;
  /** How the offer was authenticated. */
  auth: 'api-token' | 'session-token' | 'open';
}

/** Starts a call over the channel (the call core); resolves with the call's id. */
export type WebCallStarter = (
  channel: WebRtcChannel,
  start: ChannelStart,
  info: WebCallInfo,
) => Promise<{ callId: string }>;

/** Why a web-call request was refused (counted by reason; /metrics lists every one, 0 included). */
export const WEB_CALL_REFUSALS = [
  'unauthorized',
  'session-malformed',
  'session-forged',
  'session-expired',
  'session-replayed',
  'bad-offer',
  'busy',
  'draining',
  'start-failed',
] as const;
export type WebCallRefusal = (typeof WEB_CALL_REFUSALS)[number];

export interface WebCallsDeps {
  apiTokens: readonly string[];
  /** The tokens' roles: a read-only token lists profiles but starts nothing (403). */
  apiTokenEntries?: readonly ApiTokenEntry[];
  sessions: SessionTokens;
  /** True when a profile of this name exists. */
  hasProfile: (name: string) => boolean;
  /** The agent profiles a softphone may pick (GET /api/web-calls/profiles, API token only). */
  listProfiles?: () => { name: string; engine: string; default: boolean; echoDelayMs?: number }[];
  startCall: WebCallStarter;
  logger: Logger;
  maxCalls?: number;
  draining?: () => boolean;
  peer?: AnswerOptions;
}

export interface WebCallsRouter extends Router {
  /** Live web-call channels (a supervisor's take-over softphone counts too: supervision-routes.ts). */
  readonly active: Set<WebRtcChannel>;
  /** At most this many live web calls (WEBRTC_MAX_CALLS). */
  readonly maxCalls: number;
  readonly refusals: Partial<Record<WebCallRefusal, number>>;
  /** Ends every live web call (shutdown). */
  closeAll(reason: string): void;
}

function optionalString(body: Record<string, unknown>, field: string, max: number): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max)
    throw ApiError.invalid(field, `must be a string of 1 to ${max} characters`);
  return value;
}

function languageHintOf(body: Record<string, unknown>): string | undefined {
  const hint = optionalString(body, 'languageHint', 16);
  if (hint !== undefined && !LANGUAGE_HINT_PATTERN.test(hint))
    throw ApiError.invalid('languageHint', 'must be "auto" or an ISO 639 language code such as "en" or "pt-BR"');
  return hint;
}

function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiError('invalid_body', 'send a JSON object with Content-Type: application/json');
  return body as Record<string, unknown>;
}

export function createWebCallsRouter(deps: WebCallsDeps): WebCallsRouter {
  const router = Router({ caseSensitive: true, strict: true }) as WebCallsRouter;
  const active = new Set<WebRtcChannel>();
  const refusals: Partial<Record<WebCallRefusal, number>> = {};
  const maxCalls = deps.maxCalls ?? DEFAULT_MAX_WEB_CALLS;
  let pending = 0;
  Object.assign(router, {
    active,
    maxCalls,
    refusals,
    closeAll(reason: string) {
      for (const channel of [...active]) channel.end(reason);
    },
  });

  const refuse = (why: WebCallRefusal, error: ApiError): ApiError => {
    refusals[why] = (refusals[why] ?? 0) + 1;
    deps.logger.warn('web call refused', { reason: why });
    return error;
  };

  const unauthorized = (why: WebCallRefusal, message: string): ApiError =>
    refuse(why, new ApiError('unauthorized', message));

  /** The API token check (open when no tokens are configured). */
  const apiTokenOk = (req: Request): boolean => {
    if (deps.apiTokens.length === 0) return true;
    const token = bearerToken(req.headers.authorization);
    return token !== undefined && !isSessionToken(token) && tokenMatches(token, deps.apiTokens);
  };

  /** A valid API token that is read-only may look (profiles) but not start a call or mint a session. */
  const refuseReadOnly = (req: Request): void => {
    const token = bearerToken(req.headers.authorization);
    if (deps.apiTokens.length === 0 || token === undefined || isSessionToken(token)) return;
    if (!mayStartCalls(token, deps.apiTokenEntries ?? []) && (deps.apiTokenEntries ?? []).length > 0)
      throw refuse(
        'unauthorized',
        new ApiError('forbidden', 'this token is read-only: it can watch calls but not start them'),
      );
  };

  router.use(express.json({ limit: MAX_WEB_CALL_BODY_BYTES }));

  router.get('/profiles', (req, res) => {
    if (!apiTokenOk(req))
      throw unauthorized('unauthorized', 'listing profiles needs an API token (Authorization: Bearer <token>)');
    res.json({ profiles: deps.listProfiles?.() ?? [] });
  });

  router.post('/', (req, res) => {
    if (!apiTokenOk(req))
      throw unauthorized('unauthorized', 'minting a session token needs an API token (Authorization: Bearer <token>)');
    refuseReadOnly(req);
    const body = bodyOf(req);
    const profile = optionalString(body, 'profile', 64) ?? 'default';
    if (!deps.hasProfile(profile)) throw ApiError.invalid('profile', `no agent profile named "${profile}"`);
    const ttl = body.ttlSec ?? DEFAULT_SESSION_TTL_SEC;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < MIN_SESSION_TTL_SEC || ttl > MAX_SESSION_TTL_SEC)
      throw ApiError.invalid('ttlSec', `must be an integer from ${MIN_SESSION_TTL_SEC} to ${MAX_SESSION_TTL_SEC}`);
    const languageHint = languageHintOf(body);
    const { token, expiresAt } = deps.sessions.mint(profile, ttl, languageHint);
    res.status(201).json({
      token,
      profile,
      ...(languageHint ? { languageHint } : {}),
      expiresAt: new Date(expiresAt * 1000).toISOString(),
      offerUrl: `${req.baseUrl}/offer`,
    });
  });

  router.post('/offer', async (req, res) => {
    const credential = bearerToken(req.headers.authorization);
    let claims: SessionClaims | undefined;
    let auth: WebCallInfo['auth'] = deps.apiTokens.length === 0 ? 'open' : 'api-token';
    if (credential !== undefined && isSessionToken(credential)) {
      const verified = deps.sessions.verify(credential);
      if (typeof verified === 'string')
        throw unauthorized(`session-${verified}`, `session token ${verified}; mint a new one with POST /api/web-calls`);
      claims = verified;
      auth = 'session-token';
    } else if (!apiTokenOk(req)) {
      throw unauthorized('unauthorized', 'send an API token or a session token (Authorization: Bearer <token>)');
    } else {
      refuseReadOnly(req);
    }
    const body = bodyOf(req);
    if (body.type !== undefined && body.type !== 'offer') throw ApiError.invalid('type', 'must be "offer"');
    const problem = offerProblem(body.sdp);
    if (problem) {
      refusals['bad-offer'] = (refusals['bad-offer'] ?? 0) + 1;
      if (typeof body.sdp === 'string' && body.sdp.length > MAX_SDP_CHARS)
        throw new ApiError('payload_too_large', `sdp: ${problem}`, 'sdp');
      throw ApiError.invalid('sdp', problem);
    }
    // A session token fixes the profile; only an API token's caller may pick one.
    const askedProfile = optionalString(body, 'profile', 64);
    if (claims && askedProfile !== undefined && askedProfile !== claims.profile)
      throw refuse(
        'unauthorized',
        new ApiError('forbidden', 'profile: this session token is bound to another profile'),
      );
    const profile = claims?.profile ?? askedProfile;
    if (profile !== undefined && !deps.hasProfile(profile))
      throw ApiError.invalid('profile', `no agent profile named "${profile}"`);
    const languageHint = languageHintOf(body) ?? claims?.languageHint;

    if (deps.draining?.())
      throw refuse('draining', new ApiError('unavailable', 'the server is shutting down; try again shortly'));
    // Offers still negotiating count against the cap: checked against answered calls alone, a flood
    // of simultaneous offers would all pass while the first ones gather, and overshoot it.
    if (active.size + pending >= maxCalls || pending >= MAX_PENDING_OFFERS) {
      res.setHeader('Retry-After', '5');
      throw refuse('busy', new ApiError('unavailable', 'too many web calls at once; try again shortly'));
    }
    if (claims) {
      const spent = deps.sessions.spend(claims);
      if (spent === 'replayed') throw unauthorized('session-replayed', 'session token already used; mint a new one');
      if (spent === 'full')
        throw refuse('busy', new ApiError('unavailable', 'too many web calls at once; try again shortly'));
    }

    pending++;
    let channel: WebRtcChannel;
    let sdp: string;
    try {
      ({ channel, sdp } = await answerOffer(body.sdp as string, {
        ...deps.peer,
        onClose: () => active.delete(channel),
      }));
    } catch (err) {
      if (err instanceof OfferError) {
        refusals['bad-offer'] = (refusals['bad-offer'] ?? 0) + 1;
        throw ApiError.invalid('sdp', err.message.replace(/^sdp /, ''));
      }
      throw err;
    } finally {
      pending--;
    }
    active.add(channel);
    const start: ChannelStart = {
      provider: 'webrtc',
      streamId: `WR${randomBytes(16).toString('hex')}`,
      from: 'web',
      ...(profile ? { to: profile } : {}),
      parameters: { ...(profile ? { profile } : {}), ...(languageHint ? { languageHint } : {}) },
      format: PCM16_48K,
    };
    let callId: string;
    try {
      ({ callId } = await deps.startCall(channel, start, { profile, languageHint, auth }));
    } catch (err) {
      channel.end('start-failed');
      deps.logger.warn('web call could not start', { error: (err as Error).message });
      throw refuse('start-failed', new ApiError('unavailable', 'the call could not be started; try again shortly'));
    }
    channel.begin();
    deps.logger.info('web call answered', { callId, streamId: start.streamId, auth });
    res.json({ callId, type: 'answer', sdp });
  });

  return router;
}
