/**
 * The orchestrator's intent: a whole Twilio call through the cascaded engine with the orchestrator
 * fake as its model puts each turn's intent on the call's timeline (ai.intent) and the call's
 * metadata (custom.intent: the last, custom.intents: all, in order), served by the call detail.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { FakeProviders } from '../../src/simulators/providers';

describe("the orchestrator's intent on the call record", () => {
  let fake: FakeProviders;
  let h: BridgeHarness;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pipeline-intent-'));
    const profiles = join(dir, 'profiles.json');
    writeFileSync(
      profiles,
      JSON.stringify({
        profiles: { routed: { engine: 'pipeline', numbers: ['+15559990000'], greetsFirst: false } },
      }),
    );
    fake = await FakeProviders.start({ apiKey: 'fake-provider-key', stt: { transcripts: [] } });
    h = await startBridgeHarness(
      { ttsEngine: 'tone' },
      {
        ...fake.env(),
        AGENT_PROFILES_FILE: profiles,
        PIPELINE_STT: 'deepgram',
        PIPELINE_LLM: 'orchestrator',
        PIPELINE_TTS: 'elevenlabs',
        PIPELINE_STAGE_TIMEOUT_MS: '4000',
      },
    );
  });

  afterAll(async () => {
    await h.close();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores an ai.intent event per turn and the intents in the metadata', async () => {
    fake.options.stt!.transcripts = ['what is my balance', 'I want to cancel my plan'];
    fake.options.backend = { intent: (m) => (/cancel/.test(m) ? 'cancellation' : 'billing') };
    const handle = h.call({
      script: [
        { silenceMs: 300 },
        { say: 'hello there I need help' },
        { untilAgentSilentMs: 700 },
        { say: 'and another thing please' },
        { untilAgentSilentMs: 700 },
        { silenceMs: 200 },
      ],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { analytics: true, metadata: true, events: { orderBy: { id: 'asc' } } },
      });
      return c?.analytics && c.status === 'completed' ? c : null;
    }, 15_000);
    const intents = call.events.filter((e) => e.type === 'ai.intent').map((e) => (e.data as { intent: string }).intent);
    expect(intents).toEqual(['billing', 'cancellation']);
    expect(call.metadata?.custom).toEqual(
      expect.objectContaining({ intent: 'cancellation', intents: ['billing', 'cancellation'] }),
    );
    const detail = await request(h.t.baseUrl).get(`/api/calls/${call.id}`).expect(200);
    expect(detail.body.metadata.custom.intent).toBe('cancellation');
    expect(
      (detail.body.events as { type: string; data: { intent: string } }[])
        .filter((e) => e.type === 'ai.intent')
        .map((e) => e.data.intent),
    ).toEqual(['billing', 'cancellation']);
  });

  it('a call whose model gives no intent stores none', async () => {
    fake.options.stt!.transcripts = ['hello'];
    fake.options.backend = { intent: () => '' };
    const handle = h.call({
      script: [{ silenceMs: 300 }, { say: 'hello there' }, { untilAgentSilentMs: 700 }, { silenceMs: 200 }],
    });
    const summary = await handle.done;
    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { analytics: true, metadata: true, events: true },
      });
      return c?.analytics && c.status === 'completed' ? c : null;
    }, 15_000);
    expect(call.events.some((e) => e.type === 'ai.intent')).toBe(false);
    expect((call.metadata?.custom as Record<string, unknown> | null)?.intent).toBeUndefined();
  });
});
