/**
 * GET /api/analytics: aggregates and a time series of the calls started between startDate and
 * endDate (default: the last 30 days), bucketed by `interval` (hour | day | week, UTC, weeks from
 * Monday). Definitions of each figure are in db/analytics-queries.ts and the OpenAPI document.
 */
import { Router } from 'express';
import { apiReads, type ApiDeps } from './api-deps';
import { ApiError } from './errors';
import { INTERVALS, dateRange, enumParam, type Query } from './validation';
import { MAX_BUCKETS, bucketCount } from '../db/analytics-queries';

export const DEFAULT_ANALYTICS_RANGE_MS = 30 * 86_400_000;

export function createAnalyticsRouter(deps: ApiDeps): Router {
  const router = Router();
  const reads = apiReads(deps);

  router.get('/analytics', async (req, res) => {
    const query = req.query as Query;
    const interval = enumParam(query, 'interval', INTERVALS) ?? 'day';
    const { startDate, endDate } = dateRange(query);
    const end = endDate ?? new Date();
    const start = startDate ?? new Date(end.getTime() - DEFAULT_ANALYTICS_RANGE_MS);
    if (end.getTime() < start.getTime()) throw ApiError.invalid('endDate', 'must not be before startDate');
    if (bucketCount(start.getTime(), end.getTime(), interval) > MAX_BUCKETS)
      throw ApiError.invalid(
        'interval',
        `gives more than ${MAX_BUCKETS} buckets over this range; use a larger interval`,
      );
    res.json(await reads.run('analyticsReport', { start, end, interval }));
  });

  return router;
}
