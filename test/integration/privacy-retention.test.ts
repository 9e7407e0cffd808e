/**
 * The retention job on a real SQLite database and real files: exactly what is past its profile's
 * age goes (recording files and rows, transcripts and timeline, whole calls), nothing on legal hold,
 * nothing younger, nothing in progress. And the policy file: every bad setting named at start.
 */
import path from 'node:path';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { buildPrivacyPolicy } from '../../src/privacy/policy';
import { RetentionJob } from '../../src/privacy/retention';
import { createApp } from '../../src/app';
import { testConfig } from '../../src/config';

const DAY = 86_400_000;

describe('retention', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  async function seed(
    name: string,
    agent: string,
    ageDays: number,
    extra: { legalHold?: boolean; endedAt?: Date | null } = {},
  ) {
    const startedAt = new Date(Date.now() - ageDays * DAY);
    const rel = path.join('seed', `${name}.wav`);
    mkdirSync(path.join(t.sb.recordingsDir, 'seed'), { recursive: true });
    writeFileSync(path.join(t.sb.recordingsDir, rel), Buffer.alloc(1000, 1));
    const call = await t.sb.db.call.create({
      data: {
        from: '+15550001111',
        agent,
        status: 'completed',
        startedAt,
        endedAt: extra.endedAt === undefined ? new Date(startedAt.getTime() + 60_000) : extra.endedAt,
        legalHold: extra.legalHold ?? false,
        transcripts: { create: [{ speaker: 'caller', text: `secret of ${name}`, startMs: 0, endMs: 500 }] },
        events: { create: [{ type: 'dtmf', data: { digit: '5' } }] },
        recordings: {
          create: [{ path: rel, sampleRateHz: 8000, channels: 2, durationMs: 1000, sizeBytes: 1000 }],
        },
      },
    });
    return { id: call.id, file: path.join(t.sb.recordingsDir, rel) };
  }

  it('deletes exactly what is past its age, per profile, and nothing on hold or in progress', async () => {
    const policy = buildPrivacyPolicy({
      default: { retention: { recordingsDays: 30, transcriptsDays: 90 } },
      profiles: { brief: { retention: { callsDays: 7 } }, forever: { retention: { recordingsDays: null } } },
    });
    const c = {
      young: await seed('young', 'default', 10),
      oldRec: await seed('oldRec', 'default', 40),
      oldAll: await seed('oldAll', 'default', 100),
      held: await seed('held', 'default', 100, { legalHold: true }),
      live: await seed('live', 'default', 100),
      open: await seed('open', 'default', 100, { endedAt: null }),
      briefOld: await seed('briefOld', 'brief', 8),
      briefYoung: await seed('briefYoung', 'brief', 6),
      forever: await seed('forever', 'forever', 400),
    };
    const job = new RetentionJob({
      db: t.sb.db,
      policy,
      recordingsDir: t.sb.recordingsDir,
      logger: t.sb.logger,
      isActive: (id) => id === c.live.id,
    });
    expect(job.enabled).toBe(true);
    const report = await job.runOnce();
    // oldRec, oldAll and briefOld's recordings; oldAll's and forever's transcripts (a profile inherits the
    // default's limits unless it sets its own); briefOld whole.
    expect(report).toEqual({ recordings: 3, transcripts: 2, events: 2, calls: 1 });

    const db = t.sb.db;
    const state = async (k: keyof typeof c) => {
      const call = await db.call.findUnique({
        where: { id: c[k].id },
        include: { transcripts: true, recordings: true, events: true },
      });
      return call
        ? {
            call: true,
            transcripts: call.transcripts.length,
            recordings: call.recordings.length,
            file: existsSync(c[k].file),
          }
        : { call: false, file: existsSync(c[k].file) };
    };
    const kept = { call: true, transcripts: 1, recordings: 1, file: true };
    expect(await state('young')).toEqual(kept);
    expect(await state('oldRec')).toEqual({ call: true, transcripts: 1, recordings: 0, file: false });
    expect(await state('oldAll')).toEqual({ call: true, transcripts: 0, recordings: 0, file: false });
    expect(await db.callEvent.count({ where: { callId: c.oldAll.id } })).toBe(0);
    expect(await state('held')).toEqual(kept);
    expect(await state('live')).toEqual(kept);
    expect(await state('open')).toEqual(kept);
    expect(await state('briefOld')).toEqual({ call: false, file: false });
    expect(await state('briefYoung')).toEqual(kept);
    expect(await state('forever')).toEqual({ call: true, transcripts: 0, recordings: 1, file: true });

    // A second run finds nothing more.
    expect(await job.runOnce()).toEqual({ recordings: 0, transcripts: 0, events: 0, calls: 0 });
  });

  it('is off without retention settings', () => {
    const job = new RetentionJob({
      db: t.sb.db,
      policy: buildPrivacyPolicy(undefined),
      recordingsDir: t.sb.recordingsDir,
      logger: t.sb.logger,
      isActive: () => false,
    });
    expect(job.enabled).toBe(false);
  });

  it('refuses to start with a bad PRIVACY_POLICY_FILE, naming every problem', async () => {
    const file = path.join(t.tmp.dir, 'policy.json');
    writeFileSync(
      file,
      JSON.stringify({
        default: { redact: ['card', 'dna'], retention: { recordingsDays: 0 } },
        profiles: { x: { optOut: { digit: '55' }, colour: 'red' } },
        extra: 1,
      }),
    );
    const config = testConfig({
      DATABASE_URL: `file:${path.join(t.tmp.dir, 'never.db')}`,
      RECORDING_STORAGE_PATH: t.tmp.recordingsDir,
      PRIVACY_POLICY_FILE: file,
    });
    const err = (await createApp(config).catch((e: unknown) => e)) as { problems?: string[] };
    expect(err.problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('extra: unknown setting'),
        expect.stringContaining('default.redact'),
        expect.stringContaining('default.retention.recordingsDays'),
        expect.stringContaining('profiles.x.optOut'),
        expect.stringContaining('profiles.x.colour: unknown setting'),
      ]),
    );
    writeFileSync(file, '{ not json');
    const err2 = (await createApp(config).catch((e: unknown) => e)) as { problems?: string[] };
    expect(err2.problems?.[0]).toMatch(/PRIVACY_POLICY_FILE: cannot read/);
  });
});
