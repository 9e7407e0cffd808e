/**
 * Role checks on /api (roles.ts describes the roles): who is acting on a request, read-only tokens
 * refused anything but reads, and routes that need a supervisor or an admin.
 */
import type { Request, RequestHandler } from 'express';
import { bearerToken, queryToken } from '../http/auth';
import { ApiError, sendError } from '../http/errors';
import { atLeast, entryOf, type ApiTokenEntry, type Role } from './roles';

/** Who is acting: their role and name (the API is open when no token is configured). */
export interface Actor {
  role: Role;
  name: string;
}

/**
 * The actor of a request that requireApiToken already let through: the header token's entry, else
 * the SSE stream's `?access_token=`; an open API (no entries) makes everyone admin. A request that
 * came in on a signed recording URL carries no token: it gets read-only.
 */
export function actorOf(req: Request, entries: readonly ApiTokenEntry[]): Actor {
  if (entries.length === 0) return { role: 'admin', name: 'open-api' };
  const token = bearerToken(req.headers.authorization) ?? queryToken(req.query);
  const entry = token === undefined ? undefined : entryOf(token, entries);
  return entry ? { role: entry.role, name: entry.name } : { role: 'read-only', name: 'signed-url' };
}

const isRead = (req: Request): boolean => req.method === 'GET' || req.method === 'HEAD';

/**
 * Mounted on /api right after the token check: a read-only token may read (GET/HEAD) and do
 * nothing else, whatever the route (403 `forbidden`).
 */
export function refuseReadOnlyWrites(entries: readonly ApiTokenEntry[]): RequestHandler {
  return (req, res, next) => {
    if (entries.length === 0 || isRead(req) || req.method === 'OPTIONS') {
      next();
      return;
    }
    if (actorOf(req, entries).role === 'read-only') {
      sendError(res, new ApiError('forbidden', 'this token is read-only: it can watch calls but not act on them'));
      return;
    }
    next();
  };
}

/** A route needing at least `min` (403 `forbidden` otherwise); stores the actor in res.locals.actor. */
export function requireRole(min: Role, entries: readonly ApiTokenEntry[]): RequestHandler {
  return (req, res, next) => {
    const actor = actorOf(req, entries);
    if (!atLeast(actor.role, min)) {
      sendError(res, new ApiError('forbidden', `this action needs a ${min} token (this one is ${actor.role})`));
      return;
    }
    res.locals.actor = actor;
    next();
  };
}
