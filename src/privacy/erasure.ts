/**
 * Erasure (GDPR art. 17): a call's recording files, transcripts, timeline, analytics and metadata are
 * deleted, and its row is kept as a tombstone without personal data (numbers, SIDs and notes
 * cleared, `erasedAt` set), so counts and audit references still resolve. Erasure by number does it
 * for every call from or to that number. Calls on legal hold and calls in progress are left alone
 * (and reported).
 *
 * SQLite keeps deleted bytes in free pages and in the WAL: the connection that erases runs with
 * `secure_delete` (freed content is zeroed), the transcript search index is merged afterwards (its
 * old segments held the words) and the WAL is checkpointed and truncated, so the data is gone from
 * the files, not only from the tables. On PostgreSQL none of that applies: the search words live
 * in the deleted rows' own "searchVector" column, and their dead tuples are reclaimed by autovacuum.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { dialectOf } from '../db/dialect';
import type { Db } from '../db/prisma';
import type { Logger } from '../logging/logger';
import type { RecordingStorage } from '../recordings/storage';

export type EraseOutcome =
  | { status: 'erased'; files: number }
  | { status: 'not_found' }
  | { status: 'active' }
  | { status: 'held' }
  | { status: 'already_erased' };

export interface EraseNumberReport {
  calls: number;
  files: number;
  held: number;
  active: number;
}

export interface ErasureDeps {
  db: Db;
  recordingsDir: string;
  /** Where recordings live (local disk, S3): delete() removes every copy. Default: the local file only. */
  recordings?: Pick<RecordingStorage, 'delete'>;
  logger: Logger;
  /** True while the call is in progress (its rows are still being written). */
  isActive(callId: string): boolean;
}

/** E.164: + and 7 to 15 digits. */
export const E164 = /^\+[1-9]\d{6,14}$/;

export class CallErasure {
  private secureDeleteOn = false;

  constructor(private readonly deps: ErasureDeps) {}

  async eraseCall(callId: string): Promise<EraseOutcome> {
    const outcome = await this.eraseOne(callId);
    if (outcome.status === 'erased') await this.scrubFiles();
    return outcome;
  }

  async eraseNumber(number: string): Promise<EraseNumberReport> {
    const calls = await this.deps.db.call.findMany({
      where: { OR: [{ from: number }, { to: number }] },
      select: { id: true },
    });
    const report: EraseNumberReport = { calls: 0, files: 0, held: 0, active: 0 };
    for (const { id } of calls) {
      const outcome = await this.eraseOne(id);
      if (outcome.status === 'erased') {
        report.calls++;
        report.files += outcome.files;
      } else if (outcome.status === 'held') report.held++;
      else if (outcome.status === 'active') report.active++;
    }
    if (report.calls > 0) await this.scrubFiles();
    return report;
  }

  private async eraseOne(callId: string): Promise<EraseOutcome> {
    const { db } = this.deps;
    const call = await db.call.findUnique({ where: { id: callId }, include: { recordings: true } });
    if (!call) return { status: 'not_found' };
    if (call.erasedAt) return { status: 'already_erased' };
    if (this.deps.isActive(callId)) return { status: 'active' };
    if (call.legalHold) return { status: 'held' };
    await this.ensureSecureDelete();
    let files = 0;
    for (const rec of call.recordings) {
      // S3 unreachable: delete() throws and the erasure fails before its rows go (it can be re-run).
      const removed = this.deps.recordings
        ? await this.deps.recordings.delete(rec.path)
        : await removeInside(this.deps.recordingsDir, rec.path);
      if (removed) files++;
    }
    await withBusyRetry(() =>
      db.$transaction([
        db.transcript.deleteMany({ where: { callId } }),
        db.recording.deleteMany({ where: { callId } }),
        db.analytics.deleteMany({ where: { callId } }),
        db.callMetadata.deleteMany({ where: { callId } }),
        db.callEvent.deleteMany({ where: { callId } }),
        db.call.update({
          where: { id: callId },
          data: {
            from: null,
            to: null,
            callSid: null,
            accountSid: null,
            streamSid: null,
            notes: null,
            erasedAt: new Date(),
          },
        }),
      ]),
    );
    this.deps.logger.info('call erased', { callId, files });
    return { status: 'erased', files };
  }

  private async ensureSecureDelete(): Promise<void> {
    if (this.secureDeleteOn || dialectOf(this.deps.db) !== 'sqlite') return;
    await this.deps.db.$queryRawUnsafe('PRAGMA secure_delete = ON');
    this.secureDeleteOn = true;
  }

  /** Merges the search index (dropping deleted words) and truncates the WAL. Best effort: logged. */
  private async scrubFiles(): Promise<void> {
    const { db, logger } = this.deps;
    if (dialectOf(db) !== 'sqlite') return;
    try {
      await db.$executeRawUnsafe(`INSERT INTO "transcript_fts" ("transcript_fts") VALUES ('optimize')`);
    } catch (err) {
      logger.warn('could not merge the transcript search index after an erasure', { error: (err as Error).message });
    }
    try {
      const rows = await db.$queryRawUnsafe<Array<{ busy: number | bigint }>>('PRAGMA wal_checkpoint(TRUNCATE)');
      if (rows[0] && Number(rows[0].busy) !== 0)
        logger.warn('the WAL could not be truncated after an erasure (readers busy); the next checkpoint will');
    } catch (err) {
      logger.warn('could not checkpoint the WAL after an erasure', { error: (err as Error).message });
    }
  }
}

/** The writer thread may hold the database for a moment: retry a busy transaction a few times. */
export async function withBusyRetry<T>(fn: () => Promise<T>, attempts = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !/busy|locked/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 50 * i));
    }
  }
}

/** Deletes a file given relative to dir, only if it resolves inside dir. */
export async function removeInside(dir: string, relative: string): Promise<boolean> {
  const root = path.resolve(dir);
  const file = path.resolve(root, relative);
  if (!file.startsWith(root + path.sep)) return false;
  try {
    await rm(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
