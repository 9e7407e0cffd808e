/**
 * Per-stage turn latency of the cascaded engine, end to end: a whole Twilio call through the app with
 * provider fakes that take known times (ASR 150 ms, first token 250 ms, first speech byte 200 ms);
 * the figures are stored with the call's analytics, served by the call detail and /api/analytics,
 * and exported in /metrics.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { FakeProviders } from '../../src/simulators/providers';

const ASR_MS = 150;
const TOKEN_MS = 250;
const SPEECH_MS = 200;

interface StageSummary {
  p50: number | null;
  p95: number | null;
  max: number | null;
  count: number;
}
interface StoredStages {
  turns: Record<string, number | string>[];
  summary: Record<string, StageSummary>;
}

describe('per-stage turn latency of the cascaded engine', () => {
  let fake: FakeProviders;
  let h: BridgeHarness;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pipeline-latency-'));
    const profiles = join(dir, 'profiles.json');
    writeFileSync(
      profiles,
      JSON.stringify({ profiles: { cascade: { engine: 'pipeline', numbers: ['+15559990000'] } } }),
    );
    fake = await FakeProviders.start({
      apiKey: 'fake-provider-key',
      stt: { transcripts: [], asrDelayMs: ASR_MS },
      chat: { firstTokenDelayMs: TOKEN_MS },
      speech: { firstByteDelayMs: SPEECH_MS },
    });
    h = await startBridgeHarness(
      { ttsEngine: 'tone' },
      {
        ...fake.env(),
        AGENT_PROFILES_FILE: profiles,
        PIPELINE_STT: 'deepgram',
        PIPELINE_LLM: 'openai',
        PIPELINE_TTS: 'openai',
        OPENAI_API_KEY: 'fake-provider-key',
        PIPELINE_STAGE_TIMEOUT_MS: '4000',
      },
    );
  });

  afterAll(async () => {
    await h.close();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores each turn and a p50/p95 per stage, serves them and exports a histogram per stage', async () => {
    const startDate = new Date(Date.now() - 60_000).toISOString();
    fake.options.stt!.transcripts = ['I would like to check my balance', 'and my last payment please'];
    const handle = h.call({
      script: [
        { untilAgentSilentMs: 700 },
        { say: 'hello there I need help' },
        { untilAgentSilentMs: 700 },
        { say: 'and the last payment' },
        { untilAgentSilentMs: 700 },
        { silenceMs: 200 },
      ],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({ where: { callSid: summary.callSid }, include: { analytics: true } });
      return c?.analytics ? c : null;
    }, 15_000);

    // Two caller turns (the greeting answers no caller speech, so it has no stage figures).
    const stored = call.analytics!.stageLatencies as unknown as StoredStages;
    expect(stored.turns).toHaveLength(2);
    for (const turn of stored.turns) {
      const t = turn as Record<string, number>;
      // Each stage waits for the one before it; each fake's delay is a floor (generous ceilings: loaded machine).
      expect(t.transcriptMs).toBeGreaterThanOrEqual(ASR_MS - 5);
      expect(t.firstTokenMs).toBeGreaterThanOrEqual(t.transcriptMs + TOKEN_MS - 5);
      expect(t.firstSpeechByteMs).toBeGreaterThanOrEqual(t.firstTokenMs + SPEECH_MS - 5);
      expect(t.firstAudioMs).toBeGreaterThanOrEqual(t.firstSpeechByteMs);
      expect(t.firstAudioMs).toBeLessThan(5000);
      expect(typeof turn.itemId).toBe('string');
    }
    const firstAudio = stored.turns.map((t) => t.firstAudioMs as number).sort((a, b) => a - b);
    expect(stored.summary.firstAudioMs).toEqual({
      p50: firstAudio[0],
      p95: firstAudio[1],
      max: firstAudio[1],
      count: 2,
    });
    expect(stored.summary.transcriptMs.count).toBe(2);

    // The call detail serves them with the analytics.
    const detail = await request(h.t.baseUrl).get(`/api/calls/${call.id}`).expect(200);
    expect(detail.body.analytics.stageLatencies).toEqual(stored);

    // The analytics page: per stage, the mean of the calls' medians and the p95 of their p95s.
    const report = await request(h.t.baseUrl)
      .get('/api/analytics')
      .query({ startDate, endDate: new Date(Date.now() + 60_000).toISOString(), interval: 'hour' })
      .expect(200);
    expect(report.body.summary.stages.firstAudioMs).toEqual({
      calls: 1,
      avgP50Ms: stored.summary.firstAudioMs.p50,
      p95Ms: stored.summary.firstAudioMs.p95,
    });
    expect(report.body.summary.stages.firstTokenMs.calls).toBe(1);

    // /metrics: one histogram, a series per stage, one observation per turn.
    const metrics = (await request(h.t.baseUrl).get('/metrics').expect(200)).text;
    for (const stage of ['transcript', 'first_token', 'first_speech_byte', 'first_audio']) {
      expect(metrics).toContain(`switchboard_pipeline_stage_ms_count{stage="${stage}"} 2`);
    }
    expect(metrics).toMatch(/switchboard_pipeline_stage_ms_bucket\{le="100",stage="first_token"\} 0/);
  });

  it('a call of another engine stores no stage figures', async () => {
    // A call to a number of no cascaded profile: the default Realtime engine (the local server).
    const handle = h.call({ to: '+15550001111', script: [{ untilAgentSilentMs: 700 }, { silenceMs: 200 }] });
    const summary = await handle.done;
    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({ where: { callSid: summary.callSid }, include: { analytics: true } });
      return c?.analytics ? c : null;
    }, 15_000);
    expect(call.agent).not.toBe('cascade');
    expect(call.analytics!.stageLatencies).toBeNull();
    const detail = await request(h.t.baseUrl).get(`/api/calls/${call.id}`).expect(200);
    expect(detail.body.analytics.stageLatencies).toBeNull();
  });
});
