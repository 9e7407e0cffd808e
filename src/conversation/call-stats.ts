/**
 * What one call measures while it runs (frames, barge-ins, reconnects, response latencies, talk
 * segments, token usage, the caller's words for sentiment), its live stats on the bus (`call.stats`),
 * and the analytics row computed from them when it ends.
 */
import { performance } from 'node:perf_hooks';
import type { Config } from '../config';
import type { Logger } from '../logging/logger';
import type { CallManager } from '../calls/call-manager';
import {
  computeAnalytics,
  EMPTY_USAGE,
  type SentimentResult,
  type TalkSegment,
  type TokenUsage,
} from '../calls/call-analytics';
import { MAX_STAGE_TURNS, stageTurn, summarizeStageLatencies, type StageTurn } from '../calls/stage-latency';
import type { EngineUsage, TurnLatency } from './engine';

export interface SessionMetrics {
  bargeIns: number;
  aiReconnects: number;
  framesIn: number;
  framesOut: number;
  lateAgentDeltas: number;
  aiErrors: number;
}

/** Intents kept per call (the metadata keeps the list; the timeline has every one). */
const MAX_INTENTS = 50;

export class CallStats {
  readonly counts: SessionMetrics = {
    bargeIns: 0,
    aiReconnects: 0,
    framesIn: 0,
    framesOut: 0,
    lateAgentDeltas: 0,
    aiErrors: 0,
  };
  readonly callerSegments: TalkSegment[] = [];
  readonly agentSegments: TalkSegment[] = [];
  readonly callerTexts: string[] = [];
  readonly latenciesMs: number[] = [];
  readonly interruptionsAtMs: number[] = [];
  /** Per-stage latency of each turn (engines with stages: the cascaded pipeline). */
  readonly stageTurns: StageTurn[] = [];
  /** The intents the engine's router classified, in order (at most MAX_INTENTS). */
  readonly intents: string[] = [];
  agentTurns = 0;
  private readonly usage: TokenUsage = { ...EMPTY_USAGE };
  /** performance.now() when the caller stopped speaking: the next agent audio measures the latency. */
  private awaitingResponseSince: number | undefined;

  constructor(
    private readonly callId: string,
    private readonly callManager: CallManager,
  ) {}

  addUsage(usage: Partial<EngineUsage> | undefined): void {
    if (!usage) return;
    const n = (v: number | undefined): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
    const u = this.usage;
    u.inputTextTokens += n(usage.inputTextTokens);
    u.inputAudioTokens += n(usage.inputAudioTokens);
    u.cachedTokens += n(usage.cachedTokens);
    u.outputTextTokens += n(usage.outputTextTokens);
    u.outputAudioTokens += n(usage.outputAudioTokens);
    u.inputTokens += n(usage.inputTextTokens) + n(usage.inputAudioTokens);
    u.outputTokens += n(usage.outputTextTokens) + n(usage.outputAudioTokens);
  }

  /** One turn's stage latency (kept for the analytics row); the stored form, or undefined when dropped. */
  turnLatency(latency: TurnLatency): StageTurn | undefined {
    const turn = stageTurn(latency);
    if (turn && this.stageTurns.length < MAX_STAGE_TURNS) this.stageTurns.push(turn);
    return turn;
  }

  intent(intent: string): void {
    if (this.intents.length < MAX_INTENTS) this.intents.push(intent);
  }

  callerStopped(now: number): void {
    this.awaitingResponseSince = now;
  }

  callerStarted(): void {
    this.awaitingResponseSince = undefined;
  }

  /** The first agent audio (or text) after the caller stopped: one response latency. */
  agentResponded(): void {
    if (this.awaitingResponseSince === undefined) return;
    this.latenciesMs.push(performance.now() - this.awaitingResponseSince);
    this.awaitingResponseSince = undefined;
    this.publish();
  }

  publish(): void {
    const n = this.latenciesMs.length;
    this.callManager.publishStats(this.callId, {
      interruptions: this.interruptionsAtMs.length,
      latencyLastMs: n ? Math.round(this.latenciesMs[n - 1]) : null,
      latencyAvgMs: n ? Math.round(this.latenciesMs.reduce((a, b) => a + b, 0) / n) : null,
      aiReconnects: this.counts.aiReconnects,
    });
  }

  /** Computes and stores the call's analytics; logs (never throws) when it cannot. */
  async save(
    durationMs: number,
    pricing: Config['pricing'],
    sentiment: SentimentResult | undefined,
    log: Logger,
  ): Promise<void> {
    try {
      const analytics = computeAnalytics(
        {
          durationMs,
          callerSegments: this.callerSegments,
          agentSegments: this.agentSegments,
          latenciesMs: this.latenciesMs,
          interruptions: this.interruptionsAtMs.length,
          callerTurns: this.callerSegments.length,
          agentTurns: this.agentTurns,
          usage: this.usage,
          callerTexts: this.callerTexts,
        },
        pricing,
        sentiment,
      );
      const stageLatencies = summarizeStageLatencies(this.stageTurns);
      await this.callManager.saveAnalytics({
        callId: this.callId,
        ...analytics,
        latenciesMs: analytics.latenciesMs,
        ...(stageLatencies ? { stageLatencies } : {}),
      });
    } catch (err) {
      log.error('could not store analytics', { error: (err as Error).message });
    }
  }
}
