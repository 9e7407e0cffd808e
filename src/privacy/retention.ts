/**
 * Retention: per profile (PRIVACY_POLICY_FILE `retention`), recordings, transcripts (with the call's
 * timeline, which holds DTMF digits and tool arguments) and whole call rows older than their limit
 * are deleted by a job that runs at start and then every hour, and logs what it deleted. A call on
 * legal hold, a call in progress and an erased tombstone are left alone. Deletion runs with
 * `secure_delete` on SQLite, so the bytes leave the database file too (PostgreSQL: nothing to set).
 */
import path from 'node:path';
import { dialectOf } from '../db/dialect';
import type { Db } from '../db/prisma';
import type { Logger } from '../logging/logger';
import type { RecordingStorage } from '../recordings/storage';
import type { PrivacyPolicy, RetentionPolicy } from './policy';
import { removeInside, withBusyRetry } from './erasure';
import type { Prisma } from '../generated/prisma/client';

const DAY_MS = 86_400_000;
const BATCH = 500;

export interface RetentionReport {
  recordings: number;
  transcripts: number;
  events: number;
  calls: number;
}

export interface RetentionDeps {
  db: Db;
  policy: PrivacyPolicy;
  recordingsDir: string;
  /** Where recordings live (local disk, S3): delete() removes every copy. Default: the local file only. */
  recordings?: Pick<RecordingStorage, 'delete'>;
  logger: Logger;
  isActive(callId: string): boolean;
  now?: () => number;
  intervalMs?: number;
}

export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionReport> | undefined;

  constructor(private readonly deps: RetentionDeps) {}

  /** True when some profile keeps something for a limited time. */
  get enabled(): boolean {
    const any = (r: RetentionPolicy) => Boolean(r.recordingsDays || r.transcriptsDays || r.callsDays);
    return (
      any(this.deps.policy.defaults.retention) || [...this.deps.policy.profiles.values()].some((p) => any(p.retention))
    );
  }

  /** Runs soon after start, then every `intervalMs` (default 1 hour). */
  start(firstDelayMs = 10_000): void {
    if (!this.enabled || this.timer) return;
    const tick = (delay: number): void => {
      this.timer = setTimeout(() => {
        void this.runOnce()
          .catch((err: unknown) => this.deps.logger.error('retention run failed', { error: (err as Error).message }))
          .finally(() => {
            if (this.timer) tick(this.deps.intervalMs ?? 3_600_000);
          });
      }, delay);
      this.timer.unref();
    };
    tick(firstDelayMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One pass over every profile. Concurrent calls share one run. */
  runOnce(): Promise<RetentionReport> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<RetentionReport> {
    const { db, policy, logger } = this.deps;
    const report: RetentionReport = { recordings: 0, transcripts: 0, events: 0, calls: 0 };
    if (dialectOf(db) === 'sqlite') await db.$queryRawUnsafe('PRAGMA secure_delete = ON');
    const named = [...policy.profiles.keys()];
    const scopes: Array<{ where: Prisma.CallWhereInput; retention: RetentionPolicy }> = [
      { where: { agent: { notIn: named } }, retention: policy.defaults.retention },
      ...[...policy.profiles].map(([name, p]) => ({ where: { agent: name }, retention: p.retention })),
    ];
    for (const { where, retention } of scopes) {
      if (retention.callsDays) await this.deleteCalls(where, this.cutoff(retention.callsDays), report);
      if (retention.transcriptsDays)
        await this.deleteTranscripts(where, this.cutoff(retention.transcriptsDays), report);
      if (retention.recordingsDays) await this.deleteRecordings(where, this.cutoff(retention.recordingsDays), report);
    }
    logger.info('retention run', { ...report });
    return report;
  }

  private cutoff(days: number): Date {
    return new Date((this.deps.now ?? Date.now)() - days * DAY_MS);
  }

  private eligible(where: Prisma.CallWhereInput, before: Date): Prisma.CallWhereInput {
    return { ...where, startedAt: { lt: before }, legalHold: false, erasedAt: null, endedAt: { not: null } };
  }

  private async batches(
    where: Prisma.CallWhereInput,
    fn: (calls: Array<{ id: string; recordings: Array<{ id: string; path: string }> }>) => Promise<void>,
  ): Promise<void> {
    let cursor: string | undefined;
    for (;;) {
      const calls = await this.deps.db.call.findMany({
        where: { ...where, ...(cursor ? { id: { gt: cursor } } : {}) },
        orderBy: { id: 'asc' },
        take: BATCH,
        select: { id: true, recordings: { select: { id: true, path: true } } },
      });
      const idle = calls.filter((c) => !this.deps.isActive(c.id));
      if (idle.length > 0) await fn(idle);
      if (calls.length < BATCH) return;
      cursor = calls[calls.length - 1].id;
    }
  }

  private async removeFiles(recordings: Array<{ path: string }>): Promise<void> {
    for (const r of recordings) {
      try {
        await (this.deps.recordings
          ? this.deps.recordings.delete(r.path)
          : removeInside(this.deps.recordingsDir, r.path));
      } catch (err) {
        this.deps.logger.warn('retention could not delete a recording file', {
          file: path.basename(r.path),
          error: (err as Error).message,
        });
      }
    }
  }

  private async deleteCalls(where: Prisma.CallWhereInput, before: Date, report: RetentionReport): Promise<void> {
    await this.batches(this.eligible(where, before), async (calls) => {
      await this.removeFiles(calls.flatMap((c) => c.recordings));
      report.recordings += calls.reduce((n, c) => n + c.recordings.length, 0);
      // Transcripts, recordings, analytics, metadata and events go with the row (ON DELETE CASCADE).
      const ids = calls.map((c) => c.id);
      const { count } = await withBusyRetry(() => this.deps.db.call.deleteMany({ where: { id: { in: ids } } }));
      report.calls += count;
    });
  }

  private async deleteTranscripts(where: Prisma.CallWhereInput, before: Date, report: RetentionReport): Promise<void> {
    await this.batches(
      { ...this.eligible(where, before), OR: [{ transcripts: { some: {} } }, { events: { some: {} } }] },
      async (calls) => {
        const ids = calls.map((c) => c.id);
        const [t, e] = await withBusyRetry(() =>
          this.deps.db.$transaction([
            this.deps.db.transcript.deleteMany({ where: { callId: { in: ids } } }),
            this.deps.db.callEvent.deleteMany({ where: { callId: { in: ids } } }),
          ]),
        );
        report.transcripts += t.count;
        report.events += e.count;
      },
    );
  }

  private async deleteRecordings(where: Prisma.CallWhereInput, before: Date, report: RetentionReport): Promise<void> {
    await this.batches({ ...this.eligible(where, before), recordings: { some: {} } }, async (calls) => {
      const recordings = calls.flatMap((c) => c.recordings);
      await this.removeFiles(recordings);
      const ids = recordings.map((r) => r.id);
      const { count } = await withBusyRetry(() => this.deps.db.recording.deleteMany({ where: { id: { in: ids } } }));
      report.recordings += count;
    });
  }
}
