/** The listeners table of `npm run bench -- --listeners N` (scripts/bench/listeners.ts): verdicts, the median line, the control. */
import { listenersMarkdown, unchanged, type ListenersPhase } from '../../scripts/bench/listeners';
import type { CallerSide } from '../../scripts/bench/figures';

const side = (upP99: number, downP99: number): CallerSide =>
  ({
    uplinkMs: { n: 100, p50: 1, p95: 2, p99: upP99, max: upP99 + 1 },
    downlinkMs: { n: 100, p50: 1, p95: 2, p99: downP99, max: downP99 + 1 },
    tags: { upSent: 100, upLost: 0, downSent: 100, downNotReceived: 0, downBeforeStream: 0 },
  }) as CallerSide;

const phase = (without: CallerSide, withL: CallerSide, control?: [CallerSide, CallerSide]): ListenersPhase => ({
  listeners: 10,
  callId: 'c1',
  audioSecondsMin: 7,
  audioSecondsMax: 7.5,
  endedEarly: 0,
  without,
  with: withL,
  unchanged: unchanged(without, withL),
  control: control ? { first: control[0], third: control[1] } : null,
});

describe('bench listeners table', () => {
  it('judges p99 within max(2 ms, 10 %) each way', () => {
    expect(unchanged(side(6, 14), side(7.9, 15.3))).toBe(true);
    expect(unchanged(side(6, 14), side(8.1, 14))).toBe(false);
    expect(unchanged(side(30, 14), side(32.9, 14))).toBe(true);
    expect(unchanged(side(6, 14), side(6, 16.1))).toBe(false);
    expect(unchanged(side(6, 14), null)).toBeNull();
  });

  it('adds the median of the runs and the control quarters', () => {
    const md = listenersMarkdown([
      { label: 'steady #1', phase: phase(side(6, 14), side(10.7, 17.9), [side(5, 13), side(9, 15)]) },
      { label: 'steady #2', phase: phase(side(6.3, 6.8), side(5.3, 5.1)) },
      { label: 'steady #3', phase: phase(side(12.5, 14.7), side(14.1, 9.4)) },
    ]);
    expect(md).toContain('| 5 vs 9 / 13 vs 15 |');
    expect(md).toMatch(/\| steady #1 \|[^\n]*\| NO \|/);
    expect(md).toMatch(/\| steady #2 \|[^\n]*\| n\/a \|[^\n]*\| yes \|/);
    // Medians: up 6.3 -> 10.7 (NO), down 14 -> 9.4.
    expect(md).toContain('| median of 3 runs (p99) | 10 | 6.3 | 10.7 | 14 | 9.4 | | | NO |');
  });
});
