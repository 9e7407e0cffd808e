/**
 * Aggregates behind GET /api/analytics in one query: the calls started in the range (joined to
 * their Analytics row) are read once, grouped into the time series, and the p95 latency is picked
 * from the same rows; the summary is summed from the buckets. Buckets are UTC; week buckets start on Monday 00:00 UTC.
 *
 * Definitions (also in the OpenAPI description):
 * - completed: status `completed`; failed: a final status other than completed or interrupted
 *   (failed, busy, no-answer, canceled); interrupted calls (left open by a crash) are counted apart.
 * - avgLatencyMs: mean over analysed calls of each call's median response latency (latencyP50Ms).
 * - p95LatencyMs: 95th percentile (nearest rank) over analysed calls of each call's own p95
 *   latency (latencyP95Ms): "95% of calls had a p95 latency at or below this".
 * - talk ratio: caller talk time / (caller + agent talk time), over all analysed calls.
 * - stages (cascaded-engine calls only, Analytics.stageLatencies): per stage, `avgP50Ms` is the mean
 *   of each call's median, `p95Ms` the 95th percentile (nearest rank) of each call's own p95.
 */
import { Prisma } from '../generated/prisma/client';
import type { Db } from './prisma';
import { STAGES, type Stage } from '../calls/stage-latency';
import { dialectOf } from './dialect';
import { bucketRowsPg, stageRowsPg } from './analytics-pg';

export type AnalyticsInterval = 'hour' | 'day' | 'week';

export const INTERVAL_MS: Record<AnalyticsInterval, number> = {
  hour: 3_600_000,
  day: 86_400_000,
  week: 604_800_000,
};
/** 1970-01-05 00:00 UTC, the first Monday of the epoch: origin of week buckets. */
const WEEK_ORIGIN_MS = 4 * 86_400_000;
export const MAX_BUCKETS = 2000;

const FAILED_STATUSES = ['failed', 'busy', 'no-answer', 'canceled'];

export interface AnalyticsBucket {
  start: string;
  calls: number;
  completed: number;
  failed: number;
  avgDurationMs: number | null;
  avgLatencyMs: number | null;
  interruptions: number;
  costUsd: number;
}

export interface AnalyticsSummary {
  calls: number;
  completed: number;
  failed: number;
  interrupted: number;
  analyzedCalls: number;
  totalDurationMs: number;
  avgDurationMs: number | null;
  avgLatencyMs: number | null;
  p95LatencyMs: number | null;
  interruptions: number;
  sentiment: { positive: number; neutral: number; negative: number; unknown: number };
  talk: { callerTalkMs: number; agentTalkMs: number; callerTalkRatio: number | null };
  cost: { totalUsd: number; avgPerCallUsd: number | null; inputTokens: number; outputTokens: number };
  /** Per-stage turn latency of cascaded-engine calls, by stage (absent stages: no such call). */
  stages: Partial<Record<Stage, StageAggregate>>;
}

export interface StageAggregate {
  calls: number;
  avgP50Ms: number | null;
  p95Ms: number | null;
}

export interface AnalyticsReport {
  range: { startDate: string; endDate: string; interval: AnalyticsInterval };
  summary: AnalyticsSummary;
  series: AnalyticsBucket[];
}

/** Start of the bucket holding `ms`. */
export function bucketStart(ms: number, interval: AnalyticsInterval): number {
  const size = INTERVAL_MS[interval];
  const origin = interval === 'week' ? WEEK_ORIGIN_MS : 0;
  return Math.floor((ms - origin) / size) * size + origin;
}

export function bucketCount(startMs: number, endMs: number, interval: AnalyticsInterval): number {
  return (bucketStart(endMs, interval) - bucketStart(startMs, interval)) / INTERVAL_MS[interval] + 1;
}

interface BucketRow {
  bucket: bigint | number;
  calls: bigint | number;
  completed: bigint | number | null;
  failed: bigint | number | null;
  interrupted: bigint | number | null;
  durationCount: bigint | number;
  durationSum: bigint | number | null;
  latencyCount: bigint | number;
  latencySum: bigint | number | null;
  p95LatencyMs: bigint | number | null;
  analyzed: bigint | number;
  interruptions: bigint | number | null;
  costUsd: number | null;
  positive: bigint | number | null;
  neutral: bigint | number | null;
  negative: bigint | number | null;
  callerTalkMs: bigint | number | null;
  agentTalkMs: bigint | number | null;
  inputTokens: bigint | number | null;
  outputTokens: bigint | number | null;
}

