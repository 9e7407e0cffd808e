/**
 * The cascaded engine when things go wrong: barge-in mid-sentence (only the heard part stays in
 * the history, requests in flight are cancelled), and each stage failing or timing out mid-turn
 * (the caller hears an apology, never silence, and the error names the stage).
 */
import { PCMU_8K } from '../../src/conversation/audio-format';
import type { ResponseSummary } from '../../src/conversation/engine';
import { FakeProviders } from '../../src/simulators/providers';
import { buildEngine, feed, named, speech, until } from '../helpers/pipeline';

let fake: FakeProviders;

beforeEach(async () => {
  fake = await FakeProviders.start({ apiKey: 'fake-provider-key', stt: { transcripts: ['tell me everything'] } });
});

afterEach(async () => {
  await fake.close();
});

const ENV = {
  PIPELINE_STT: 'deepgram',
  PIPELINE_LLM: 'openai',
  PIPELINE_TTS: 'elevenlabs',
  PIPELINE_STAGE_TIMEOUT_MS: '3000',
};

function done(rec: ReturnType<typeof buildEngine>['rec']): ResponseSummary[] {
  return named(rec, 'response-done').map((a) => a[0] as ResponseSummary);
}

describe('pipeline engine: barge-in', () => {
  it('truncate mid-sentence cancels speech in flight and keeps only the heard words in the history', async () => {
    fake.options.chat = {
      reply: () => ({
        text: 'One two three four five six seven eight. Nine ten eleven twelve thirteen fourteen. Fifteen sixteen seventeen.',
      }),
    };
    // Speech streams slowly (a 100 ms piece every 40 ms), so the answer is still arriving when the caller talks.
    fake.options.speech = { pieceIntervalMs: 40 };
    const { engine, rec } = buildEngine({ ...fake.env(), ...ENV });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await until(() => named(rec, 'agent-audio').length >= 10, 10_000, 'agent audio');
    const itemId = named(rec, 'agent-audio')[0][0] as string;
    // The caller heard 1.32 s of the first sentence (40 characters, 2.4 s of the fake voice): 4 of its 8 words.
    engine.truncate(itemId, 1320);
    const audioAtTruncate = rec.audioBytes.get(itemId)!;
    await until(() => done(rec).length === 1, 5000, 'response done');
    await new Promise((r) => setTimeout(r, 300));
    expect(named(rec, 'error')).toEqual([]);
    expect(done(rec)[0].status).toBe('cancelled');
    expect(rec.audioBytes.get(itemId)).toBe(audioAtTruncate);
    const assistant = engine.messages().filter((m) => m.role === 'assistant');
    expect(assistant.at(-1)?.content).toBe('One two three four');
    // Speech requests for the later sentences were started at once and then aborted: fewer bytes arrived than the whole answer.
    expect(audioAtTruncate).toBeLessThan(100 * 60 * 8);
    engine.close();
  });

  it('a truncate after the response ended rewrites its history entry to the heard part', async () => {
    fake.options.chat = { reply: () => ({ text: 'Alpha beta gamma delta epsilon zeta eta theta.' }) };
    const { engine, rec } = buildEngine({ ...fake.env(), ...ENV });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await until(() => done(rec).length === 1);
    const itemId = done(rec)[0].items[0].itemId;
    // 47 characters = 2820 ms; the caller heard the first quarter.
    engine.truncate(itemId, 705);
    expect(engine.messages().at(-1)).toEqual({ role: 'assistant', content: 'Alpha beta' });
    engine.close();
  });

  it('speech while a reply is still thinking (no audio yet) cancels that reply', async () => {
    fake.options.stt!.transcripts = ['first question', 'actually, second question'];
    fake.options.chat = { firstTokenDelayMs: 1500 }; // long enough for the second utterance even on a loaded machine
    const { engine, rec } = buildEngine({ ...fake.env(), ...ENV, PIPELINE_STAGE_TIMEOUT_MS: '5000' });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await until(() => named(rec, 'response-started').length === 1);
    await feed(engine, speech(), PCMU_8K);
    await until(() => done(rec).length === 2, 10_000);
    expect(done(rec).map((d) => d.status)).toEqual(['cancelled', 'completed']);
    expect(done(rec)[1].items[0].transcript).toBe('You said actually, second question. Anything else?');
    expect(rec.audioBytes.get(done(rec)[0].items[0].itemId) ?? 0).toBe(0);
    engine.close();
  });
});

