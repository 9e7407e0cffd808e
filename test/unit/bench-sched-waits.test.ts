import { cpuByProcess, parseTimehist, schedWaits } from '../../scripts/bench/sched-waits';

// `perf sched timehist` lines: time (s), [cpu], task, wait, sch delay, run time (ms). Each line is a
// run that ended at `time`.
const TRACE = `
           time    cpu  task name                       wait time  sch delay   run time
                        [tid/pid]                          (msec)     (msec)     (msec)
--------------- ------  ------------------------------  ---------  ---------  ---------
      10.000000 [0000]  node[200]                           0.000      0.000      2.000
      10.001000 [0001]  <idle>                              0.000      0.000      3.000
      10.000500 [0000]  node[100]                           1.000      0.010      0.500
      10.001500 [0000]  node[200]                           0.000      0.000      1.000
      10.001600 [0000]  node[100]                           0.500      1.000      0.100
      10.002000 [0001]  node[101/100]                       0.000      0.000      1.000
      10.003000 [0000]  node[100]                           0.200      0.020      0.300
      not a run line
`;

describe('bench scheduler waits (perf sched timehist)', () => {
  it('parses the runs and skips headers and other lines', () => {
    const runs = parseTimehist(TRACE);
    expect(runs).toHaveLength(7);
    expect(runs[2]).toEqual({ start: 10000, end: 10000.5, cpu: '[0000]', task: 'node[100]', delayMs: 0.01 });
    expect(runs[1].task).toBe('<idle>');
  });

  it("counts a thread's delays and what ran on each CPU while it waited", () => {
    const w = schedWaits(parseTimehist(TRACE), 100, 0.05);
    expect(w.switchesIn).toBe(3);
    expect(w.delayMs).toEqual({ p50: 0.02, p99: 1, max: 1 });
    // one delay over 0.05 ms: 1 ms, from 10000.5 to 10001.5 (its run started at 10001.5)
    expect(w.long).toEqual({ count: 1, totalMs: 1 });
    // on its own CPU node[200] held it (ran 10000.5-10001.5); the other CPU was idle until 10001, then
    // ran a thread of pid 100 (its own process, counted as node[*,100])
    expect(w.sameCpu.get('node[200]')).toBeCloseTo(1, 6);
    expect(w.otherCpus.get('<idle>')).toBeCloseTo(0.5, 6);
    expect(w.otherCpus.get('node[*,100]')).toBeCloseTo(0.5, 6);
    expect(schedWaits(parseTimehist(TRACE), 100, 2).long.count).toBe(0);
  });

  it('gives the CPU time each process had in a stretch, its threads together, named when the bench knows it', () => {
    const runs = parseTimehist(TRACE);
    // In 10000-10002 ms: node[200] 10000.5-10001.5 (its 9998-10000 run ends as the stretch starts);
    // pid 100's main thread 10000-10000.5 and 10001.5-10001.6, its thread 101 10001-10002; the other
    // CPU idle 9998-10001 (1 ms of it inside).
    const got = new Map(cpuByProcess(runs, 10000, 10002, { 100: 'server' }));
    expect(got.get('server')).toBeCloseTo(0.5 + 0.1 + 1, 6);
    expect(got.get('node[200]')).toBeCloseTo(1, 6);
    expect(got.get('idle')).toBeCloseTo(1, 6);
    expect([...got.keys()]).toHaveLength(3);
    // Largest first; without names, a process is its main thread's name and pid.
    const unnamed = cpuByProcess(runs, 10000, 10002);
    expect(unnamed[0]).toEqual(['node[100]', expect.closeTo(1.6, 6)]);
    expect(cpuByProcess(runs, 20000, 20001)).toEqual([]);
  });
});
