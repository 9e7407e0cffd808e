/**
 * The cascaded engine against provider fakes over real sockets (HTTP, server-sent events,
 * WebSockets): a whole turn with each provider kind, tool calls, backend hand-off, transcribe-only,
 * ordering and per-stage latency.
 */
import { PCMU_8K, PCM16_24K } from '../../src/conversation/audio-format';
import type { ResponseSummary, ToolCallRequest } from '../../src/conversation/engine';
import { FakeProviders } from '../../src/simulators/providers';
import { buildEngine, feed, named, nextCallMs, speech, until } from '../helpers/pipeline';

let fake: FakeProviders;

beforeEach(async () => {
  fake = await FakeProviders.start({ apiKey: 'fake-provider-key', stt: { transcripts: [] } });
});

afterEach(async () => {
  await fake.close();
});

function done(rec: ReturnType<typeof buildEngine>['rec']): ResponseSummary[] {
  return named(rec, 'response-done').map((a) => a[0] as ResponseSummary);
}

/** Characters the fake voice speaks: each sentence on its own (the space between two is not spoken). */
function spokenChars(text: string): number {
  return text.split(/(?<=[.!?]) /).reduce((n, s) => n + s.length, 0);
}

describe('pipeline engine with provider fakes', () => {
  it('Deepgram → chat model → OpenAI speech: greets, hears the caller, answers in 24 kHz speech, reports stage latency', async () => {
    fake.options.stt!.transcripts = ['I would like to check my balance'];
    const { engine, rec } = buildEngine(
      {
        ...fake.env(),
        PIPELINE_STT: 'deepgram',
        PIPELINE_LLM: 'openai',
        PIPELINE_TTS: 'openai',
        OPENAI_API_KEY: 'fake-provider-key',
      },
      { greeting: 'Greet the caller.' },
    );
    expect(engine.inputFormat).toEqual(PCMU_8K);
    expect(engine.outputFormat).toEqual(PCM16_24K);
    await engine.start();
    await until(() => done(rec).length === 1, 10_000, 'greeting');
    expect(done(rec)[0].status).toBe('completed');
    expect(named(rec, 'agent-transcript')[0][2]).toBe('Hello, how can I help you today?');

    await feed(engine, speech(), PCMU_8K);
    await until(() => done(rec).length === 2, 10_000, 'answer');
    expect(named(rec, 'speech-started')).toHaveLength(1);
    expect(named(rec, 'speech-stopped')).toHaveLength(1);
    expect(named(rec, 'caller-transcript')[0][1]).toBe('I would like to check my balance');
    const answer = done(rec)[1];
    expect(answer.status).toBe('completed');
    expect(answer.items[0].transcript).toBe('You said I would like to check my balance. Anything else?');
    expect(answer.usage?.inputTextTokens).toBe(50);
    const itemId = answer.items[0].itemId;
    // The synthetic voice speaks 60 ms per character: 24 kHz PCM16 is 48 bytes per ms.
    expect(rec.audioBytes.get(itemId)).toBe(spokenChars(answer.items[0].transcript!) * 60 * 48);
    // The chat model saw the system prompt, the greeting, the caller and the tools.
    const chat = fake.requestsTo('/v1/chat/completions').at(-1)!.body as {
      messages: { role: string; content: string }[];
      tools: { function: { name: string } }[];
      stream: boolean;
    };
    expect(chat.stream).toBe(true);
    expect(chat.messages.map((m) => m.role)).toEqual(['system', 'assistant', 'user']);
    expect(chat.messages[2].content).toBe('I would like to check my balance');
    expect(chat.tools[0].function.name).toBe('lookup_order');
    expect(fake.stt.connections[0]).toMatchObject({ encoding: 'mulaw', sample_rate: '8000', interim_results: 'true' });
    // Stage latency: each stage's first result after the one before it.
    const latency = rec.latencies.find((l) => l.itemId === itemId)!;
    expect(latency.callerItemId).toBe(named(rec, 'caller-transcript')[0][0]);
    expect(latency.transcriptMs).toBeGreaterThanOrEqual(0);
    expect(latency.firstTokenMs!).toBeGreaterThanOrEqual(latency.transcriptMs!);
    expect(latency.firstSpeechByteMs!).toBeGreaterThanOrEqual(latency.firstTokenMs!);
    expect(latency.firstAudioMs!).toBeGreaterThanOrEqual(latency.firstSpeechByteMs!);
    engine.close();
  });

  it('OpenAI transcription → orchestrator → ElevenLabs speech: mu-law out, the orchestrator gets the history', async () => {
    fake.options.stt!.transcripts = ['my bill is wrong', 'thanks'];
    const { engine, rec } = buildEngine({
      ...fake.env(),
      PIPELINE_STT: 'openai',
      PIPELINE_LLM: 'orchestrator',
      PIPELINE_TTS: 'elevenlabs',
      OPENAI_API_KEY: 'fake-provider-key',
    });
    expect(engine.outputFormat).toEqual(PCMU_8K);
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await until(() => done(rec).length === 1);
    await feed(engine, speech('thank you'), PCMU_8K);
    await until(() => done(rec).length === 2);
    expect(named(rec, 'caller-transcript').map((a) => a[1])).toEqual(['my bill is wrong', 'thanks']);
    expect(done(rec).map((d) => d.items[0].transcript)).toEqual([
      'Backend turn 1: you said my bill is wrong.',
      'Backend turn 2: you said thanks.',
    ]);
    expect(fake.backend.orchestrated[1].history).toEqual([
      { role: 'user', content: 'my bill is wrong' },
      { role: 'assistant', content: 'Backend turn 1: you said my bill is wrong.' },
      { role: 'user', content: 'thanks' },
    ]);
    const first = done(rec)[0].items[0];
    expect(rec.audioBytes.get(first.itemId)).toBe(spokenChars(first.transcript!) * 60 * 8);
    engine.close();
  });

  it('hands the conversation to the backend: /conversation/start on the first utterance, then /conversation/message', async () => {
    fake.options.stt!.transcripts = ['hello', 'where is my parcel'];
    const { engine, rec } = buildEngine({
      ...fake.env(),
      PIPELINE_STT: 'deepgram',
      PIPELINE_LLM: 'backend',
      PIPELINE_TTS: 'elevenlabs',
    });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await until(() => done(rec).length === 1);
    await feed(engine, speech(), PCMU_8K);
    await until(() => done(rec).length === 2);
    expect(fake.requestsTo('/conversation/start').map((r) => r.body)).toEqual([
      { callId: 'call_test', message: 'hello' },
    ]);
    expect(fake.requestsTo('/conversation/message').map((r) => r.body)).toEqual([
      { conversationId: 'conv_1', message: 'where is my parcel' },
    ]);
    expect(done(rec)[1].items[0].transcript).toBe('Backend turn 2: you said where is my parcel.');
    engine.close();
  });

  it('runs a tool call through the chat model: tool-call event, the result goes back, the model answers with it', async () => {
    fake.options.stt!.transcripts = ['where is order 42'];
    let turn = 0;
    fake.options.chat = {
      reply: (body) => {
        turn++;
        if (turn === 1)
          return { text: 'Let me check.', toolCalls: [{ name: 'lookup_order', arguments: '{"orderId":"42"}' }] };
        const tool = body.messages?.find((m) => m.role === 'tool');
        return { text: `Your order is ${tool?.content ?? 'unknown'}.` };
      },
    };
    const { engine, rec } = buildEngine({
      ...fake.env(),
      PIPELINE_STT: 'deepgram',
      PIPELINE_LLM: 'openai',
      PIPELINE_TTS: 'elevenlabs',
    });
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await until(() => named(rec, 'tool-call').length === 1 && done(rec).length === 1);
    const call = named(rec, 'tool-call')[0][0] as ToolCallRequest;
    expect(call).toMatchObject({
      name: 'lookup_order',
      arguments: '{"orderId":"42"}',
      responseId: done(rec)[0].responseId,
    });
    engine.sendToolResult(call.toolCallId, 'shipped');
    engine.createResponse();
    await until(() => done(rec).length === 2);
    expect(done(rec)[1].items[0].transcript).toBe('Your order is shipped.');
    const second = fake.requestsTo('/v1/chat/completions')[1].body as { messages: Record<string, unknown>[] };
    expect(second.messages.slice(-2)).toEqual([
      {
        role: 'assistant',
        content: 'Let me check.',
        tool_calls: [
          { id: call.toolCallId, type: 'function', function: { name: 'lookup_order', arguments: '{"orderId":"42"}' } },
        ],
      },
      { role: 'tool', tool_call_id: call.toolCallId, content: 'shipped' },
    ]);
    engine.close();
  });

  it('transcribe-only (AI_CONVERSATION_ENABLED=false): caller transcripts, no greeting, no model, no agent audio', async () => {
    fake.options.stt!.transcripts = ['just recording this'];
    const { engine, rec } = buildEngine(
      {
        ...fake.env(),
        PIPELINE_STT: 'deepgram',
        PIPELINE_LLM: 'openai',
        PIPELINE_TTS: 'elevenlabs',
        AI_CONVERSATION_ENABLED: 'false',
      },
      { greeting: 'Greet the caller.' },
    );
    await engine.start();
    await feed(engine, speech(), PCMU_8K);
    await until(() => named(rec, 'caller-transcript').length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(named(rec, 'caller-transcript')[0][1]).toBe('just recording this');
    expect(named(rec, 'agent-audio')).toHaveLength(0);
    expect(named(rec, 'response-started')).toHaveLength(0);
    expect(fake.requestsTo('/v1/chat/completions')).toHaveLength(0);
    engine.close();
  });

  it('keeps turns in order: a slow first transcript is answered before the second utterance', async () => {
    fake.options.stt!.transcripts = ['first', 'second'];
    fake.options.stt!.asrDelayMs = 150;
    const { engine, rec } = buildEngine({
      ...fake.env(),
      PIPELINE_STT: 'deepgram',
      PIPELINE_LLM: 'backend',
      PIPELINE_TTS: 'elevenlabs',
    });
    await engine.start();
    await feed(engine, speech('one two'), PCMU_8K, 350);
    await feed(engine, speech('three four'), PCMU_8K, 350);
    await until(() => done(rec).length === 2);
    expect(named(rec, 'caller-transcript').map((a) => a[1])).toEqual(['first', 'second']);
    expect(fake.requestsTo('/conversation/start')[0].body).toMatchObject({ message: 'first' });
    expect(fake.requestsTo('/conversation/message')[0].body).toMatchObject({ message: 'second' });
    engine.close();
  });

  it('reports the caller speech in call time: where it started and ended, not where the VAD decided', async () => {
    fake.options.stt!.transcripts = ['hello'];
    const { engine, rec } = buildEngine({
      ...fake.env(),
      PIPELINE_STT: 'deepgram',
      PIPELINE_LLM: 'backend',
      PIPELINE_TTS: 'elevenlabs',
    });
    await engine.start();
    const audio = speech('hello there');
    const startMs = nextCallMs();
    await feed(engine, audio, PCMU_8K, 600);
    await until(() => named(rec, 'speech-stopped').length === 1);
    const started = named(rec, 'speech-started')[0][1] as number;
    const stopped = named(rec, 'speech-stopped')[0][1] as number;
    expect(Math.abs(started - startMs)).toBeLessThanOrEqual(20);
    // The fake voice ends on a voiced letter: the speech ends with the audio (± a frame, and the VAD's 300 ms silence taken back).
    expect(Math.abs(stopped - (startMs + audio.length / 8))).toBeLessThanOrEqual(60);
    engine.close();
  });

  it('answers a one-off question (ask) through the chat model, outside the conversation; a backend has none', async () => {
    fake.options.chat = {
      reply: (body) => ({ text: body.messages?.[0]?.content === 'Rate the mood.' ? '{"label":"positive"}' : 'no' }),
    };
    const { engine } = buildEngine({
      ...fake.env(),
      PIPELINE_STT: 'deepgram',
      PIPELINE_LLM: 'openai',
      PIPELINE_TTS: 'elevenlabs',
    });
    await engine.start();
    engine.sendText('I love this service');
    expect(await engine.ask('Rate the mood.', 3000)).toBe('{"label":"positive"}');
    const asked = fake.requestsTo('/v1/chat/completions').at(-1)!.body as {
      messages: { content: string }[];
      tools?: unknown;
    };
    expect(asked.messages[1].content).toBe('user: I love this service');
    expect(asked.tools).toBeUndefined();
    expect(engine.messages().at(-1)).toEqual({ role: 'user', content: 'I love this service' });
    engine.close();
    const other = buildEngine({
      ...fake.env(),
      PIPELINE_STT: 'deepgram',
      PIPELINE_LLM: 'backend',
      PIPELINE_TTS: 'elevenlabs',
    });
    expect(await other.engine.ask('Rate the mood.', 3000)).toBeUndefined();
    other.engine.close();
  });

  it('refuses nothing silently: a wrong provider key fails the start with the stage named', async () => {
    const { engine } = buildEngine({
      ...fake.env(),
      DEEPGRAM_API_KEY: 'wrong-key',
      PIPELINE_STT: 'deepgram',
      PIPELINE_LLM: 'backend',
      PIPELINE_TTS: 'elevenlabs',
    });
    await expect(engine.start()).rejects.toThrow(/stt \(deepgram\): connect refused: HTTP 401/);
    engine.close();
  });
});