describe('pipeline engine: a provider failing mid-turn', () => {
  async function expectApology(rec: ReturnType<typeof buildEngine>['rec'], code: string): Promise<void> {
    await until(() => named(rec, 'error').length > 0 && named(rec, 'agent-audio-done').length > 0, 10_000, 'apology');
    const error = named(rec, 'error')[0][0] as { code: string; message: string };
    expect(error.code).toBe(code);
    const last = done(rec).at(-1)!;
    expect(last.status).toBe('failed');
    // The apology: about 3 s of speech, never silence.
    expect(rec.audioBytes.get(last.items[0].itemId) ?? 0).toBeGreaterThan(8000);
    expect(last.items[0].transcript).toMatch(/Sorry, I'm having trouble right now/);
  }

  it('the chat model answering HTTP 500', async () => {
    fake.options.chat = { faults: [{ status: 500 }] };
    const { engine, rec } = buildEngine({ ...fake.env(), ...ENV });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await expectApology(rec, 'llm_failed');
    expect((named(rec, 'error')[0][0] as { message: string }).message).toBe('llm (openai-chat): HTTP 500');
    engine.close();
  });

  it('the chat stream dropped after two events', async () => {
    fake.options.chat = {
      faults: [{ dropAfter: 2 }],
      reply: () => ({ text: 'This answer will never finish arriving at all.' }),
    };
    const { engine, rec } = buildEngine({ ...fake.env(), ...ENV });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await expectApology(rec, 'llm_failed');
    engine.close();
  });

  it('the chat model never answering (stage timeout)', async () => {
    fake.options.chat = { faults: [{ hang: true }] };
    const { engine, rec } = buildEngine({ ...fake.env(), ...ENV, PIPELINE_STAGE_TIMEOUT_MS: '600' });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await expectApology(rec, 'llm_failed');
    expect((named(rec, 'error')[0][0] as { message: string }).message).toMatch(/no answer within 600 ms/);
    engine.close();
  });

  it('the speech provider failing', async () => {
    fake.options.speech = { faults: [{ status: 503 }] };
    const { engine, rec } = buildEngine({ ...fake.env(), ...ENV });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await expectApology(rec, 'tts_failed');
    engine.close();
  });

  it('the transcriber dropping the connection at the end of the turn (and the next turn after a reconnect)', async () => {
    fake.options.stt!.failOnFinalize = 1;
    fake.options.stt!.transcripts = ['lost', 'and now it works'];
    const { engine, rec } = buildEngine({ ...fake.env(), ...ENV });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await expectApology(rec, 'stt_failed');
    expect(named(rec, 'caller-transcript-failed')).toHaveLength(1);
    expect(named(rec, 'error')).toHaveLength(1);
    // The engine makes a new connection in the background: the next turn is transcribed again.
    await until(() => fake.stt.connections.length === 2, 5000, 'reconnection');
    await feed(engine, speech(), PCMU_8K);
    await until(() => named(rec, 'caller-transcript').length === 1, 5000, 'next transcript');
    expect(named(rec, 'caller-transcript')[0][1]).toBe('and now it works');
    engine.close();
  });

  it('gives up (engine failed) when the transcriber cannot be reached again', async () => {
    fake.options.stt!.failOnFinalize = 1;
    const { engine, rec } = buildEngine({ ...fake.env(), ...ENV });
    const failed: { reason: string; attempts: number }[] = [];
    engine.on('failed', (info) => failed.push(info));
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await expectApology(rec, 'stt_failed');
    await fake.close(); // every reconnect is refused from now on
    await until(() => failed.length === 1, 15_000, 'engine failed');
    expect(failed[0]).toEqual({ reason: expect.stringMatching(/^transcriber \(deepgram\) unreachable/), attempts: 5 });
    engine.close();
  });

  it('the backend timing out (BACKEND_API_TIMEOUT_MS)', async () => {
    fake.options.backend = { delayMs: 1000 };
    const { engine, rec } = buildEngine({
      ...fake.env(),
      ...ENV,
      PIPELINE_LLM: 'backend',
      BACKEND_API_TIMEOUT_MS: '200',
      PIPELINE_STAGE_TIMEOUT_MS: '5000',
    });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await expectApology(rec, 'llm_failed');
    expect((named(rec, 'error')[0][0] as { message: string }).message).toBe('llm (backend): no answer within 200 ms');
    engine.close();
  });

  it('the next turn works again after a failed one', async () => {
    fake.options.stt!.transcripts = ['one', 'two'];
    fake.options.chat = { faults: [{ status: 500 }] };
    const { engine, rec } = buildEngine({ ...fake.env(), ...ENV });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await expectApology(rec, 'llm_failed');
    await feed(engine, speech(), PCMU_8K);
    await until(() => done(rec).length === 2);
    expect(done(rec)[1]).toMatchObject({
      status: 'completed',
      items: [{ transcript: 'You said two. Anything else?' }],
    });
    engine.close();
  });
});
