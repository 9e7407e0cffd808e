import request from 'supertest';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { seedCall } from '../../scripts/lib/seed';
import { iterateCalls } from '../../src/db/call-queries';

describe('calls API (/api/calls)', () => {
  let t: TestApp;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestApp();
    // Five calls on distinct days, oldest first.
    ids.alice1 = await seedCall(t.sb, {
      from: '+15550000001',
      agent: 'sales',
      startedAt: new Date('2026-03-01T09:00:00Z'),
      transcripts: [
        { speaker: 'caller', text: 'I would like a refund for my order', startMs: 1000 },
        { speaker: 'agent', text: 'Sure, let me check that order', startMs: 4000 },
      ],
      analytics: { sentimentLabel: 'negative', interruptions: 2, latencyP95Ms: 900, estimatedCostUsd: 0.12 },
    });
    ids.bob = await seedCall(t.sb, {
      from: '+15550000002',
      agent: 'support',
      provider: 'telnyx',
      status: 'failed',
      startedAt: new Date('2026-03-02T10:00:00Z'),
      transcripts: [{ speaker: 'caller', text: 'Le café était froid, résumé demain', startMs: 500 }],
      analytics: { sentimentLabel: 'neutral' },
    });
    ids.alice2 = await seedCall(t.sb, {
      from: '+15550000001',
      agent: 'support',
      startedAt: new Date('2026-03-03T11:00:00Z'),
      transcripts: [{ speaker: 'caller', text: 'Thanks, the refund arrived', startMs: 700 }],
      analytics: { sentimentLabel: 'positive' },
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
  });
  afterAll(() => t.close());

  const list = (query: string) => request(t.baseUrl).get(`/api/calls${query}`);
  const idsOf = (body: { items: { id: string }[] }): string[] => body.items.map((c) => c.id);

  describe('filter by caller channel', () => {
    it('lists each call with its channel and filters on it', async () => {
      const all = await list('').expect(200);
      const bob = (all.body.items as { id: string; provider: string }[]).find((c) => c.id === ids.bob);
      expect(bob?.provider).toBe('telnyx');
      const telnyx = await list('?provider=telnyx').expect(200);
      expect(idsOf(telnyx.body)).toEqual([ids.bob]);
      const twilio = await list('?provider=twilio').expect(200);
      expect(twilio.body.total).toBe(4);
      expect(idsOf(twilio.body)).not.toContain(ids.bob);
    });

    it('refuses a malformed channel name with 400 naming the field', async () => {
      for (const bad of ['TWILIO', "x' OR 1=1", 'a'.repeat(40), '-x']) {
        const res = await list(`?provider=${encodeURIComponent(bad)}`).expect(400);
        expect(JSON.stringify(res.body)).toContain('provider');
      }
    });
  });

  describe('listing and pagination', () => {
    it('lists every call newest first with the total and the default limit', async () => {
      const res = await list('').expect(200);
      expect(res.body).toMatchObject({ total: 5, limit: 20, offset: 0 });
      expect(idsOf(res.body)).toEqual([ids.live, ids.carol, ids.alice2, ids.bob, ids.alice1]);
      const first = res.body.items[4];
      expect(first).toMatchObject({
        id: ids.alice1,
        from: '+15550000001',
        agent: 'sales',
        status: 'completed',
        startedAt: '2026-03-01T09:00:00.000Z',
        endedAt: '2026-03-01T09:01:00.000Z',
        durationMs: 60000,
        sentiment: 'negative',
        interruptions: 2,
        latencyP95Ms: 900,
        estimatedCostUsd: 0.12,
        hasRecording: false,
      });
    });

    it('pages with limit and offset, the last page being short and a page past the end empty', async () => {
      const p1 = await list('?limit=2&offset=0').expect(200);
      const p2 = await list('?limit=2&offset=2').expect(200);
      const p3 = await list('?limit=2&offset=4').expect(200);
      const p4 = await list('?limit=2&offset=5').expect(200);
      expect(idsOf(p1.body)).toEqual([ids.live, ids.carol]);
      expect(idsOf(p2.body)).toEqual([ids.alice2, ids.bob]);
      expect(idsOf(p3.body)).toEqual([ids.alice1]);
      expect(p4.body).toEqual({ items: [], total: 5, limit: 2, offset: 5 });
      expect((await list('?limit=100&offset=999999999').expect(200)).body.items).toEqual([]);
    });

    it.each([
      ['limit=0', 'limit'],
      ['limit=-1', 'limit'],
      ['limit=101', 'limit'],
      ['limit=99999999999999999999', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1.5', 'limit'],
      ['limit=1&limit=2', 'limit'],
      ['offset=-1', 'offset'],
      ['offset=x', 'offset'],
      ['offset=1000000001', 'offset'],
    ])('refuses %s with a 400 naming %s', async (query, field) => {
      const res = await list(`?${query}`).expect(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_parameter', field });
      expect(res.body.error.message).toMatch(new RegExp(`^${field}: `));
    });
  });

  describe('filters', () => {
    it('filters by caller, agent, status and sentiment, alone and combined', async () => {
      expect(idsOf((await list('?caller=%2B15550000001').expect(200)).body)).toEqual([ids.alice2, ids.alice1]);
      expect(idsOf((await list('?agent=support').expect(200)).body)).toEqual([ids.alice2, ids.bob]);
      expect(idsOf((await list('?status=failed').expect(200)).body)).toEqual([ids.bob]);
      expect(idsOf((await list('?status=streaming').expect(200)).body)).toEqual([ids.live]);
      expect(idsOf((await list('?sentiment=positive').expect(200)).body)).toEqual([ids.alice2]);
      const combined = await list('?caller=%2B15550000001&agent=sales&sentiment=negative').expect(200);
      expect(combined.body).toMatchObject({ total: 1 });
      expect(idsOf(combined.body)).toEqual([ids.alice1]);
      expect((await list('?caller=%2B19999999999').expect(200)).body).toMatchObject({ total: 0, items: [] });
    });

    it('filters by start and end date; a date-only endDate includes that whole UTC day', async () => {
      expect(idsOf((await list('?startDate=2026-03-03').expect(200)).body)).toEqual([ids.live, ids.carol, ids.alice2]);
      expect(idsOf((await list('?endDate=2026-03-02').expect(200)).body)).toEqual([ids.bob, ids.alice1]);
      expect(idsOf((await list('?startDate=2026-03-04&endDate=2026-03-04').expect(200)).body)).toEqual([ids.carol]);
      const exact = await list('?startDate=2026-03-02T10:00:00Z&endDate=2026-03-03T10:59:59%2B00:00').expect(200);
      expect(idsOf(exact.body)).toEqual([ids.bob]);
      const zoned = await list('?startDate=2026-03-03T12:00:00%2B01:00&endDate=2026-03-03T12:00:00%2B01:00').expect(
        200,
      );
      expect(idsOf(zoned.body)).toEqual([ids.alice2]);
    });

    it('searches transcript text: words in any case, accents ignored, last word as a prefix, all words required', async () => {
      expect(idsOf((await list('?q=refund').expect(200)).body)).toEqual([ids.alice2, ids.alice1]);
      expect(idsOf((await list('?q=REFUND%20order').expect(200)).body)).toEqual([ids.alice1]);
      expect(idsOf((await list('?q=cafe%20resume').expect(200)).body)).toEqual([ids.bob]);
      expect(idsOf((await list('?q=refu').expect(200)).body)).toEqual([ids.alice2, ids.alice1]);
      expect(idsOf((await list('?q=refund&agent=support').expect(200)).body)).toEqual([ids.alice2]);
      expect((await list('?q=banana').expect(200)).body).toMatchObject({ total: 0, items: [] });
      const second = await list('?q=refund&limit=1&offset=1').expect(200);
      expect(second.body).toMatchObject({ total: 2, limit: 1, offset: 1 });
      expect(idsOf(second.body)).toEqual([ids.alice1]);
      expect((await list('?q=refund&offset=2').expect(200)).body).toMatchObject({ total: 2, items: [] });
      // A call still in progress is searchable once its transcript is flushed.
      expect(idsOf((await list('?q=help').expect(200)).body)).toEqual([ids.live]);
    });

    it('treats search operators and quotes in q as plain text, never as a syntax error', async () => {
      for (const q of [
        '"refund',
        'refund OR banana',
        'NEAR(refund order)',
        'refund*',
        'order AND',
        '-refund',
        'col:refund',
      ]) {
        const res = await list(`?q=${encodeURIComponent(q)}`);
        expect(res.status).toBe(200);
      }
      expect((await list(`?q=${encodeURIComponent('refund OR banana')}`)).body.total).toBe(0);
      const res = await list(`?q=${encodeURIComponent('!!! ???')}`).expect(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_parameter', field: 'q' });
      expect((await list(`?q=${'a'.repeat(201)}`).expect(400)).body.error.field).toBe('q');
    });

    it.each([
      ['startDate=yesterday', 'startDate'],
      ['startDate=2026-13-01', 'startDate'],
      ['startDate=2026-02-30', 'startDate'],
      ['startDate=2026-03-01T25:00:00Z', 'startDate'],
      ['startDate=2026-03-01T10:00:00', 'startDate'],
      ['endDate=1709251200000', 'endDate'],
      ['startDate=2026-03-05&endDate=2026-03-01', 'endDate'],
      ['status=done', 'status'],
      ['sentiment=happy', 'sentiment'],
      ['caller=' + '1'.repeat(101), 'caller'],
    ])('refuses %s with a 400 naming %s', async (query, field) => {
      const res = await list(`?${query}`).expect(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_parameter', field });
    });
  });

  describe('one call', () => {
    it('returns the call with ordered transcripts, analytics, metadata, events and recordings', async () => {
      const res = await request(t.baseUrl).get(`/api/calls/${ids.alice1}`).expect(200);
      expect(res.body).toMatchObject({
        id: ids.alice1,
        status: 'completed',
        from: '+15550000001',
        startedAt: '2026-03-01T09:00:00.000Z',
        analytics: { sentimentLabel: 'negative', interruptions: 2, latencyP95Ms: 900 },
        metadata: { language: 'en', region: 'us' },
        recordings: [],
      });
      expect(res.body.transcripts.map((x: { text: string }) => x.text)).toEqual([
        'I would like a refund for my order',
        'Sure, let me check that order',
      ]);
      expect(Array.isArray(res.body.events)).toBe(true);
    });

    it('orders transcripts by their offset in the call, not by arrival', async () => {
      const id = await seedCall(t.sb, {
        startedAt: new Date('2020-01-01T00:00:00Z'),
        transcripts: [
          { speaker: 'agent', text: 'third', startMs: 3000 },
          { speaker: 'caller', text: 'first', startMs: 1000 },
          { speaker: 'agent', text: 'second', startMs: 2000 },
        ],
      });
      const res = await request(t.baseUrl).get(`/api/calls/${id}`).expect(200);
      expect(res.body.transcripts.map((x: { text: string }) => x.text)).toEqual(['first', 'second', 'third']);
      await t.sb.db.call.delete({ where: { id } });
    });

    it('answers 404 for an unknown id and 400 for odd ids, never 500', async () => {
      const unknown = await request(t.baseUrl).get('/api/calls/cnotacall0000000000000000').expect(404);
      expect(unknown.body).toEqual({ error: { code: 'not_found', message: 'call not found' } });
      for (const odd of ['..%2F..%2Fetc%2Fpasswd', 'a'.repeat(65), 'id%20with%20space', '%00', "x'%20OR%201=1"]) {
        const res = await request(t.baseUrl).get(`/api/calls/${odd}`);
        expect(res.status).toBe(400);
        expect(res.body.error).toMatchObject({ code: 'invalid_parameter', field: 'id' });
      }
      // `..` as a path segment is resolved by the URL itself: never a 500.
      expect((await request(t.baseUrl).get('/api/calls/../../etc/passwd')).status).toBe(404);
    });
  });

  describe('notes', () => {
    const post = (id: string) => request(t.baseUrl).post(`/api/calls/${id}/notes`);

    it('saves the notes and writes nothing else (updatedAt included)', async () => {
      const before = await t.sb.db.call.findUniqueOrThrow({ where: { id: ids.bob } });
      const res = await post(ids.bob).send({ notes: 'Called back, "cold coffee", refund sent' }).expect(200);
      expect(res.body).toEqual({ id: ids.bob, notes: 'Called back, "cold coffee", refund sent' });
      const after = await t.sb.db.call.findUniqueOrThrow({ where: { id: ids.bob } });
      expect(after).toEqual({ ...before, notes: 'Called back, "cold coffee", refund sent' });
      const detail = await request(t.baseUrl).get(`/api/calls/${ids.bob}`).expect(200);
      expect(detail.body.notes).toBe('Called back, "cold coffee", refund sent');
      await post(ids.bob).send({ notes: '' }).expect(200);
      expect((await t.sb.db.call.findUniqueOrThrow({ where: { id: ids.bob } })).notes).toBe('');
    });

    it('refuses a missing, non-string or oversized note, bad JSON, a huge body, and unknown ids', async () => {
      expect((await post(ids.bob).send({}).expect(400)).body.error).toMatchObject({ field: 'notes' });
      expect((await post(ids.bob).send({ notes: 42 }).expect(400)).body.error).toMatchObject({ field: 'notes' });
      expect(
        (
          await post(ids.bob)
            .send({ notes: 'x'.repeat(10_001) })
            .expect(400)
        ).body.error,
      ).toMatchObject({
        code: 'invalid_parameter',
        field: 'notes',
      });
      await post(ids.bob)
        .send({ notes: 'x'.repeat(10_000) })
        .expect(200);
      expect((await post(ids.bob).send([1, 2]).expect(400)).body.error.code).toBe('invalid_body');
      const bad = await post(ids.bob).set('Content-Type', 'application/json').send('{"notes": ').expect(400);
      expect(bad.body.error.code).toBe('invalid_body');
      expect((await post(ids.bob).send('notes=plain').expect(400)).body.error.code).toBe('invalid_body');
      const huge = await post(ids.bob)
        .send({ notes: 'x'.repeat(70_000) })
        .expect(413);
      expect(huge.body.error.code).toBe('payload_too_large');
      await post('cnotacall0000000000000000').send({ notes: 'x' }).expect(404);
      expect((await post('..%2Fx').send({ notes: 'x' }).expect(400)).body.error.field).toBe('id');
    });
  });

  describe('CSV export', () => {
    const parseCsv = (text: string): string[][] => {
      const rows: string[][] = [];
      let row: string[] = [];
      let field = '';
      let quoted = false;
      for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (quoted) {
          if (ch === '"' && text[i + 1] === '"') {
            field += '"';
            i++;
          } else if (ch === '"') quoted = false;
          else field += ch;
        } else if (ch === '"') quoted = true;
        else if (ch === ',') {
          row.push(field);
          field = '';
        } else if (ch === '\r' && text[i + 1] === '\n') {
          row.push(field);
          rows.push(row);
          row = [];
          field = '';
          i++;
        } else field += ch;
      }
      return rows;
    };

    it('exports the filtered list as CSV with a header, newest first, escaping text', async () => {
      await request(t.baseUrl)
        .post(`/api/calls/${ids.alice2}/notes`)
        .send({ notes: 'line1\nsaid "hi", ok' })
        .expect(200);
      await request(t.baseUrl).post(`/api/calls/${ids.alice1}/notes`).send({ notes: '=HYPERLINK("x")' }).expect(200);
      const res = await request(t.baseUrl).get('/api/calls/export.csv?caller=%2B15550000001').expect(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="calls-\d{4}-\d{2}-\d{2}\.csv"$/);
      const rows = parseCsv(res.text);
      const header = rows[0];
      expect(header.slice(0, 3)).toEqual(['id', 'callSid', 'startedAt']);
      expect(rows).toHaveLength(3);
      const col = (name: string) => header.indexOf(name);
      expect(rows.slice(1).map((r) => r[col('id')])).toEqual([ids.alice2, ids.alice1]);
      expect(rows[1][col('notes')]).toBe('line1\nsaid "hi", ok');
      expect(rows[2][col('notes')]).toBe(`'=HYPERLINK("x")`);
      expect(rows[1][col('from')]).toBe('+15550000001');
      expect(rows[2][col('sentiment')]).toBe('negative');
    });

    it('walks every matching call in keyset batches, newest first, with no row lost or repeated', async () => {
      const batches: string[][] = [];
      for await (const batch of iterateCalls(t.sb.db, {}, 2)) batches.push(batch.map((c) => c.id));
      expect(batches).toEqual([[ids.live, ids.carol], [ids.alice2, ids.bob], [ids.alice1]]);
      const searched: string[] = [];
      for await (const batch of iterateCalls(t.sb.db, { q: 'refund' }, 1)) searched.push(...batch.map((c) => c.id));
      expect(searched).toEqual([ids.alice2, ids.alice1]);
    });

    it('exports every matching call, and applies q and validation like the list', async () => {
      const all = await request(t.baseUrl).get('/api/calls/export.csv').expect(200);
      expect(parseCsv(all.text)).toHaveLength(1 + 5);
      const q = await request(t.baseUrl).get('/api/calls/export.csv?q=refund&status=completed').expect(200);
      expect(parseCsv(q.text)).toHaveLength(1 + 2);
      const bad = await request(t.baseUrl).get('/api/calls/export.csv?startDate=nope').expect(400);
      expect(bad.body.error.field).toBe('startDate');
    });
  });
});
