/**
 * Per-stage turn latency of the cascaded engine, stored with the call's analytics
 * (Analytics.stageLatencies): each turn's ms from the end of the caller's speech to the final
 * transcript, the first model token, the first speech byte and the first agent audio, and per stage
 * the p50/p95/max over the call's turns.
 */
import type { TurnLatency } from '../conversation/engine';
import { percentile } from './call-analytics';

export const STAGES = ['transcriptMs', 'firstTokenMs', 'firstSpeechByteMs', 'firstAudioMs'] as const;
export type Stage = (typeof STAGES)[number];

/** Prometheus label of each stage (switchboard_pipeline_stage_ms{stage}). */
export const STAGE_LABELS: Record<Stage, string> = {
  transcriptMs: 'transcript',
  firstTokenMs: 'first_token',
  firstSpeechByteMs: 'first_speech_byte',
  firstAudioMs: 'first_audio',
};

/** Turns kept per call (a call of thousands of turns keeps its summary over the first ones). */
export const MAX_STAGE_TURNS = 500;

export type StageTurn = Partial<Record<Stage, number>> & { itemId: string };

// Type aliases, not interfaces: the stored JSON must be assignable to Prisma's JSON input type.
export type StageSummary = {
  p50: number | null;
  p95: number | null;
  max: number | null;
  count: number;
};

export type StageLatencies = {
  turns: StageTurn[];
  summary: Record<Stage, StageSummary>;
};

/** One turn as stored: the stages that ran, rounded to 0.1 ms; undefined when no stage has a finite value. */
export function stageTurn(latency: TurnLatency): StageTurn | undefined {
  const turn: StageTurn = { itemId: latency.itemId };
  let any = false;
  for (const stage of STAGES) {
    const v = latency[stage];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
      turn[stage] = Math.round(v * 10) / 10;
      any = true;
    }
  }
  return any ? turn : undefined;
}

/** The stored figures of a call's turns; null when the call had none (not a cascaded call). */
export function summarizeStageLatencies(turns: readonly StageTurn[]): StageLatencies | null {
  if (turns.length === 0) return null;
  const summary = {} as Record<Stage, StageSummary>;
  for (const stage of STAGES) {
    const values = turns.map((t) => t[stage]).filter((v): v is number => v !== undefined);
    summary[stage] = {
      p50: percentile(values, 50),
      p95: percentile(values, 95),
      max: values.length ? Math.max(...values) : null,
      count: values.length,
    };
  }
  return { turns: [...turns], summary };
}
