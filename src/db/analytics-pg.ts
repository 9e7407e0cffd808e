/**
 * The PostgreSQL SQL of the analytics report (src/db/analytics-queries.ts has the SQLite SQL, the
 * definitions and the arithmetic on the rows, shared by both). Differences: Call.startedAt is a
 * timestamp(3), turned into Unix milliseconds for the bucket arithmetic; counts of a condition use
 * FILTER; JSON is jsonb; output aliases are quoted (PostgreSQL folds unquoted names to lower case).
 */
import { Prisma } from '../generated/prisma/client';
import type { Db } from './prisma';

/** Rows as analytics-queries.ts reads them (numbers arrive as number or BigInt). */
type Num = bigint | number | null;

export function bucketRowsPg<T>(
  db: Db,
  q: { startMs: number; endMs: number; size: number; origin: number; failed: string[] },
): Promise<T[]> {
  const origin = BigInt(q.origin);
  const size = BigInt(q.size);
  return db.$queryRaw<T[]>`
    WITH r AS MATERIALIZED (
      SELECT (floor(extract(epoch FROM c."startedAt") * 1000)::bigint - ${origin}::bigint) / ${size}::bigint
          * ${size}::bigint + ${origin}::bigint AS bucket,
        c."status" AS status, c."durationMs" AS duration, a."id" AS analytics_id,
        a."latencyP50Ms" AS p50, a."latencyP95Ms" AS p95, a."interruptions" AS interruptions,
        a."estimatedCostUsd" AS cost, a."sentimentLabel" AS sentiment, a."callerTalkMs" AS caller_talk,
        a."agentTalkMs" AS agent_talk, a."inputTokens" AS input_tokens, a."outputTokens" AS output_tokens
      FROM "Call" c LEFT JOIN "Analytics" a ON a."callId" = c."id"
      WHERE c."startedAt" >= ${new Date(q.startMs)} AND c."startedAt" <= ${new Date(q.endMs)}
    ),
    p AS (
      SELECT p95 FROM r WHERE p95 IS NOT NULL ORDER BY p95
      LIMIT 1 OFFSET (SELECT greatest(0, (count(p95) * 95 + 99) / 100 - 1) FROM r)
    )
    SELECT bucket AS "bucket",
      count(*) AS "calls",
      count(*) FILTER (WHERE status = 'completed') AS "completed",
      count(*) FILTER (WHERE status IN (${Prisma.join(q.failed)})) AS "failed",
      count(*) FILTER (WHERE status = 'interrupted') AS "interrupted",
      count(duration) AS "durationCount",
      sum(duration) AS "durationSum",
      count(p50) AS "latencyCount",
      sum(p50) AS "latencySum",
      count(analytics_id) AS "analyzed",
      sum(interruptions) AS "interruptions",
      coalesce(sum(cost), 0)::float8 AS "costUsd",
      count(*) FILTER (WHERE sentiment = 'positive') AS "positive",
      count(*) FILTER (WHERE sentiment = 'neutral') AS "neutral",
      count(*) FILTER (WHERE sentiment = 'negative') AS "negative",
      sum(caller_talk) AS "callerTalkMs",
      sum(agent_talk) AS "agentTalkMs",
      sum(input_tokens) AS "inputTokens",
      sum(output_tokens) AS "outputTokens",
      (SELECT p95 FROM p) AS "p95LatencyMs"
    FROM r GROUP BY bucket ORDER BY bucket`;
}

export interface StageRowPg {
  stage: string;
  calls: Num;
  avgP50: number | null;
  p95: Num;
}

export function stageRowsPg(db: Db, startMs: number, endMs: number, stages: readonly string[]): Promise<StageRowPg[]> {
  const perStage = stages.map(
    (stage) => Prisma.sql`SELECT ${stage}::text AS stage,
      jsonb_extract_path_text(j, 'summary', ${stage}::text, 'p50')::float8 AS p50,
      jsonb_extract_path_text(j, 'summary', ${stage}::text, 'p95')::float8 AS p95 FROM s`,
  );
  return db.$queryRaw<StageRowPg[]>`
    WITH s AS MATERIALIZED (
      SELECT a."stageLatencies" AS j FROM "Call" c JOIN "Analytics" a ON a."callId" = c."id"
      WHERE c."startedAt" >= ${new Date(startMs)} AND c."startedAt" <= ${new Date(endMs)}
        AND a."stageLatencies" IS NOT NULL AND jsonb_typeof(a."stageLatencies") = 'object'
    ),
    v AS (${Prisma.join(perStage, ' UNION ALL ')}),
    w AS (
      SELECT stage, p50, p95, row_number() OVER (PARTITION BY stage ORDER BY p95) AS rn,
        count(*) OVER (PARTITION BY stage) AS n
      FROM v WHERE p95 IS NOT NULL
    )
    SELECT stage AS "stage", count(*) AS "calls", avg(p50) AS "avgP50",
      max(CASE WHEN rn = (n * 95 + 99) / 100 THEN p95 END) AS "p95"
    FROM w GROUP BY stage`;
}
