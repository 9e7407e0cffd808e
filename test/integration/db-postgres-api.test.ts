/**
 * The calls API and analytics on both databases (issue 16): the same calls, written through the
 * app's own CallManager (writer thread), are listed, filtered, searched (FTS5 on SQLite, tsvector +
 * GIN on PostgreSQL), paged by keyset, shown in detail and aggregated identically on SQLite and
 * PostgreSQL.
 */
import request from 'supertest';
import { startAppOn, type DbTestApp } from '../../scripts/lib/test-db-app';
import { DATABASE_KINDS } from '../../scripts/lib/test-db';
import { seedCall } from '../../scripts/lib/seed';
import { iterateCalls } from '../../src/db/call-queries';
import { dialectOf } from '../../src/db/dialect';

const stage = (p50: number, p95: number) => ({ p50, p95, max: p95, count: 3 });
const stageLatencies = (p50: number, p95: number) => ({
  turns: [],
  summary: {
    transcriptMs: stage(p50, p95),
    firstTokenMs: stage(p50 + 1, p95 + 1),
    firstSpeechByteMs: stage(p50 + 2, p95 + 2),
    firstAudioMs: { p50: null, p95: null, max: null, count: 0 },
  },
});

describe.each(DATABASE_KINDS)('calls API and analytics on %s', (kind) => {
  let t: DbTestApp;
  const ids: Record<string, string> = {};
  const list = (query: string) => request(t.baseUrl).get(`/api/calls${query}`);
  const idsOf = (body: { items: { id: string }[] }): string[] => body.items.map((c) => c.id);

  beforeAll(async () => {
    t = await startAppOn(kind);
    ids.alice1 = await seedCall(t.sb, {
      from: '+15550000001',
      agent: 'sales',
      startedAt: new Date('2026-03-01T09:00:00Z'),
      transcripts: [
        { speaker: 'caller', text: 'I would like a refund for my order', startMs: 1000 },
        { speaker: 'agent', text: 'Sure, let me check that order', startMs: 4000 },
      ],
      analytics: {
        sentimentLabel: 'negative',
        interruptions: 2,
        latencyP50Ms: 400,
        latencyP95Ms: 900,
        estimatedCostUsd: 0.12,
        callerTalkMs: 20_000,
        agentTalkMs: 30_000,
        inputTokens: 100,
        outputTokens: 200,
        stageLatencies: stageLatencies(100, 300),
      },
    });
    // A timeline event written through the same batches as the transcript.
    t.sb.callManager.addEvent(ids.alice1, 'dtmf', { digit: '5' }, 1500);
    await t.sb.callManager.flush();
    ids.bob = await seedCall(t.sb, {
      from: '+15550000002',
      agent: 'support',
      provider: 'telnyx',
      status: 'failed',
      startedAt: new Date('2026-03-02T10:00:00Z'),
      transcripts: [{ speaker: 'caller', text: 'Le café était froid, résumé demain', startMs: 500 }],
      analytics: {
        sentimentLabel: 'neutral',
        latencyP50Ms: 600,
        latencyP95Ms: 1200,
        stageLatencies: stageLatencies(200, 500),
      },
    });
    ids.alice2 = await seedCall(t.sb, {
      from: '+15550000001',
      agent: 'support',
      startedAt: new Date('2026-03-03T11:00:00Z'),
      durationMs: 30_000,
      transcripts: [{ speaker: 'caller', text: 'Thanks, the refund arrived', startMs: 700 }],
      analytics: { sentimentLabel: 'positive', estimatedCostUsd: 0.05 },
    });
    ids.carol = await seedCall(t.sb, {
      from: '+15550000003',
      agent: 'sales',
      status: 'no-answer',
      startedAt: new Date('2026-03-04T23:59:59Z'),
    });
    ids.live = await seedCall(t.sb, {
      from: '+15550000004',
      agent: 'sales',
      status: 'streaming',
      startedAt: new Date('2026-03-05T12:00:00Z'),
      transcripts: [{ speaker: 'agent', text: 'Hello, how can I help?', startMs: 0 }],
    });
  }, 60_000);
  // Closing drains the writer thread and read workers: generous on a loaded machine, so that jest
  // never tears the environment down under a close still running.
  afterAll(() => t?.close(), 60_000);

  it('runs on the database it was given', () => {
    expect(dialectOf(t.sb.db)).toBe(kind);
  });

  it('lists newest first with totals, pages, and item fields as stored', async () => {
    const res = await list('').expect(200);
    expect(res.body).toMatchObject({ total: 5, limit: 20, offset: 0 });
    expect(idsOf(res.body)).toEqual([ids.live, ids.carol, ids.alice2, ids.bob, ids.alice1]);
    expect(res.body.items[4]).toMatchObject({
      id: ids.alice1,
      from: '+15550000001',
      agent: 'sales',
      status: 'completed',
      provider: 'twilio',
      startedAt: '2026-03-01T09:00:00.000Z',
      endedAt: '2026-03-01T09:01:00.000Z',
      durationMs: 60000,
      sentiment: 'negative',
      interruptions: 2,
      latencyP95Ms: 900,
      estimatedCostUsd: 0.12,
      hasRecording: false,
    });
    expect(idsOf((await list('?limit=2&offset=2').expect(200)).body)).toEqual([ids.alice2, ids.bob]);
    expect((await list('?limit=2&offset=5').expect(200)).body).toEqual({ items: [], total: 5, limit: 2, offset: 5 });
  });

  it('filters by caller, agent, status, sentiment, channel and dates', async () => {
    expect(idsOf((await list('?caller=%2B15550000001').expect(200)).body)).toEqual([ids.alice2, ids.alice1]);
    expect(idsOf((await list('?agent=support').expect(200)).body)).toEqual([ids.alice2, ids.bob]);
    expect(idsOf((await list('?status=streaming').expect(200)).body)).toEqual([ids.live]);
    expect(idsOf((await list('?sentiment=positive').expect(200)).body)).toEqual([ids.alice2]);
    expect(idsOf((await list('?provider=telnyx').expect(200)).body)).toEqual([ids.bob]);
    const combined = await list('?caller=%2B15550000001&agent=sales&sentiment=negative').expect(200);
    expect(combined.body.total).toBe(1);
    expect(idsOf((await list('?startDate=2026-03-03').expect(200)).body)).toEqual([ids.live, ids.carol, ids.alice2]);
    expect(idsOf((await list('?endDate=2026-03-02').expect(200)).body)).toEqual([ids.bob, ids.alice1]);
    const exact = await list('?startDate=2026-03-02T10:00:00Z&endDate=2026-03-03T10:59:59%2B00:00').expect(200);
    expect(idsOf(exact.body)).toEqual([ids.bob]);
  });

  it('searches transcripts: any case, accents ignored, last word a prefix, all words in one turn', async () => {
    expect(idsOf((await list('?q=refund').expect(200)).body)).toEqual([ids.alice2, ids.alice1]);
    expect(idsOf((await list('?q=REFUND%20order').expect(200)).body)).toEqual([ids.alice1]);
    expect(idsOf((await list('?q=cafe%20resume').expect(200)).body)).toEqual([ids.bob]);
    expect(idsOf((await list('?q=caf%C3%A9').expect(200)).body)).toEqual([ids.bob]);
    expect(idsOf((await list('?q=refu').expect(200)).body)).toEqual([ids.alice2, ids.alice1]);
    expect(idsOf((await list('?q=refund&agent=support').expect(200)).body)).toEqual([ids.alice2]);
    // "refund" and "check" are both in alice1's call, but in different turns.
    expect((await list('?q=refund%20check').expect(200)).body.total).toBe(0);
    expect((await list('?q=banana').expect(200)).body).toMatchObject({ total: 0, items: [] });
    const second = await list('?q=refund&limit=1&offset=1').expect(200);
    expect(second.body).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect(idsOf(second.body)).toEqual([ids.alice1]);
    expect(idsOf((await list('?q=help').expect(200)).body)).toEqual([ids.live]);
    for (const q of ['"refund', "refund' OR 1=1 --", 'refund & !order', 'refund:*', 'a | b', '(refund']) {
      const res = await list(`?q=${encodeURIComponent(q)}`);
      expect(res.status).toBe(200);
    }
    expect((await list(`?q=${encodeURIComponent('refund | banana')}`)).body.total).toBe(0);
  });

  it('walks every call in keyset batches (the CSV export path) without a gap or a repeat', async () => {
    const seen: string[] = [];
    for await (const batch of iterateCalls(t.sb.db, {}, 2)) seen.push(...batch.map((c) => c.id));
    expect(seen).toEqual([ids.live, ids.carol, ids.alice2, ids.bob, ids.alice1]);
    const csv = await request(t.baseUrl).get('/api/calls/export.csv?q=refund').expect(200);
    const lines = csv.text.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain(ids.alice2);
  });

  it('shows a call in detail with its transcript in order, analytics and metadata; notes are saved', async () => {
    const res = await request(t.baseUrl).get(`/api/calls/${ids.alice1}`).expect(200);
    expect(res.body).toMatchObject({ id: ids.alice1, status: 'completed', analytics: { latencyP95Ms: 900 } });
    expect(res.body.metadata).toMatchObject({ language: 'en' });
    expect(res.body.transcripts.map((x: { text: string }) => x.text)).toEqual([
      'I would like a refund for my order',
      'Sure, let me check that order',
    ]);
    expect(res.body.events).toEqual([expect.objectContaining({ type: 'dtmf', data: { digit: '5' }, offsetMs: 1500 })]);
    await request(t.baseUrl).post(`/api/calls/${ids.bob}/notes`).send({ notes: 'called back, "cold"' }).expect(200);
    expect((await request(t.baseUrl).get(`/api/calls/${ids.bob}`).expect(200)).body.notes).toBe('called back, "cold"');
    await request(t.baseUrl).get('/api/calls/cnotacall0000000000000000').expect(404);
  });

  it('aggregates analytics by day and week, with p95 and per-stage figures', async () => {
    const res = await request(t.baseUrl)
      .get('/api/analytics?startDate=2026-03-01&endDate=2026-03-05&interval=day')
      .expect(200);
    const { summary, series } = res.body;
    expect(summary).toMatchObject({
      calls: 5,
      completed: 2,
      failed: 2,
      interrupted: 0,
      analyzedCalls: 3,
      totalDurationMs: 60_000 + 60_000 + 30_000 + 60_000,
      avgLatencyMs: 500,
      p95LatencyMs: 1200,
      interruptions: 2,
      sentiment: { positive: 1, neutral: 1, negative: 1, unknown: 2 },
      talk: { callerTalkMs: 20_000, agentTalkMs: 30_000, callerTalkRatio: 0.4 },
      cost: { totalUsd: 0.17, inputTokens: 100, outputTokens: 200 },
    });
    expect(summary.stages).toEqual({
      transcriptMs: { calls: 2, avgP50Ms: 150, p95Ms: 500 },
      firstTokenMs: { calls: 2, avgP50Ms: 151, p95Ms: 501 },
      firstSpeechByteMs: { calls: 2, avgP50Ms: 152, p95Ms: 502 },
    });
    expect(series.map((b: { start: string; calls: number }) => [b.start.slice(0, 10), b.calls])).toEqual([
      ['2026-03-01', 1],
      ['2026-03-02', 1],
      ['2026-03-03', 1],
      ['2026-03-04', 1],
      ['2026-03-05', 1],
    ]);
    expect(series[1]).toMatchObject({ failed: 1, avgLatencyMs: 600 });
    const week = await request(t.baseUrl)
      .get('/api/analytics?startDate=2026-03-01&endDate=2026-03-05&interval=week')
      .expect(200);
    // 2026-03-01 is a Sunday: its week starts Monday 2026-02-23; the next on 2026-03-02.
    expect(week.body.series.map((b: { start: string; calls: number }) => [b.start, b.calls])).toEqual([
      ['2026-02-23T00:00:00.000Z', 1],
      ['2026-03-02T00:00:00.000Z', 4],
    ]);
  });
});
