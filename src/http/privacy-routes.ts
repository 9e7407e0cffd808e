/**
 * Data-protection routes (admin tokens only; src/privacy/):
 *   DELETE /api/calls/:id             erase one call (tombstone kept): `{ callId, erased, files }`
 *   PUT    /api/calls/:id/legal-hold  `{ "hold": true|false }`: retention and erasure leave it alone
 *   POST   /api/privacy/erasure       `{ "number": "+1…" }`: erase every call from or to the number
 *   POST   /api/privacy/export        `{ "number": "+1…" }`: a zip of everything stored about it
 *   GET    /api/audit                 the access audit, newest first (filters actor, action, target,
 *                                     startDate, endDate; limit, offset); GET /api/audit.csv the same
 * The number travels in a JSON body, never in a URL (URLs end up in logs). Every one of these is
 * audited before it is answered.
 */
import express, { Router, type Request, type Response } from 'express';
import { ApiError } from './errors';
import { dateRange, enumParam, idParam, integerParam, optionalString } from './validation';
import { requireRole, type Actor } from '../supervision/role-guard';
import type { ApiTokenEntry } from '../supervision/roles';
import type { Db } from '../db/prisma';
import type { Logger } from '../logging/logger';
import { AUDIT_ACTIONS, maskNumber, type AuditLog, type AuditRecord } from '../privacy/audit';
import { E164, type CallErasure } from '../privacy/erasure';
import { streamNumberExport, type ExportDeps } from '../privacy/export';
import { csvField } from './calls-routes';

export const PRIVACY_BODY_LIMIT = '4kb';
const AUDIT_CSV_COLUMNS = ['id', 'at', 'actor', 'role', 'action', 'target', 'ip', 'detail'] as const;

export interface PrivacyRoutesDeps {
  db: Db;
  tokens: readonly ApiTokenEntry[];
  audit: AuditLog;
  erasure: CallErasure;
  exports: ExportDeps;
  logger: Logger;
}

function numberBody(body: unknown): string {
  const number = (body as Record<string, unknown> | undefined)?.number;
  if (typeof number !== 'string' || !E164.test(number))
    throw ApiError.invalid('number', 'must be an E.164 phone number such as +15551234567');
  return number;
}

function entry(req: Request, res: Response, action: AuditRecord['action'], target: string, detail = {}): AuditRecord {
  const actor = res.locals.actor as Actor;
  return { actor: actor.name, role: actor.role, action, target, detail, ip: req.ip ?? null };
}

export function createPrivacyRouter(deps: PrivacyRoutesDeps): Router {
  const router = Router({ strict: false, caseSensitive: false });
  const admin = requireRole('admin', deps.tokens);
  const json = express.json({ limit: PRIVACY_BODY_LIMIT });
  const { audit, erasure, db } = deps;

  router.delete('/calls/:id', admin, async (req, res) => {
    const callId = idParam(req.params.id);
    const outcome = await erasure.eraseCall(callId);
    if (outcome.status === 'not_found') throw ApiError.notFound('call');
    if (outcome.status === 'active')
      throw new ApiError('conflict', 'the call is in progress; erase it once it has ended');
    if (outcome.status === 'held') throw new ApiError('conflict', 'the call is on legal hold; release the hold first');
    const files = outcome.status === 'erased' ? outcome.files : 0;
    await audit.recordNow(entry(req, res, 'delete', callId, { files, already: outcome.status === 'already_erased' }));
    res.json({ callId, erased: true, files });
  });

  router.put('/calls/:id/legal-hold', admin, json, async (req, res) => {
    const callId = idParam(req.params.id);
    const hold = (req.body as Record<string, unknown> | undefined)?.hold;
    if (typeof hold !== 'boolean') throw ApiError.invalid('hold', 'must be true or false');
    const found = await db.call.findUnique({ where: { id: callId }, select: { id: true, erasedAt: true } });
    if (!found || found.erasedAt) throw ApiError.notFound('call');
    await audit.recordNow(entry(req, res, hold ? 'hold' : 'release', callId));
    await db.call.update({ where: { id: callId }, data: { legalHold: hold } });
    res.json({ callId, legalHold: hold });
  });

  router.post('/privacy/erasure', admin, json, async (req, res) => {
    const number = numberBody(req.body);
    const report = await erasure.eraseNumber(number);
    await audit.recordNow(entry(req, res, 'erase', maskNumber(number), { ...report }));
    res.json(report);
  });

  router.post('/privacy/export', admin, json, async (req, res) => {
    const number = numberBody(req.body);
    // Audited before a byte leaves: an export that cannot be audited does not happen.
    await audit.recordNow(entry(req, res, 'export', maskNumber(number), { kind: 'subject-access' }));
    res.setHeader('Content-Type', 'application/zip');
    res.setHeader('Content-Disposition', 'attachment; filename="switchboard-export.zip"');
    res.setHeader('Cache-Control', 'no-store');
    try {
      await streamNumberExport(deps.exports, number, res);
    } catch (err) {
      deps.logger.error('export failed', { error: (err as Error).message });
      res.destroy();
    }
  });

  const auditQuery = (req: Request) => {
    const q = req.query as Record<string, unknown>;
    const { startDate, endDate } = dateRange(q);
    return {
      actor: optionalString(q, 'actor', 64),
      action: enumParam(q, 'action', AUDIT_ACTIONS),
      target: optionalString(q, 'target', 64),
      ...(startDate || endDate
        ? { at: { ...(startDate ? { gte: startDate } : {}), ...(endDate ? { lte: endDate } : {}) } }
        : {}),
    };
  };

  router.get('/audit', admin, async (req, res) => {
    const where = auditQuery(req);
    const q = req.query as Record<string, unknown>;
    const limit = integerParam(q, 'limit', { min: 1, max: 500, default: 100 });
    const offset = integerParam(q, 'offset', { min: 0, max: 1_000_000_000, default: 0 });
    await audit.flush();
    const [items, total] = await Promise.all([
      db.auditEntry.findMany({ where, orderBy: { id: 'desc' }, take: limit, skip: offset }),
      db.auditEntry.count({ where }),
    ]);
    audit.record(entry(req, res, 'audit-read', 'audit', { count: items.length }));
    res.json({ items, total, limit, offset });
  });

  router.get('/audit.csv', admin, async (req, res) => {
    const where = auditQuery(req);
    await audit.flush();
    res.setHeader('Content-Type', 'text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', 'attachment; filename="audit.csv"');
    res.write(`${AUDIT_CSV_COLUMNS.join(',')}\r\n`);
    let after = 0;
    for (;;) {
      const rows = await db.auditEntry.findMany({
        where: { ...where, id: { gt: after } },
        orderBy: { id: 'asc' },
        take: 1000,
      });
      for (const r of rows) {
        const values = [
          r.id,
          r.at.toISOString(),
          r.actor,
          r.role,
          r.action,
          r.target,
          r.ip,
          JSON.stringify(r.detail ?? null),
        ];
        res.write(`${values.map(csvField).join(',')}\r\n`);
      }
      if (rows.length < 1000) break;
      after = rows[rows.length - 1].id;
    }
    audit.record(entry(req, res, 'audit-read', 'audit', { format: 'csv' }));
    res.end();
  });

  return router;
}
