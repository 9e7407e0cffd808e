/**
 * Whole calls with `engine: pipeline`: the Twilio call simulator → the app → the cascaded engine →
 * provider fakes, all over real sockets, with the call record read back from the database.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { FakeProviders } from '../../src/simulators/providers';

const CALLER_LINE = 'I would like to check my balance';

describe('whole calls through the cascaded engine', () => {
  let fake: FakeProviders;
  let h: BridgeHarness;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pipeline-call-'));
    const profiles = join(dir, 'profiles.json');
    writeFileSync(
      profiles,
      JSON.stringify({ profiles: { cascade: { engine: 'pipeline', numbers: ['+15559990000'] } } }),
    );
    fake = await FakeProviders.start({ apiKey: 'fake-provider-key', stt: { transcripts: [] } });
    h = await startBridgeHarness(
      { ttsEngine: 'tone' },
      {
        ...fake.env(),
        AGENT_PROFILES_FILE: profiles,
        PIPELINE_STT: 'deepgram',
        PIPELINE_LLM: 'openai',
        PIPELINE_TTS: 'openai',
        OPENAI_API_KEY: 'fake-provider-key',
        PIPELINE_STAGE_TIMEOUT_MS: '2000',
      },
    );
  });

  afterAll(async () => {
    await h.close();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function record(callSid: string) {
    return eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, analytics: true, events: true },
      });
      return c?.analytics ? c : null;
    }, 15_000);
  }

  it('greets, transcribes the caller, answers through chat + speech, and stores both sides', async () => {
    fake.stt.utterances = 0;
    fake.options.stt!.transcripts = [CALLER_LINE];
    const handle = h.call({
      script: [
        { untilAgentSilentMs: 700 },
        { say: 'hello there I need help' },
        { untilAgentSilentMs: 700 },
        { silenceMs: 200 },
      ],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.firstAgentAudioMs).not.toBeNull();
    const call = await record(summary.callSid);
    expect(call.status).toBe('completed');
    const caller = call.transcripts.filter((t) => t.speaker === 'caller').map((t) => t.text);
    const agent = call.transcripts.filter((t) => t.speaker === 'agent').map((t) => t.text);
    expect(caller).toEqual([CALLER_LINE]);
    expect(agent).toEqual(['Hello, how can I help you today?', `You said ${CALLER_LINE}. Anything else?`]);
    expect(call.events.filter((e) => e.type === 'ai.error')).toEqual([]);
    // The chat model was asked with the profile's instructions and the caller's words.
    const chat = fake.requestsTo('/v1/chat/completions').at(-1)!.body as {
      messages: { role: string; content: string }[];
    };
    expect(chat.messages.at(-1)).toEqual({ role: 'user', content: CALLER_LINE });
  });

  it('a chat model failing mid-turn: the caller hears an apology and the call record says what failed', async () => {
    fake.stt.utterances = 0;
    fake.options.stt!.transcripts = [CALLER_LINE];
    // The greeting succeeds, the answer to the caller fails.
    fake.options.chat = { faults: [{}, { status: 503 }] };
    const handle = h.call({
      script: [
        { untilAgentSilentMs: 700 },
        { say: 'hello there I need help' },
        { untilAgentSilentMs: 700 },
        { silenceMs: 200 },
      ],
    });
    const summary = await handle.done;
    const call = await record(summary.callSid);
    const agent = call.transcripts.filter((t) => t.speaker === 'agent').map((t) => t.text);
    expect(agent[1]).toMatch(/^Sorry, I'm having trouble right now/);
    const errors = call.events.filter((e) => e.type === 'ai.error').map((e) => e.data as Record<string, unknown>);
    expect(errors).toEqual([
      expect.objectContaining({
        code: 'llm_failed',
        message: 'llm (openai-chat): HTTP 503',
        type: 'pipeline_stage_failed',
      }),
    ]);
    fake.options.chat = {};
  });

  it('barge-in mid-sentence: playback stops, and the model history keeps only what the caller heard', async () => {
    fake.stt.utterances = 0;
    fake.options.stt!.transcripts = [CALLER_LINE, 'stop, thanks'];
    const before = fake.requestsTo('/v1/chat/completions').length;
    const LONG =
      'Your balance is one hundred and twenty three dollars. It was updated this morning at nine. Anything else I can do?';
    let turn = 0;
    fake.options.chat = { reply: () => ({ text: ++turn === 2 ? LONG : 'Okay, stopping here.' }) };
    const handle = h.call({
      script: [
        { untilAgentSilentMs: 700 },
        { say: 'hello there I need help' },
        // The answer is about 6 s of speech: talk over it once 2 s of it have played (however late it starts).
        { waitForAgentMs: 15_000, untilAgentHeardMs: 2000 },
        { say: 'stop please' },
        { untilAgentSilentMs: 700 },
        { silenceMs: 200 },
      ],
    });
    const summary = await handle.done;
    expect(summary.clears).toBeGreaterThanOrEqual(1);
    const call = await record(summary.callSid);
    const answer = call.transcripts.find((t) => t.speaker === 'agent' && t.interrupted);
    expect(answer).toBeDefined();
    expect(call.events.some((e) => e.type === 'barge-in')).toBe(true);
    // The third chat request (after "stop, thanks") carries the cut answer: a non-empty prefix of it, not all of it.
    const third = fake.requestsTo('/v1/chat/completions')[before + 2].body as {
      messages: { role: string; content: string }[];
    };
    const heard = third.messages.filter((m) => m.role === 'assistant').at(-1)!.content;
    expect(heard.length).toBeGreaterThan(0);
    expect(heard.length).toBeLessThan(LONG.length);
    expect(LONG.startsWith(heard)).toBe(true);
    expect(third.messages.at(-1)).toEqual({ role: 'user', content: 'stop, thanks' });
    fake.options.chat = {};
  });
});