const n = (v: bigint | number | null | undefined): number => (v === null || v === undefined ? 0 : Number(v));
const ratio = (sum: number, count: number): number | null => (count > 0 ? sum / count : null);
const round = (v: number | null, digits = 0): number | null =>
  v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits;

/** Calls started in [start, end] (inclusive), summarised and bucketed by `interval`. */
export async function analyticsReport(
  db: Db,
  range: { start: Date; end: Date; interval: AnalyticsInterval },
): Promise<AnalyticsReport> {
  const startMs = range.start.getTime();
  const endMs = range.end.getTime();
  const size = INTERVAL_MS[range.interval];
  const origin = range.interval === 'week' ? WEEK_ORIGIN_MS : 0;
  const rows =
    dialectOf(db) === 'postgres'
      ? await bucketRowsPg<BucketRow>(db, { startMs, endMs, size, origin, failed: FAILED_STATUSES })
      : await bucketRowsSqlite(db, { startMs, endMs, size, origin });
  const stages = await stageAggregates(db, startMs, endMs);

  const byBucket = new Map<number, BucketRow>(rows.map((r) => [Number(r.bucket), r]));
  let p95LatencyMs: number | null = null;
  const series: AnalyticsBucket[] = [];
  const t = {
    calls: 0,
    completed: 0,
    failed: 0,
    interrupted: 0,
    durationCount: 0,
    durationSum: 0,
    latencyCount: 0,
    latencySum: 0,
    analyzed: 0,
    interruptions: 0,
    costUsd: 0,
    positive: 0,
    neutral: 0,
    negative: 0,
    callerTalkMs: 0,
    agentTalkMs: 0,
    inputTokens: 0,
    outputTokens: 0,
  };
  for (let b = bucketStart(startMs, range.interval); b <= endMs; b += size) {
    const r = byBucket.get(b);
    if (r) for (const key of Object.keys(t) as (keyof typeof t)[]) t[key] += n(r[key]);
    if (r && r.p95LatencyMs !== null) p95LatencyMs = Number(r.p95LatencyMs);
    series.push({
      start: new Date(b).toISOString(),
      calls: n(r?.calls),
      completed: n(r?.completed),
      failed: n(r?.failed),
      avgDurationMs: round(ratio(n(r?.durationSum), n(r?.durationCount))),
      avgLatencyMs: round(ratio(n(r?.latencySum), n(r?.latencyCount))),
      interruptions: n(r?.interruptions),
      costUsd: round(n(r?.costUsd), 6) ?? 0,
    });
  }

  const talkTotal = t.callerTalkMs + t.agentTalkMs;
  return {
    range: {
      startDate: range.start.toISOString(),
      endDate: range.end.toISOString(),
      interval: range.interval,
    },
    summary: {
      calls: t.calls,
      completed: t.completed,
      failed: t.failed,
      interrupted: t.interrupted,
      analyzedCalls: t.analyzed,
      totalDurationMs: t.durationSum,
      avgDurationMs: round(ratio(t.durationSum, t.durationCount)),
      avgLatencyMs: round(ratio(t.latencySum, t.latencyCount)),
      p95LatencyMs,
      interruptions: t.interruptions,
      sentiment: {
        positive: t.positive,
        neutral: t.neutral,
        negative: t.negative,
        unknown: t.calls - t.positive - t.neutral - t.negative,
      },
      talk: {
        callerTalkMs: t.callerTalkMs,
        agentTalkMs: t.agentTalkMs,
        callerTalkRatio: round(ratio(t.callerTalkMs, talkTotal), 4),
      },
      cost: {
        totalUsd: round(t.costUsd, 6) ?? 0,
        avgPerCallUsd: round(ratio(t.costUsd, t.analyzed), 6),
        inputTokens: t.inputTokens,
        outputTokens: t.outputTokens,
      },
      stages,
    },
    series,
  };
}

