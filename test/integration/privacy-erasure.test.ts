/**
 * Erasure, export, legal hold and the access audit on the real app with real calls: who may do what
 * (missing, forged, read-only and supervisor tokens), other ids and path spellings, bad and huge
 * bodies; the export's zip read back; after erasure by number, the number is searched for in the
 * database files and the recordings folder, byte for byte.
 */
import path from 'node:path';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import request from 'supertest';
import yauzl from 'yauzl';
import { connectSse } from '../../scripts/lib/sse-client';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const ADMIN = 'admin-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
const SUPERVISOR = 'super-token-0123456789abcdef';
const NUMBER = '+15557771234';
const OTHER = '+15558889999';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile());
}

function unzip(buffer: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('no zip'));
      const out = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

const binary = (res: request.Response, cb: (err: Error | null, body: Buffer) => void): void => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

describe('erasure, export, legal hold and the access audit', () => {
  let h: BridgeHarness;
  const ids: Record<string, string> = {};
  const api = () => request(h.t.baseUrl);
  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

  beforeAll(async () => {
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hello.', 'Bye.'], callerTranscripts: ['I would like to close my account'] },
      { API_TOKENS: `admin:alice:${ADMIN},read-only:bob:${READER},supervisor:sue:${SUPERVISOR}` },
    );
    const script = [
      { untilAgentSilentMs: 400 },
      { say: 'I would like to close my account' },
      { untilAgentSilentMs: 400 },
    ];
    const calls = [
      ['a', NUMBER],
      ['b', NUMBER],
      ['c', OTHER],
    ] as const;
    const summaries = await Promise.all(
      calls.map(([, from]) => h.call({ from, ttsEngine: 'tone', script: script as never }).done),
    );
    for (const [i, [key]] of calls.entries()) {
      const sid = summaries[i].callSid;
      const call = await eventually(async () => {
        const c = await h.t.sb.db.call.findFirst({ where: { callSid: sid }, include: { recordings: true } });
        return c?.recordings.length && c.endedAt ? c : null;
      }, 20_000);
      ids[key] = call.id;
    }
  }, 120_000);
  afterAll(() => h.close());

  it('lets only an admin token erase, hold, export or read the audit', async () => {
    const id = ids.c;
    await api().delete(`/api/calls/${id}`).expect(401);
    await api().delete(`/api/calls/${id}`).set(auth('forged-token-0123456789abcdef')).expect(401);
    const ro = await api().delete(`/api/calls/${id}`).set(auth(READER)).expect(403);
    expect(ro.body.error.code).toBe('forbidden');
    await api().delete(`/api/calls/${id}`).set(auth(SUPERVISOR)).expect(403);
    await api().delete(`/api/calls/${id}?access_token=${ADMIN}`).expect(401);
    await api().put(`/api/calls/${id}/legal-hold`).set(auth(SUPERVISOR)).send({ hold: true }).expect(403);
    await api().post('/api/privacy/export').set(auth(READER)).send({ number: NUMBER }).expect(403);
    await api().post('/api/privacy/erasure').set(auth(SUPERVISOR)).send({ number: NUMBER }).expect(403);
    await api().get('/api/audit').set(auth(READER)).expect(403);
    await api().get('/api/audit.csv').set(auth(SUPERVISOR)).expect(403);
    // Nothing was erased by any of these.
    expect((await h.t.sb.db.call.findUnique({ where: { id } }))?.erasedAt).toBeNull();
  });

  it('refuses bad ids, numbers and bodies with a clear error', async () => {
    await api().delete('/api/calls/no-such-call').set(auth(ADMIN)).expect(404);
    await api().delete('/api/calls/..%2F..%2Fetc').set(auth(ADMIN)).expect(400);
    await api()
      .delete(`/api/calls/${'x'.repeat(100)}`)
      .set(auth(ADMIN))
      .expect(400);
    for (const body of [{}, { number: '5557771234' }, { number: ['+15557771234'] }, { number: '+1555777123456789' }]) {
      const res = await api().post('/api/privacy/erasure').set(auth(ADMIN)).send(body).expect(400);
      expect(res.body.error.field).toBe('number');
    }
    await api()
      .post('/api/privacy/export')
      .set(auth(ADMIN))
      .set('Content-Type', 'application/json')
      .send('{"number":')
      .expect(400);
    const huge = await api()
      .post('/api/privacy/erasure')
      .set(auth(ADMIN))
      .send({ number: NUMBER, pad: 'x'.repeat(100_000) });
    expect(huge.status).toBe(413);
    await api().put(`/api/calls/${ids.a}/legal-hold`).set(auth(ADMIN)).send({ hold: 'yes' }).expect(400);
    await api().put('/api/calls/nope/legal-hold').set(auth(ADMIN)).send({ hold: true }).expect(404);
    expect(await h.t.sb.db.call.count({ where: { erasedAt: { not: null } } })).toBe(0);
  });

  it('exports everything about a number as a zip of JSON and recordings', async () => {
    const res = await api()
      .post('/api/privacy/export')
      .set(auth(ADMIN))
      .send({ number: NUMBER })
      .buffer(true)
      .parse(binary)
      .expect(200);
    expect(res.headers['content-type']).toBe('application/zip');
    const files = await unzip(res.body as Buffer);
    const data = JSON.parse(files.get('calls.json')!.toString('utf8')) as {
      number: string;
      calls: Array<{ id: string; from: string; transcripts: { text: string }[] }>;
    };
    expect(data.number).toBe(NUMBER);
    expect(data.calls.map((c) => c.id).sort()).toEqual([ids.a, ids.b].sort());
    expect(data.calls.every((c) => c.from === NUMBER)).toBe(true);
    expect(data.calls[0].transcripts.some((t) => t.text.includes('close my account'))).toBe(true);
    for (const id of [ids.a, ids.b]) {
      const wav = files.get(`recordings/${id}.wav`)!;
      expect(wav.subarray(0, 4).toString()).toBe('RIFF');
      expect(wav.length).toBeGreaterThan(8000);
    }
    expect([...files.keys()].some((k) => k.includes(ids.c))).toBe(false);
  });

  it('erases by number except calls on legal hold, and leaves no trace of the number in the files', async () => {
    // Reads to be audited, by the read-only token.
    await api().get(`/api/calls/${ids.a}`).set(auth(READER)).expect(200);
    await api().get(`/api/calls/${ids.a}/recording`).set(auth(READER)).set('Range', 'bytes=0-99').expect(206);
    await api().get(`/api/calls/${ids.a}/recording`).set(auth(READER)).set('Range', 'bytes=100-199').expect(206);
    await api().get(`/api/calls/${ids.a}/recording?download=true`).set(auth(READER)).expect(200);
    await api()
      .get(`/api/calls?caller=${encodeURIComponent(NUMBER)}`)
      .set(auth(READER))
      .expect(200);
    // The live stream (SSE) is audited when it opens.
    const sse = await connectSse(`${h.t.baseUrl}/api/status`, auth(READER));
    await sse.waitFor((m) => m.event === 'snapshot');
    sse.close();

    await api().put(`/api/calls/${ids.b}/legal-hold`).set(auth(ADMIN)).send({ hold: true }).expect(200);
    const first = await api().post('/api/privacy/erasure').set(auth(ADMIN)).send({ number: NUMBER }).expect(200);
    expect(first.body).toEqual({ calls: 1, files: 1, held: 1, active: 0 });
    await api().delete(`/api/calls/${ids.b}`).set(auth(ADMIN)).expect(409);
    await api().put(`/api/calls/${ids.b}/legal-hold`).set(auth(ADMIN)).send({ hold: false }).expect(200);
    // Other spellings: routes are case-sensitive (another case reaches nothing); a trailing slash is the route.
    await api().delete(`/API/CALLS/${ids.b}`).set(auth(ADMIN)).expect(404);
    await api().delete(`/api/calls/${ids.b}%2F`).set(auth(ADMIN)).expect(400);
    expect((await h.t.sb.db.call.findUnique({ where: { id: ids.b } }))?.erasedAt).toBeNull();
    const second = await api().delete(`/api/calls/${ids.b}/`).set(auth(ADMIN)).expect(200);
    expect(second.body).toEqual({ callId: ids.b, erased: true, files: 1 });
    // Erasing again is harmless; a tombstone is not held.
    await api().delete(`/api/calls/${ids.b}`).set(auth(ADMIN)).expect(200);
    await api().put(`/api/calls/${ids.b}/legal-hold`).set(auth(ADMIN)).send({ hold: true }).expect(404);

    const db = h.t.sb.db;
    for (const id of [ids.a, ids.b]) {
      const call = await db.call.findUnique({ where: { id } });
      expect(call).toMatchObject({ from: null, to: null, callSid: null, notes: null });
      expect(call!.erasedAt).not.toBeNull();
      expect(await db.transcript.count({ where: { callId: id } })).toBe(0);
      expect(await db.recording.count({ where: { callId: id } })).toBe(0);
      expect(await db.callEvent.count({ where: { callId: id } })).toBe(0);
      expect(await db.analytics.count({ where: { callId: id } })).toBe(0);
    }
    // The other caller's call is untouched.
    const kept = await db.call.findUnique({ where: { id: ids.c }, include: { recordings: true, transcripts: true } });
    expect(kept).toMatchObject({ from: OTHER, erasedAt: null });
    expect(kept!.transcripts.length).toBeGreaterThan(0);

    // Byte for byte: the database, its WAL and every recording left.
    await h.t.sb.callManager.flush();
    const digits = NUMBER.slice(2);
    const dbFiles = readdirSync(h.t.tmp.dir)
      .filter((f) => /\.db(-wal)?$/.test(f))
      .map((f) => path.join(h.t.tmp.dir, f));
    expect(dbFiles.length).toBeGreaterThan(0);
    for (const f of dbFiles) {
      const bytes = readFileSync(f);
      expect(bytes.includes(Buffer.from(digits))).toBe(false);
      expect(bytes.includes(Buffer.from(digits, 'utf16le'))).toBe(false);
    }
    expect(readFileSync(dbFiles[0]).includes(Buffer.from(OTHER.slice(2)))).toBe(true);
    const recordings = filesUnder(h.t.sb.recordingsDir);
    expect(recordings.some((f) => f.includes(ids.c))).toBe(true);
    expect(recordings.some((f) => f.includes(ids.a) || f.includes(ids.b))).toBe(false);
  });

  it('audits every access, append-only, queryable and exportable by an admin', async () => {
    const res = await api().get('/api/audit?limit=500').set(auth(ADMIN)).expect(200);
    const items = res.body.items as Array<{ actor: string; role: string; action: string; target: string | null }>;
    const has = (actor: string, action: string, target?: string | null) =>
      items.some((e) => e.actor === actor && e.action === action && (target === undefined || e.target === target));
    expect(has('bob', 'read', ids.a)).toBe(true);
    // Two Range requests of one recording within a minute: one entry.
    expect(items.filter((e) => e.actor === 'bob' && e.action === 'listen' && e.target === ids.a)).toHaveLength(1);
    expect(has('bob', 'download', ids.a)).toBe(true);
    expect(has('bob', 'list')).toBe(true);
    expect(has('bob', 'watch', 'live')).toBe(true);
    expect(has('alice', 'export', '+*********34')).toBe(true);
    expect(has('alice', 'erase', '+*********34')).toBe(true);
    expect(has('alice', 'hold', ids.b)).toBe(true);
    expect(has('alice', 'release', ids.b)).toBe(true);
    expect(has('alice', 'delete', ids.b)).toBe(true);
    // Refused attempts changed nothing and are not "accesses".
    expect(has('bob', 'delete')).toBe(false);
    expect(JSON.stringify(items)).not.toContain(NUMBER);
    expect(JSON.stringify(items)).not.toContain(ADMIN);

    const filtered = await api().get('/api/audit?actor=bob&action=download').set(auth(ADMIN)).expect(200);
    expect(filtered.body.total).toBe(1);
    await api().get('/api/audit?action=steal').set(auth(ADMIN)).expect(400);
    const csv = await api().get('/api/audit.csv?actor=alice').set(auth(ADMIN)).expect(200);
    expect(csv.text.split('\r\n')[0]).toBe('id,at,actor,role,action,target,ip,detail');
    expect(csv.text).toContain(',erase,');

    // Append-only: the database itself refuses to change or delete an entry.
    // (The driver adapter reports the trigger's RAISE(ABORT) as a constraint violation.)
    const before = await h.t.sb.db.auditEntry.count();
    await expect(h.t.sb.db.auditEntry.updateMany({ data: { actor: 'nobody' } })).rejects.toThrow();
    await expect(h.t.sb.db.auditEntry.deleteMany({})).rejects.toThrow();
    await expect(h.t.sb.db.$executeRawUnsafe('DELETE FROM "AuditEntry"')).rejects.toThrow(/append-only/);
    expect(await h.t.sb.db.auditEntry.count()).toBe(before);
    expect(await h.t.sb.db.auditEntry.count({ where: { actor: 'nobody' } })).toBe(0);
  });
});
