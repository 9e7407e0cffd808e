import {
  addUsage,
  analyzeSentiment,
  computeAnalytics,
  EMPTY_USAGE,
  estimateCostUsd,
  parseModelSentiment,
  percentile,
  unionMs,
} from '../../src/calls/call-analytics';
import { testConfig } from '../../src/config';

const pricing = testConfig().pricing;

describe('call analytics', () => {
  it('computes nearest-rank percentiles', () => {
    const values = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000];
    expect(percentile(values, 50)).toBe(500);
    expect(percentile(values, 95)).toBe(1000);
    expect(percentile([42], 95)).toBe(42);
    expect(percentile([], 50)).toBeNull();
  });

  it('counts overlapping talk once', () => {
    expect(
      unionMs([
        { startMs: 0, endMs: 1000 },
        { startMs: 500, endMs: 1500 },
        { startMs: 2000, endMs: 2100 },
      ]),
    ).toBe(1600);
    expect(unionMs([])).toBe(0);
  });

  it('sums response.done usage and ignores garbage', () => {
    const total = { ...EMPTY_USAGE };
    const usage = {
      input_tokens: 120,
      output_tokens: 300,
      input_token_details: { audio_tokens: 100, text_tokens: 20, cached_tokens: 10 },
      output_token_details: { audio_tokens: 250, text_tokens: 50 },
    };
    addUsage(total, usage);
    addUsage(total, usage);
    addUsage(total, 'nonsense');
    addUsage(total, { input_tokens: -5, output_tokens: 'x' });
    expect(total).toEqual({
      inputTokens: 240,
      outputTokens: 600,
      inputAudioTokens: 200,
      inputTextTokens: 40,
      cachedTokens: 20,
      outputAudioTokens: 500,
      outputTextTokens: 100,
    });
  });

  it('prices tokens per million with cached input at the cached rate', () => {
    const usage = { ...EMPTY_USAGE, inputAudioTokens: 1_000_000, outputAudioTokens: 1_000_000 };
    expect(estimateCostUsd(usage, pricing)).toBeCloseTo(32 + 64, 6);
    const cached = { ...EMPTY_USAGE, inputTextTokens: 1_000_000, cachedTokens: 1_000_000 };
    expect(estimateCostUsd(cached, pricing)).toBeCloseTo(0.4, 6);
  });

  it('labels caller sentiment from what the caller said', () => {
    expect(analyzeSentiment(['Thank you so much, that is great, I love it']).label).toBe('positive');
    expect(analyzeSentiment(['This is terrible, I am angry and frustrated, awful service']).label).toBe('negative');
    expect(analyzeSentiment(['My account number is four five six']).label).toBe('neutral');
    expect(analyzeSentiment([])).toEqual({ label: 'neutral', score: 0, source: 'local' });
  });

  it('derives talk, silence, turns, latency percentiles and cost for a call', () => {
    const a = computeAnalytics(
      {
        durationMs: 10000,
        callerSegments: [{ startMs: 1000, endMs: 3000 }],
        agentSegments: [
          { startMs: 0, endMs: 1000 },
          { startMs: 3500, endMs: 6000 },
        ],
        latenciesMs: [480, 620.4],
        interruptions: 1,
        callerTurns: 1,
        agentTurns: 2,
        usage: { ...EMPTY_USAGE, inputAudioTokens: 1000, outputAudioTokens: 2000 },
        callerTexts: ['great, thanks'],
      },
      pricing,
    );
    expect(a).toMatchObject({
      callerTalkMs: 2000,
      agentTalkMs: 3500,
      silenceMs: 4500,
      turns: 3,
      interruptions: 1,
      latencyP50Ms: 480,
      latencyP95Ms: 620,
      latencyMaxMs: 620,
      latenciesMs: [480, 620],
      sentimentLabel: 'positive',
      estimatedCostUsd: 0.16,
    });
  });
});

describe('parseModelSentiment', () => {
  it('reads the JSON answer, also inside prose, and clamps the score', () => {
    expect(parseModelSentiment('{"label":"negative","score":-0.62}')).toEqual({
      label: 'negative',
      score: -0.62,
      source: 'model',
    });
    expect(parseModelSentiment('Sure: {"label": "positive", "score": 3}')).toEqual({
      label: 'positive',
      score: 1,
      source: 'model',
    });
  });
  it('rejects anything else', () => {
    for (const bad of ['', 'positive', '{"label":"happy","score":0.5}', '{"label":"neutral"}', '{bad json}']) {
      expect(parseModelSentiment(bad)).toBeUndefined();
    }
  });
});
