/**
 * The app with no OpenAI key starts its own local AI server: it answers after LOCAL_AI_THINK_MS,
 * transcribes the caller with the local recognizer when pocketsphinx is installed (a described turn
 * when it is not), and its calls cost nothing (token counts kept, priced at 0).
 */
import { eventually, TEST_AUTH_TOKEN, TEST_PUBLIC_URL } from '../../scripts/lib/bridge-harness';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { localRecognizerAvailable } from '../../src/engines/pipeline/stt/pocketsphinx';
import { placeCall } from '../../src/simulators/twilio-caller';
import { testConfig } from '../../src/config';

const THINK_MS = 700;
const WORDS = 'i,would,like,a,refund,hello,need,help,with,billing,yes,no,thank,you';

async function callOnce(t: TestApp, say: string) {
  const handle = placeCall({
    baseUrl: t.baseUrl,
    publicUrl: TEST_PUBLIC_URL,
    authToken: TEST_AUTH_TOKEN,
    from: '+15550004444',
    to: '+15559990000',
    script: [{ untilAgentSilentMs: 1200 }, { say }, { untilAgentSilentMs: 1200 }, { silenceMs: 200 }],
  });
  const summary = await handle.done;
  expect(summary.ok).toBe(true);
  return eventually(async () => {
    const c = await t.sb.db.call.findFirst({
      where: { callSid: summary.callSid },
      include: { transcripts: { orderBy: { startMs: 'asc' } }, analytics: true },
    });
    // The recognizer's transcript follows the turn: wait for it too.
    return c?.analytics && c.transcripts.some((x) => x.speaker === 'caller') ? c : null;
  }, 20_000);
}

describe('the in-process local AI server', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({
      TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
      PUBLIC_URL: TEST_PUBLIC_URL,
      LOCAL_AI_THINK_MS: String(THINK_MS),
      PIPELINE_LOCAL_STT_WORDS: WORDS,
    });
  });
  afterAll(() => t.close());

  it('is the one answering (no key), thinks before it answers, transcribes the words and costs nothing', async () => {
    expect(t.sb.localRealtime).toBeDefined();
    const call = await callOnce(t, 'I would like a refund');
    const caller = call.transcripts.filter((x) => x.speaker === 'caller').map((x) => x.text);
    expect(caller[0]).toMatch(/\brefund\b/);
    const a = call.analytics!;
    // Speech end → first agent audio: at least the think time (without it the local AI answers in ~0 ms).
    expect(a.latencyP50Ms).not.toBeNull();
    expect(a.latencyP50Ms!).toBeGreaterThanOrEqual(THINK_MS - 50);
    expect(a.latencyP50Ms!).toBeLessThan(THINK_MS + 5000);
    // Tokens are counted (the local server reports plausible usage) but priced at nothing.
    expect(a.outputTokens).toBeGreaterThan(0);
    expect(a.estimatedCostUsd).toBe(0);
  });
});

describe('the in-process local AI server without pocketsphinx', () => {
  let t: TestApp;
  const path = process.env.PATH;

  beforeAll(async () => {
    // A PATH without the recognizer: the app starts anyway and the local AI describes the caller's turn.
    process.env.PATH = '/nonexistent';
    try {
      expect(localRecognizerAvailable()).toBe(false);
      t = await startTestApp({
        TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
        PUBLIC_URL: TEST_PUBLIC_URL,
        LOCAL_AI_THINK_MS: '0',
      });
    } finally {
      process.env.PATH = path;
    }
  });
  afterAll(() => t.close());

  it('falls back to describing the turn', async () => {
    expect(localRecognizerAvailable()).toBe(true);
    const call = await callOnce(t, 'I would like a refund');
    const caller = call.transcripts.filter((x) => x.speaker === 'caller').map((x) => x.text);
    expect(caller[0]).toMatch(/^\(caller spoke for \d+\.\d s\)$/);
    expect(call.analytics!.estimatedCostUsd).toBe(0);
  });
});

describe('localRecognizerAvailable', () => {
  it('needs the command on PATH and the model', () => {
    expect(localRecognizerAvailable(process.env.PATH ?? '')).toBe(true);
    expect(localRecognizerAvailable('/nonexistent:/also-not')).toBe(false);
    expect(localRecognizerAvailable(process.env.PATH ?? '', '/nonexistent/model')).toBe(false);
  });
});

describe('LOCAL_AI_THINK_MS', () => {
  it('defaults to 300 ms and is range-checked', () => {
    expect(testConfig().openai.localThinkMs).toBe(300);
    expect(testConfig({ LOCAL_AI_THINK_MS: '0' }).openai.localThinkMs).toBe(0);
    expect(() => testConfig({ LOCAL_AI_THINK_MS: '20000' })).toThrow(/LOCAL_AI_THINK_MS/);
    expect(() => testConfig({ LOCAL_AI_THINK_MS: '-1' })).toThrow(/LOCAL_AI_THINK_MS/);
  });
});
