import { MAX_STAGE_TURNS, stageTurn, summarizeStageLatencies } from '../../src/calls/stage-latency';
import { CallStats } from '../../src/conversation/call-stats';
import type { CallManager } from '../../src/calls/call-manager';

describe('stage latency figures', () => {
  it('keeps the stages that ran, rounded, and drops non-finite or negative values', () => {
    expect(
      stageTurn({
        callerItemId: 'c1',
        itemId: 'i1',
        responseId: 'r1',
        transcriptMs: 151.26,
        firstTokenMs: Number.NaN,
        firstSpeechByteMs: -3,
        firstAudioMs: 612.04,
      }),
    ).toEqual({ itemId: 'i1', transcriptMs: 151.3, firstAudioMs: 612 });
    expect(stageTurn({ callerItemId: undefined, itemId: 'i2', responseId: undefined })).toBeUndefined();
  });

  it('summarises p50/p95/max per stage by nearest rank; null for a call without turns', () => {
    const turns = Array.from({ length: 20 }, (_, i) => ({ itemId: `i${i}`, firstAudioMs: (i + 1) * 10 }));
    const s = summarizeStageLatencies(turns)!;
    expect(s.summary.firstAudioMs).toEqual({ p50: 100, p95: 190, max: 200, count: 20 });
    expect(s.summary.transcriptMs).toEqual({ p50: null, p95: null, max: null, count: 0 });
    expect(summarizeStageLatencies([])).toBeNull();
  });

  it('a call keeps at most MAX_STAGE_TURNS turns', () => {
    const stats = new CallStats('call', {} as CallManager);
    for (let i = 0; i < MAX_STAGE_TURNS + 50; i++)
      stats.turnLatency({ callerItemId: undefined, itemId: `i${i}`, responseId: undefined, firstAudioMs: 5 });
    expect(stats.stageTurns).toHaveLength(MAX_STAGE_TURNS);
  });
});
