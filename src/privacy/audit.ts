/**
 * The access audit: who (the API token's name and role, never the token) listed, read, listened to,
 * downloaded, exported or deleted which call data, and when. Rows go to the append-only AuditEntry
 * table (triggers refuse UPDATE and DELETE). Reads are batched (one insert per flush, every
 * `flushMs`); erasure and export are written before they are answered (`recordNow`). Rows are
 * written by the call store (the writer thread), so an API read never runs a database query (nor
 * loads Prisma's query compiler, a ~136 ms stall the first time) on the thread that carries the audio.
 *
 * The middleware names each /api request by its route; a player's many Range requests for one
 * recording count once per actor and call per minute.
 */
import type { Request, RequestHandler } from 'express';
import type { CallStore } from '../db/call-repository';
import type { Logger } from '../logging/logger';
import { actorOf } from '../supervision/role-guard';
import type { ApiTokenEntry } from '../supervision/roles';
import { withBusyRetry } from './erasure';

export const AUDIT_ACTIONS = [
  'list',
  'read',
  'listen',
  'download',
  'export',
  'delete',
  'erase',
  'hold',
  'release',
  'audit-read',
  'watch',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditRecord {
  actor: string;
  role: string;
  action: AuditAction;
  /** A call id, or a masked phone number (never a whole one). */
  target?: string | null;
  detail?: Record<string, unknown>;
  ip?: string | null;
}

/** Keeps the last two digits of a phone number: `+*********42`. */
export function maskNumber(number: string): string {
  return number.replace(/\d(?=\d{2})/g, '*');
}

const REPEAT_WINDOW_MS = 60_000;
const MAX_BUFFERED = 10_000;

export class AuditLog {
  private buffer: Array<AuditRecord & { at: Date }> = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly recent = new Map<string, number>();
  /** Entries that could not be written (logged; counted for tests and /metrics). */
  lost = 0;

  constructor(
    private readonly store: Pick<CallStore, 'insertAuditEntries'>,
    private readonly logger: Logger,
    private readonly flushMs = 500,
  ) {}

  /** Queues an entry (written within flushMs). */
  record(entry: AuditRecord): void {
    if (this.buffer.length >= MAX_BUFFERED) {
      this.lost++;
      return;
    }
    this.buffer.push({ ...entry, at: new Date() });
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushMs);
    this.timer.unref();
  }

  /** Like record, but only once per actor, action and target within a minute (Range requests). */
  recordOnce(entry: AuditRecord): void {
    const key = `${entry.actor}\n${entry.action}\n${entry.target ?? ''}`;
    const now = Date.now();
    const last = this.recent.get(key);
    if (last !== undefined && now - last < REPEAT_WINDOW_MS) return;
    if (this.recent.size > 10_000) this.recent.clear();
    this.recent.set(key, now);
    this.record(entry);
  }

  /** Writes an entry before returning (erasure, export): the action is refused if it cannot be audited. */
  async recordNow(entry: AuditRecord): Promise<void> {
    const data = toRow({ ...entry, at: new Date() });
    await withBusyRetry(() => this.store.insertAuditEntries([data]));
  }

  /** Writes what is queued. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const rows = this.buffer.splice(0);
      if (rows.length === 0) return;
      try {
        await withBusyRetry(() => this.store.insertAuditEntries(rows.map(toRow)));
      } catch (err) {
        this.lost += rows.length;
        this.logger.error('audit entries could not be written', { count: rows.length, error: (err as Error).message });
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

function toRow(e: AuditRecord & { at: Date }): {
  at: Date;
  actor: string;
  role: string;
  action: string;
  target: string | null;
  detail: never;
  ip: string | null;
} {
  return {
    at: e.at,
    actor: e.actor,
    role: e.role,
    action: e.action,
    target: e.target ?? null,
    detail: (e.detail ?? undefined) as never,
    ip: e.ip ?? null,
  };
}

/** What a GET under /api is, for the audit (undefined: not call data). Paths as Express matches them. */
export function auditActionOf(req: Request): { action: AuditAction; target?: string; once?: boolean } | undefined {
  if (req.method !== 'GET' && req.method !== 'HEAD') return undefined;
  const p = req.path.replace(/\/+$/, '') || '/';
  let m: RegExpExecArray | null;
  if (/^\/calls$/i.test(p)) return { action: 'list' };
  if (/^\/status$/i.test(p)) return { action: 'watch', target: 'live', once: true };
  if (/^\/calls\/export\.csv$/i.test(p)) return { action: 'export' };
  if ((m = /^\/calls\/([^/]+)\/recording$/i.exec(p))) {
    const download = req.query.download === 'true' || req.query.download === '1';
    return { action: download ? 'download' : 'listen', target: safeDecode(m[1]), once: true };
  }
  if ((m = /^\/calls\/([^/]+)\/recording-url$/i.exec(p)))
    return { action: 'listen', target: safeDecode(m[1]), once: true };
  if ((m = /^\/calls\/([^/]+)$/i.exec(p))) return { action: 'read', target: safeDecode(m[1]) };
  return undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s).slice(0, 64);
  } catch {
    return s.slice(0, 64);
  }
}

/**
 * Mounted on /api after the token check: records each successful read of call data once the
 * response has been sent (the status is part of the entry's detail).
 */
export function auditReads(audit: AuditLog, tokens: readonly ApiTokenEntry[]): RequestHandler {
  return (req, res, next) => {
    const what = auditActionOf(req);
    if (!what) {
      next();
      return;
    }
    const actor = actorOf(req, tokens);
    if (what.action === 'watch') {
      // The live stream (SSE) lasts as long as the page is open: audited when it opens.
      audit.recordOnce({ actor: actor.name, role: actor.role, action: 'watch', target: 'live', ip: req.ip ?? null });
      next();
      return;
    }
    res.on('finish', () => {
      if (res.statusCode >= 400) return;
      const entry: AuditRecord = {
        actor: actor.name,
        role: actor.role,
        action: what.action,
        target: what.target ?? null,
        detail: {
          status: res.statusCode,
          ...(what.action === 'list' || what.action === 'export' ? { filters: filtersOf(req) } : {}),
        },
        ip: req.ip ?? null,
      };
      if (what.once) audit.recordOnce(entry);
      else audit.record(entry);
    });
    next();
  };
}

/** The list's filters, with a caller number masked. */
function filtersOf(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) {
    if (typeof v !== 'string' || k === 'access_token') continue;
    out[k] = k === 'caller' ? maskNumber(v).slice(0, 40) : v.slice(0, 200);
  }
  return out;
}