/** The SQLite SQL of the bucket rows (dates are Unix milliseconds; see analytics-pg.ts for PostgreSQL). */
function bucketRowsSqlite(
  db: Db,
  { startMs, endMs, size, origin }: { startMs: number; endMs: number; size: number; origin: number },
): Promise<BucketRow[]> {
  // Integer division truncates toward zero; dates before 1970-01-05 are not call-center dates.
  // The bucket arithmetic needs integer parameters (JS numbers are bound as REAL): BigInt.
  // One pass over the calls in range (joined to their analytics) is materialized, then grouped by
  // bucket; the p95 is picked from the same rows (nearest rank: ceil(0.95 n), in integers).
  return db.$queryRaw<BucketRow[]>`
    WITH r AS MATERIALIZED (
      SELECT (c."startedAt" - ${BigInt(origin)}) / ${BigInt(size)} * ${BigInt(size)} + ${BigInt(origin)} AS bucket,
        c."status" AS status, c."durationMs" AS durationMs, a."id" AS analyticsId,
        a."latencyP50Ms" AS p50, a."latencyP95Ms" AS p95, a."interruptions" AS interruptions,
        a."estimatedCostUsd" AS cost, a."sentimentLabel" AS sentiment, a."callerTalkMs" AS callerTalkMs,
        a."agentTalkMs" AS agentTalkMs, a."inputTokens" AS inputTokens, a."outputTokens" AS outputTokens
      FROM "Call" c LEFT JOIN "Analytics" a ON a."callId" = c."id"
      WHERE c."startedAt" >= ${startMs} AND c."startedAt" <= ${endMs}
    ),
    p AS (
      SELECT p95 FROM r WHERE p95 IS NOT NULL ORDER BY p95
      LIMIT 1 OFFSET (SELECT max(0, (count(p95) * 95 + 99) / 100 - 1) FROM r)
    )
    SELECT bucket,
      count(*) AS calls,
      sum(status = 'completed') AS completed,
      sum(status IN (${Prisma.join(FAILED_STATUSES)})) AS failed,
      sum(status = 'interrupted') AS interrupted,
      count(durationMs) AS durationCount,
      sum(durationMs) AS durationSum,
      count(p50) AS latencyCount,
      sum(p50) AS latencySum,
      count(analyticsId) AS analyzed,
      sum(interruptions) AS interruptions,
      total(cost) AS costUsd,
      sum(sentiment = 'positive') AS positive,
      sum(sentiment = 'neutral') AS neutral,
      sum(sentiment = 'negative') AS negative,
      sum(callerTalkMs) AS callerTalkMs,
      sum(agentTalkMs) AS agentTalkMs,
      sum(inputTokens) AS inputTokens,
      sum(outputTokens) AS outputTokens,
      (SELECT p95 FROM p) AS p95LatencyMs
    FROM r GROUP BY bucket ORDER BY bucket`;
}

interface StageRow {
  stage: string;
  calls: bigint | number;
  avgP50: number | null;
  p95: bigint | number | null;
}

/** Per-stage figures of the cascaded-engine calls started in [startMs, endMs] (see the header). */
async function stageAggregates(db: Db, startMs: number, endMs: number): Promise<AnalyticsSummary['stages']> {
  const rows =
    dialectOf(db) === 'postgres'
      ? await stageRowsPg(db, startMs, endMs, STAGES)
      : await stageRowsSqlite(db, startMs, endMs);
  const out: AnalyticsSummary['stages'] = {};
  for (const r of rows) {
    if (!(STAGES as readonly string[]).includes(r.stage)) continue;
    out[r.stage as Stage] = {
      calls: n(r.calls),
      avgP50Ms: round(r.avgP50 === null ? null : Number(r.avgP50), 1),
      p95Ms: r.p95 === null ? null : Number(r.p95),
    };
  }
  return out;
}

/** The SQLite SQL of the per-stage rows (see analytics-pg.ts for PostgreSQL). */
function stageRowsSqlite(db: Db, startMs: number, endMs: number): Promise<StageRow[]> {
  const perStage = STAGES.map(
    (stage) => Prisma.sql`SELECT ${stage} AS stage,
      json_extract(j, ${`$.summary.${stage}.p50`}) AS p50, json_extract(j, ${`$.summary.${stage}.p95`}) AS p95 FROM s`,
  );
  return db.$queryRaw<StageRow[]>`
    WITH s AS MATERIALIZED (
      SELECT a."stageLatencies" AS j FROM "Call" c JOIN "Analytics" a ON a."callId" = c."id"
      WHERE c."startedAt" >= ${startMs} AND c."startedAt" <= ${endMs} AND a."stageLatencies" IS NOT NULL
    ),
    v AS (${Prisma.join(perStage, ' UNION ALL ')}),
    w AS (
      SELECT stage, p50, p95, row_number() OVER (PARTITION BY stage ORDER BY p95) AS rn,
        count(*) OVER (PARTITION BY stage) AS n
      FROM v WHERE p95 IS NOT NULL
    )
    SELECT stage, count(*) AS calls, avg(p50) AS avgP50, max(CASE WHEN rn = (n * 95 + 99) / 100 THEN p95 END) AS p95
    FROM w GROUP BY stage`;
}
