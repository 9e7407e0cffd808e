/**
 * Call analytics, computed once at the end of a call from what the session measured.
 */
import Sentiment from 'sentiment';
import type { Config } from '../config';

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  inputAudioTokens: number;
  inputTextTokens: number;
  cachedTokens: number;
  outputAudioTokens: number;
  outputTextTokens: number;
}

export const EMPTY_USAGE: TokenUsage = {
  inputTokens: 0,
  outputTokens: 0,
  inputAudioTokens: 0,
  inputTextTokens: 0,
  cachedTokens: 0,
  outputAudioTokens: 0,
  outputTextTokens: 0,
};

/** Adds the `usage` of a response.done event (GA shape) to a running total. */
export function addUsage(total: TokenUsage, usage: unknown): void {
  if (!usage || typeof usage !== 'object') return;
  const u = usage as Record<string, unknown>;
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
  const inD = (u.input_token_details ?? {}) as Record<string, unknown>;
  const outD = (u.output_token_details ?? {}) as Record<string, unknown>;
  total.inputTokens += n(u.input_tokens);
  total.outputTokens += n(u.output_tokens);
  total.inputAudioTokens += n(inD.audio_tokens);
  total.inputTextTokens += n(inD.text_tokens);
  total.cachedTokens += n(inD.cached_tokens);
  total.outputAudioTokens += n(outD.audio_tokens);
  total.outputTextTokens += n(outD.text_tokens);
}

/** Prices of an engine whose usage costs nothing (the in-process local AI server). */
export const FREE_PRICING: Config['pricing'] = Object.freeze({
  audioInputPerMTok: 0,
  textInputPerMTok: 0,
  cachedInputPerMTok: 0,
  audioOutputPerMTok: 0,
  textOutputPerMTok: 0,
});

/** Estimated cost in USD from token usage and the configured prices (per million tokens). */
export function estimateCostUsd(usage: TokenUsage, pricing: Config['pricing']): number {
  const cached = Math.min(usage.cachedTokens, usage.inputAudioTokens + usage.inputTextTokens);
  // Cached tokens are part of the input tokens; charge them at the cached rate instead.
  const uncachedText = Math.max(0, usage.inputTextTokens - cached);
  const uncachedAudio = usage.inputAudioTokens - Math.max(0, cached - usage.inputTextTokens);
  const cost =
    (Math.max(0, uncachedAudio) * pricing.audioInputPerMTok +
      uncachedText * pricing.textInputPerMTok +
      cached * pricing.cachedInputPerMTok +
      usage.outputAudioTokens * pricing.audioOutputPerMTok +
      usage.outputTextTokens * pricing.textOutputPerMTok) /
    1_000_000;
  return Math.round(cost * 1e6) / 1e6;
}

/** Nearest-rank percentile of unsorted values; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export interface SentimentResult {
  label: 'positive' | 'neutral' | 'negative';
  /** -1 (very negative) .. 1 (very positive). */
  score: number;
  source: 'local' | 'model';
}

const analyzer = new Sentiment();

/**
 * Local sentiment of what the caller said: AFINN word scores (the `sentiment` package), averaged per
 * scored word and scaled to -1..1. No text → neutral 0.
 */
export function analyzeSentiment(callerTexts: readonly string[]): SentimentResult {
  const text = callerTexts.join(' ').trim();
  if (!text) return { label: 'neutral', score: 0, source: 'local' };
  const result = analyzer.analyze(text);
  const scored = result.calculation.length;
  const score = scored === 0 ? 0 : Math.max(-1, Math.min(1, result.score / (scored * 5)));
  const rounded = Math.round(score * 1000) / 1000;
  const label = rounded >= 0.1 ? 'positive' : rounded <= -0.1 ? 'negative' : 'neutral';
  return { label, score: rounded, source: 'local' };
}

export interface TalkSegment {
  startMs: number;
  endMs: number;
}

/** Total length of the union of segments (overlaps counted once). */
export function unionMs(segments: readonly TalkSegment[]): number {
  const sorted = segments.filter((s) => s.endMs > s.startMs).sort((a, b) => a.startMs - b.startMs);
  let total = 0;
  let curStart = -1;
  let curEnd = -1;
  for (const s of sorted) {
    if (s.startMs > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = s.startMs;
      curEnd = s.endMs;
    } else if (s.endMs > curEnd) curEnd = s.endMs;
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

export interface CallMeasurements {
  durationMs: number;
  callerSegments: TalkSegment[];
  agentSegments: TalkSegment[];
  latenciesMs: number[];
  interruptions: number;
  callerTurns: number;
  agentTurns: number;
  usage: TokenUsage;
  callerTexts: string[];
}

export function computeAnalytics(m: CallMeasurements, pricing: Config['pricing'], sentiment?: SentimentResult) {
  const callerTalkMs = Math.round(unionMs(m.callerSegments));
  const agentTalkMs = Math.round(unionMs(m.agentSegments));
  const anyTalkMs = unionMs([...m.callerSegments, ...m.agentSegments]);
  const s = sentiment ?? analyzeSentiment(m.callerTexts);
  const latencies = m.latenciesMs.map((v) => Math.round(v));
  return {
    callerTalkMs,
    agentTalkMs,
    silenceMs: Math.max(0, Math.round(m.durationMs - anyTalkMs)),
    turns: m.callerTurns + m.agentTurns,
    interruptions: m.interruptions,
    latencyP50Ms: percentile(latencies, 50),
    latencyP95Ms: percentile(latencies, 95),
    latencyMaxMs: latencies.length ? Math.max(...latencies) : null,
    latenciesMs: latencies,
    sentimentLabel: s.label,
    sentimentScore: s.score,
    sentimentSource: s.source,
    ...m.usage,
    estimatedCostUsd: estimateCostUsd(m.usage, pricing),
  };
}

/** Instructions of the out-of-band request asking the model for the caller's sentiment. */
export const MODEL_SENTIMENT_INSTRUCTIONS =
  'Rate the sentiment of the CALLER (not the agent) over this whole phone conversation. Answer only with JSON: ' +
  '{"label": "positive" | "neutral" | "negative", "score": number from -1 (very negative) to 1 (very positive)}.';

/** Parses the model's sentiment answer; undefined when it is not the JSON asked for. */
export function parseModelSentiment(text: string): SentimentResult | undefined {
  const json = /\{[\s\S]*\}/.exec(text)?.[0];
  if (!json) return undefined;
  try {
    const value = JSON.parse(json) as { label?: unknown; score?: unknown };
    const label = value.label;
    const score = Number(value.score);
    if ((label !== 'positive' && label !== 'neutral' && label !== 'negative') || !Number.isFinite(score))
      return undefined;
    return { label, score: Math.max(-1, Math.min(1, Math.round(score * 1000) / 1000)), source: 'model' };
  } catch {
    return undefined;
  }
}
