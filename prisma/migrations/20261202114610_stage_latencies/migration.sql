-- Per-stage turn latency of cascaded-engine calls (per turn and p50/p95 per stage).
ALTER TABLE "Analytics" ADD COLUMN "stageLatencies" JSONB;
