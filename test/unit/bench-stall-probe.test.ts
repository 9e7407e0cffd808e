/**
 * The bench's stall probes (`npm run bench -- --stall-probe`, scripts/bench/stall-probe.ts): the
 * stretches every CPU's probe was late at once, the caller-side maxima beside them, and a real probe
 * process that notes the time it could not run.
 */
import {
  maxBeside,
  overlapping,
  stallFigures,
  startStallProbes,
  together,
  type Stretch,
} from '../../scripts/bench/stall-probe';

describe('together', () => {
  it('keeps only the time in which every CPU was late', () => {
    const cpu0: Stretch[] = [
      [0, 10],
      [20, 30],
      [50, 52],
    ];
    const cpu1: Stretch[] = [
      [5, 25],
      [40, 60],
    ];
    expect(together([cpu0, cpu1])).toEqual([
      [5, 10],
      [20, 25],
      [50, 52],
    ]);
    expect(together([cpu0, cpu1], 4)).toEqual([
      [5, 10],
      [20, 25],
    ]);
    expect(together([cpu0, cpu1, [[8, 21]]])).toEqual([
      [8, 10],
      [20, 21],
    ]);
  });

  it('is nothing when one CPU was never late, and the CPU itself when there is one', () => {
    expect(together([[[0, 10]], []])).toEqual([]);
    expect(together([[[0, 10]]])).toEqual([[0, 10]]);
    expect(together([])).toEqual([]);
  });
});

describe('overlapping', () => {
  it('takes the stretches that share any time with the span, and not those that only touch it', () => {
    const list: Stretch[] = [
      [0, 5],
      [10, 20],
      [30, 40],
    ];
    expect(overlapping(list, 5, 10)).toEqual([]);
    expect(overlapping(list, 4, 11)).toEqual([
      [0, 5],
      [10, 20],
    ]);
    expect(overlapping(list, 35, 100)).toEqual([[30, 40]]);
  });
});

describe('stallFigures', () => {
  it('counts each CPU and every CPU at once inside the window only', () => {
    const cpu0: Stretch[] = [
      [-50, -30],
      [100, 130],
      [500, 505],
    ];
    const cpu1: Stretch[] = [
      [-45, -35],
      [110, 122],
    ];
    expect(stallFigures([0, 1], [cpu0, cpu1], 0, 1000)).toEqual({
      cpus: 2,
      perCpu: [
        { cpu: 0, late: 2, maxMs: 30 },
        { cpu: 1, late: 1, maxMs: 12 },
      ],
      together: { count: 1, maxMs: 12, totalMs: 12 },
    });
  });
});

describe('maxBeside', () => {
  // Tag ids 0..3: sent at 10, 20, 30, 40; received 2 ms later except id 2 (40 ms).
  const tags = {
    upSent: [10, 20, 30, 40],
    upReceived: [0, 12, 1, 22, 2, 70, 3, 42],
    downSent: [15, null],
    downReceived: [0, 45, 0],
  };

  it('sets apart the frames in flight during a stall', () => {
    expect(maxBeside(tags, 0, 100, [[41, 60]])).toEqual({
      upMaxMs: 40,
      upMaxBesideMs: 2,
      downMaxMs: 30,
      downMaxBesideMs: 0,
      upInStall: 2,
      downInStall: 1,
    });
  });

  it('is the plain maximum without stalls, and counts only frames sent in the window', () => {
    expect(maxBeside(tags, 0, 100, [])).toMatchObject({ upMaxMs: 40, upMaxBesideMs: 40, upInStall: 0 });
    expect(maxBeside(tags, 0, 25, [])).toMatchObject({ upMaxMs: 2, downMaxMs: 30 });
  });
});

describe('a probe process', () => {
  jest.setTimeout(30_000);

  it('notes the time it was kept from running (stopped for 150 ms)', async () => {
    const probes = startStallProbes([0]);
    await probes.running;
    const pid = probes.children[0].pid!;
    await new Promise((r) => setTimeout(r, 50));
    const stoppedAt = Number(process.hrtime.bigint()) / 1e6;
    process.kill(pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 150));
    process.kill(pid, 'SIGCONT');
    await new Promise((r) => setTimeout(r, 50));
    const [cpu0] = await probes.stop();
    const long = cpu0.filter(([a, b]) => b - a >= 100);
    expect(long).toHaveLength(1);
    // The stretch starts at the wake-up that was due while the probe was stopped (clock: CLOCK_MONOTONIC).
    expect(long[0][0]).toBeGreaterThanOrEqual(stoppedAt - 20);
    expect(long[0][0]).toBeLessThan(stoppedAt + 20);
  });

  it('fails its stop when it cannot run (no such CPU)', async () => {
    const probes = startStallProbes([4096]);
    await expect(probes.stop()).rejects.toThrow(/stall probe on CPU 4096/);
  });
});
