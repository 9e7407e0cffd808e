import request from 'supertest';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { seedCall } from '../../scripts/lib/seed';

describe('GET /api/analytics', () => {
  let t: TestApp;
  const get = (query: string) => request(t.baseUrl).get(`/api/analytics${query}`);

  beforeAll(async () => {
    t = await startTestApp();
    // 2020-03-01 is a Sunday; 2020-03-02 and 2020-03-09 are Mondays.
    await seedCall(t.sb, {
      startedAt: new Date('2020-03-01T10:00:00Z'),
      durationMs: 60_000,
      analytics: {
        latencyP50Ms: 400,
        latencyP95Ms: 800,
        interruptions: 1,
        sentimentLabel: 'positive',
        callerTalkMs: 20_000,
        agentTalkMs: 30_000,
        estimatedCostUsd: 0.1,
        inputTokens: 100,
        outputTokens: 200,
      },
    });
    await seedCall(t.sb, {
      startedAt: new Date('2020-03-02T10:30:00Z'),
      durationMs: 120_000,
      analytics: {
        latencyP50Ms: 600,
        latencyP95Ms: 1200,
        interruptions: 3,
        sentimentLabel: 'negative',
        callerTalkMs: 40_000,
        agentTalkMs: 40_000,
        estimatedCostUsd: 0.3,
        inputTokens: 10,
        outputTokens: 20,
      },
    });
    await seedCall(t.sb, { startedAt: new Date('2020-03-02T11:15:00Z'), status: 'failed', durationMs: 5000 });
    await seedCall(t.sb, {
      startedAt: new Date('2020-03-04T08:00:00Z'),
      status: 'no-answer',
      durationMs: 10_000,
      analytics: { sentimentLabel: 'neutral' },
    });
    await seedCall(t.sb, {
      startedAt: new Date('2020-03-09T00:00:00Z'),
      durationMs: 30_000,
      analytics: { latencyP50Ms: 200, latencyP95Ms: 300, sentimentLabel: 'positive', estimatedCostUsd: 0.05 },
    });
    await seedCall(t.sb, { startedAt: new Date('2020-04-20T00:00:00Z'), analytics: { latencyP95Ms: 99_999 } });
  });
  afterAll(() => t.close());

  it('aggregates the calls started in the range', async () => {
    const res = await get('?startDate=2020-03-01&endDate=2020-03-09').expect(200);
    expect(res.body.range).toEqual({
      startDate: '2020-03-01T00:00:00.000Z',
      endDate: '2020-03-09T23:59:59.999Z',
      interval: 'day',
    });
    expect(res.body.summary).toEqual({
      calls: 5,
      completed: 3,
      failed: 2,
      interrupted: 0,
      analyzedCalls: 4,
      totalDurationMs: 225_000,
      avgDurationMs: 45_000,
      avgLatencyMs: 400,
      p95LatencyMs: 1200,
      interruptions: 4,
      sentiment: { positive: 2, neutral: 1, negative: 1, unknown: 1 },
      talk: { callerTalkMs: 60_000, agentTalkMs: 70_000, callerTalkRatio: 0.4615 },
      cost: { totalUsd: 0.45, avgPerCallUsd: 0.1125, inputTokens: 110, outputTokens: 220 },
      // No cascaded-engine call in the range: no stage figures.
      stages: {},
    });
  });

  it('returns a daily series with empty days included', async () => {
    const res = await get('?startDate=2020-03-01&endDate=2020-03-09&interval=day').expect(200);
    const series = res.body.series as { start: string; calls: number }[];
    expect(series.map((b) => b.start)).toEqual([
      '2020-03-01T00:00:00.000Z',
      '2020-03-02T00:00:00.000Z',
      '2020-03-03T00:00:00.000Z',
      '2020-03-04T00:00:00.000Z',
      '2020-03-05T00:00:00.000Z',
      '2020-03-06T00:00:00.000Z',
      '2020-03-07T00:00:00.000Z',
      '2020-03-08T00:00:00.000Z',
      '2020-03-09T00:00:00.000Z',
    ]);
    expect(series.map((b) => b.calls)).toEqual([1, 2, 0, 1, 0, 0, 0, 0, 1]);
    expect(series[1]).toEqual({
      start: '2020-03-02T00:00:00.000Z',
      calls: 2,
      completed: 1,
      failed: 1,
      avgDurationMs: 62_500,
      avgLatencyMs: 600,
      interruptions: 3,
      costUsd: 0.3,
    });
    expect(series[2]).toEqual({
      start: '2020-03-03T00:00:00.000Z',
      calls: 0,
      completed: 0,
      failed: 0,
      avgDurationMs: null,
      avgLatencyMs: null,
      interruptions: 0,
      costUsd: 0,
    });
  });

  it('buckets weeks from Monday 00:00 UTC', async () => {
    const res = await get('?startDate=2020-03-01&endDate=2020-03-09&interval=week').expect(200);
    expect(res.body.series.map((b: { start: string; calls: number }) => [b.start, b.calls])).toEqual([
      ['2020-02-24T00:00:00.000Z', 1],
      ['2020-03-02T00:00:00.000Z', 3],
      ['2020-03-09T00:00:00.000Z', 1],
    ]);
  });

  it('buckets hours', async () => {
    const res = await get('?startDate=2020-03-02T10:00:00Z&endDate=2020-03-02T11:59:59Z&interval=hour').expect(200);
    expect(res.body.series.map((b: { start: string; calls: number }) => [b.start, b.calls])).toEqual([
      ['2020-03-02T10:00:00.000Z', 1],
      ['2020-03-02T11:00:00.000Z', 1],
    ]);
    expect(res.body.summary).toMatchObject({ calls: 2, completed: 1, failed: 1, p95LatencyMs: 1200 });
  });

  it('reports an empty range with zeros and nulls, not errors', async () => {
    const res = await get('?startDate=2019-01-01&endDate=2019-01-02').expect(200);
    expect(res.body.summary).toMatchObject({
      calls: 0,
      avgDurationMs: null,
      avgLatencyMs: null,
      p95LatencyMs: null,
      talk: { callerTalkRatio: null },
      cost: { totalUsd: 0, avgPerCallUsd: null },
    });
    expect(res.body.series).toHaveLength(2);
  });

  it('defaults to the last 30 days', async () => {
    const recent = new Date(Date.now() - 3_600_000);
    await seedCall(t.sb, { startedAt: recent, analytics: { latencyP95Ms: 700 } });
    await seedCall(t.sb, { startedAt: new Date(Date.now() - 40 * 86_400_000) });
    const res = await get('').expect(200);
    const { startDate, endDate, interval } = res.body.range;
    expect(interval).toBe('day');
    expect(Date.parse(endDate) - Date.parse(startDate)).toBe(30 * 86_400_000);
    expect(res.body.summary).toMatchObject({ calls: 1, p95LatencyMs: 700 });
    expect(res.body.series.length).toBeGreaterThanOrEqual(30);
  });

  it.each([
    ['interval=month', 'interval'],
    ['interval=', null],
    ['startDate=2020-03-01&endDate=2021-03-01&interval=hour', 'interval'],
    ['startDate=01/03/2020', 'startDate'],
    ['endDate=2020-03-32', 'endDate'],
    ['startDate=2020-03-09&endDate=2020-03-01', 'endDate'],
    ['startDate=2020-03-01&startDate=2020-03-02', 'startDate'],
  ])('checks %s', async (query, field) => {
    const res = await get(`?${query}`);
    if (field === null) {
      expect(res.status).toBe(200);
      return;
    }
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_parameter', field });
  });
});
