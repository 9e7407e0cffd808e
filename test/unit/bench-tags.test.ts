import { mulaw } from 'alawmulaw';
import {
  callSecondsIn,
  distribution,
  growthFromOneCall,
  latencyByTickRank,
  matchTags,
  medianOf,
  loadCpuMsPerCallSecond,
  pairedDifferences,
  pairedTable,
  anotherRun,
  runsWithoutSteal,
  stolenPairs,
} from '../../scripts/bench/figures';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  SendTimes,
  TAG_BYTES,
  fromPerfNow,
  now,
  readTag,
  readTags,
  tagBase64Frame,
  writeTag,
} from '../../scripts/bench/tags';

describe('bench frame tags', () => {
  it('round-trips ids across the 32-bit range, inside silence and inside speech', () => {
    const speech = Buffer.from(Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff));
    for (const id of [0, 1, 9, 10, 255, 65535, 123456789, 0xffffffff]) {
      for (const base of [Buffer.alloc(160, 0xff), speech]) {
        const frame = Buffer.from(base);
        writeTag(frame, 0, id);
        expect(readTag(frame)).toBe(id);
      }
    }
  });

  it('is near-silence: every tag byte decodes to a tiny amplitude', () => {
    const frame = Buffer.alloc(TAG_BYTES);
    writeTag(frame, 0, 0xdeadbeef);
    for (const b of frame) expect(Math.abs(mulaw.decodeSample(b))).toBeLessThanOrEqual(124);
  });

  it('finds every tag anywhere in a chunk, and none in untagged audio', () => {
    const chunk = Buffer.alloc(800, 0xff);
    writeTag(chunk, 0, 7);
    writeTag(chunk, 320, 8);
    writeTag(chunk, 517, 9); // not frame-aligned: still found
    const ids: number[] = [];
    readTags(chunk, (id) => ids.push(id));
    expect(ids).toEqual([7, 8, 9]);
    expect(readTag(Buffer.alloc(800, 0xff))).toBe(-1);
    expect(readTag(Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 131) & 0xff)))).toBe(-1);
  });

  it('rejects a corrupted tag (checksum, non-tag byte, cut short)', () => {
    const frame = Buffer.alloc(160, 0xff);
    writeTag(frame, 0, 4242);
    const badSum = Buffer.from(frame);
    badSum[7] ^= 0x01; // an id nibble changes: the checksum no longer matches
    expect(readTag(badSum)).toBe(-1);
    const badByte = Buffer.from(frame);
    badByte[10] = 0x12;
    expect(readTag(badByte)).toBe(-1);
    expect(readTag(frame.subarray(0, TAG_BYTES - 1))).toBe(-1);
    expect(() => writeTag(Buffer.alloc(10), 0, 1)).toThrow(RangeError);
    expect(() => writeTag(Buffer.alloc(160), 0, -1)).toThrow(RangeError);
  });

  it('survives base64 (the Twilio media payload and the append audio) and leaves the original alone', () => {
    const original = Buffer.alloc(160, 0xff).toString('base64');
    const tagged = tagBase64Frame(original, 31337);
    expect(tagged).not.toBe(original);
    expect(Buffer.from(tagged, 'base64')).toHaveLength(160);
    expect(readTag(Buffer.from(tagged, 'base64'))).toBe(31337);
    expect(readTag(Buffer.from(original, 'base64'))).toBe(-1);
  });

  it('reads one clock in every process (another process reads it between two readings of ours)', () => {
    const before = now();
    const script = "import('./scripts/bench/tags.ts').then((t) => console.log((t.now ?? t.default.now)()))";
    const theirs = Number(
      execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
        cwd: path.resolve(__dirname, '../..'),
      }).toString(),
    );
    const after = now();
    expect(theirs).toBeGreaterThanOrEqual(before);
    expect(theirs).toBeLessThanOrEqual(after);
    // performance.now() converted onto the shared clock lies between two readings of it (0.2 ms
    // of slack for the conversion's zero; a preemption between the readings only widens the bracket).
    const first = now();
    const perf = performance.now();
    const last = now();
    expect(fromPerfNow(perf)).toBeGreaterThan(first - 0.2);
    expect(fromPerfNow(perf)).toBeLessThan(last + 0.2);
  });

  it("converts a fresh process's performance.now() onto the shared clock to within 0.2 ms", () => {
    // In a new process the first reading of each clock is slow (lazy set-up): a zero taken from
    // those readings was 1-2.5 ms off on this machine.
    const script =
      "import('./scripts/bench/tags.ts').then((m) => { const t = m.now ? m : m.default; const a = t.now(); const p = performance.now(); const b = t.now(); console.log(JSON.stringify([a, t.fromPerfNow(p), b])); })";
    for (let i = 0; i < 3; i++) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
        cwd: path.resolve(__dirname, '../..'),
      });
      const [a, converted, b] = JSON.parse(out.toString()) as number[];
      // between the two readings of the shared clock, with 0.2 ms of slack for the zero
      expect(converted).toBeGreaterThan(a - 0.2);
      expect(converted).toBeLessThan(b + 0.2);
    }
  });

  it('keeps send times by id in a growable array', () => {
    const times = new SendTimes();
    times.set(1, 10.5);
    times.set(5000, 20);
    const json = times.toJSON();
    expect(json).toHaveLength(5001);
    expect(json[0]).toBeNull();
    expect(json[1]).toBe(10.5);
    expect(json[5000]).toBe(20);
  });
});

describe('bench figures', () => {
  it('gives exact nearest-rank percentiles', () => {
    const d = distribution(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(d).toEqual({ n: 100, p50: 50, p95: 95, p99: 99, max: 100 });
    expect(distribution([]).n).toBe(0);
  });

  it('matches tags inside the window, counts the lost, unheard and pre-stream ones', () => {
    // uplink: ids 1..4 sent at 100..400; 3 never received; 4 sent after the window
    const upSent = [null, 100, 200, 300, 400];
    const upReceived = [1, 105, 2, 230];
    // downlink: 1 heard, 2 dropped (barge-in), 3 sent before its call's stream started (at 150)
    const downSent = [null, 110, 120, 130];
    const downReceived = [1, 112, 100, 3, 200, 150];
    const m = matchTags(upSent, upReceived, downSent, downReceived, 0, 350);
    expect(m.uplinkMs).toMatchObject({ n: 2, p50: 5, max: 30 });
    expect(m.tags).toEqual({ upSent: 3, upLost: 1, downSent: 2, downNotReceived: 1, downBeforeStream: 1 });
    expect(m.downlinkMs).toMatchObject({ n: 1, p50: 2, max: 2 });
  });

  it('matches tags inside any of several ranges (the listeners benchmark alternates quarters)', () => {
    const upSent = [null, 100, 200, 300, 400];
    const upReceived = [1, 101, 2, 202, 3, 303, 4, 404];
    const m = matchTags(
      upSent,
      upReceived,
      [],
      [],
      [
        [0, 150],
        [250, 350],
      ],
    );
    expect(m.uplinkMs).toMatchObject({ n: 2, p50: 1, max: 3 });
    expect(m.tags.upSent).toBe(2);
  });

  it("sorts uplink latency by a frame's place in its caller tick: ticks split at the gap, window and losses left out", () => {
    // Three ticks 20 ms apart, three tagged frames 0.2 ms apart in each; id 0 was never sent.
    const sent: (number | null)[] = [null];
    for (const tick of [0, 20, 40]) for (const k of [0, 1, 2]) sent.push(100 + tick + k * 0.2);
    // Latency grows with the place in the tick (0.5, 1.5, 2.5 ms); the third tick's last frame is lost.
    const received: number[] = [];
    sent.forEach((t, id) => {
      if (t !== null && id !== 9) received.push(id, t + 0.5 + ((id - 1) % 3));
    });
    const byRank = latencyByTickRank(sent, received, 100, 141, 5);
    expect(byRank.map((d) => [d.n, d.p50, d.max])).toEqual([
      [3, 0.5, 0.5],
      [3, 1.5, 1.5],
      [2, 2.5, 2.5],
    ]);
    // A window that ends before the third tick, and a gap wider than a tick (one 9-frame tick).
    expect(latencyByTickRank(sent, received, 100, 130, 5).map((d) => d.n)).toEqual([2, 2, 2]);
    expect(latencyByTickRank(sent, received, 100, 141, 25).map((d) => d.n)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('counts call-seconds inside the window', () => {
    const call = (streamAt: number | null, endAt: number) => ({
      placedAt: 0,
      twimlAt: 0,
      streamAt,
      firstAgentAudioAt: null,
      endAt,
      ok: true,
    });
    expect(callSecondsIn([call(0, 5000), call(2000, NaN), call(null, 3000)], 1000, 4000)).toBe(3 + 2);
  });

  it('takes the median figure by figure', () => {
    const m = medianOf([
      { a: 1, b: { c: 10 }, s: 'x', n: null },
      { a: 3, b: { c: 30 }, s: 'y', n: null },
    ]);
    expect(m).toEqual({ a: 2, b: { c: 20 }, s: 'x', n: null });
  });

  it('compares two bridges pair by pair: the difference in each run, its median, and the pairs won', () => {
    const run = (upP99: number, downP99: number, cpu: number, side = true) => ({
      callerSide: side
        ? {
            uplinkMs: { n: 100, p50: 0.5, p95: 1, p99: upP99, max: 20 },
            downlinkMs: { n: 100, p50: 1, p95: 2, p99: downP99, max: 30 },
          }
        : null,
      server: { cpuMsPerCallSecond: cpu },
    });
    const mine = [run(5, 9, 3), run(4, 6, 3.3), run(2, 8, 2.4), run(9, 9, 3, false)];
    const theirs = [run(3, 9.5, 2.5), run(4, 5, 3), run(3, 4, 2.4), run(1, 1, 2)];
    const figures = pairedDifferences(mine, theirs);
    const up = figures.find((f) => f.figure === 'up p99')!;
    // the fourth pair has no caller-side figures on one side: left out of the latency rows
    expect(up).toMatchObject({ perRun: [2, 0, -1], median: 0, atOrBelow: 2, ratio: false });
    expect(figures.find((f) => f.figure === 'down p99')).toMatchObject({
      perRun: [-0.5, 1, 4],
      median: 1,
      atOrBelow: 1,
    });
    expect(figures.find((f) => f.figure === 'CPU per call-second')).toMatchObject({
      perRun: [1.2, 1.1, 1, 1.5],
      median: 1.15,
      atOrBelow: 1,
      ratio: true,
    });
    const table = pairedTable('burst, 100 calls', 'relay', figures);
    expect(table).toContain('| burst, 100 calls | up p99 | +2.0, 0.0, -1.0 | **0.0** | 2 of 3 |');
    expect(table).toContain(
      '| burst, 100 calls | CPU per call-second | 1.20x, 1.10x, 1.00x, 1.50x | **1.15x** | 1 of 4 |',
    );
    expect(pairedTable('x', 'relay', pairedDifferences([run(1, 1, 1, false)], [run(1, 1, 0)]))).toBe('');
  });

  it("takes the machine's speed out of the CPU ratio: each run's CPU over its load generators' CPU", () => {
    // 2026-12-08's burst series on a PVM guest (server ms per call-second, call-seconds, the AI's
    // and the callers' CPU seconds): the raw ratio went 1.16x-1.65x with the machine's speed,
    // the AI and the callers slowing with the server in the same runs.
    const run = (cpu: number, callSeconds: number, ai: number, caller: number) => ({
      callerSide: null,
      server: { cpuMsPerCallSecond: cpu, callSeconds },
      ai: { cpuSeconds: ai },
      caller: { cpuSeconds: caller },
    });
    const mine = [
      run(4.79, 2907, 6.33, 6.07),
      run(3.44, 2903.4, 4.41, 4.35),
      run(4.1, 2906.8, 5.18, 5.07),
      run(4.25, 2902.9, 5.49, 5.36),
    ];
    const theirs = [
      run(2.91, 2901.1, 4.83, 5.13),
      run(2.97, 2901, 4.96, 4.97),
      run(3.06, 2901, 5.24, 5.31),
      run(2.87, 2901.5, 4.8, 4.86),
    ];
    expect(loadCpuMsPerCallSecond(mine[0])).toBeCloseTo(((6.33 + 6.07) * 1000) / 2907, 6);
    const figures = pairedDifferences(mine, theirs);
    expect(figures.find((f) => f.figure === 'CPU per call-second')!.perRun).toEqual([1.65, 1.16, 1.34, 1.48]);
    const steady = figures.find((f) => f.figure === "CPU over the load generators' CPU")!;
    expect(steady.perRun).toEqual([1.32, 1.31, 1.38, 1.32]);
    expect(steady).toMatchObject({ median: 1.32, atOrBelow: 0, ratio: true });
    // unknown without the load generators' figures (another AI, --ai-url): no row
    const noLoad = pairedDifferences(
      mine.map((r) => ({ ...r, ai: null })),
      theirs,
    ).find((f) => f.figure === "CPU over the load generators' CPU")!;
    expect(noLoad.perRun).toEqual([]);
    expect(loadCpuMsPerCallSecond({ callerSide: null, server: { cpuMsPerCallSecond: 1 } })).toBeUndefined();
  });

  it('leaves out of the pair-by-pair figures the pairs in which the hypervisor stole CPU, and names them', () => {
    const run = (upP99: number, stealPercent?: number) => ({
      callerSide: {
        uplinkMs: { n: 100, p50: 0.5, p95: 1, p99: upP99, max: 20 },
        downlinkMs: { n: 100, p50: 1, p95: 2, p99: 5, max: 30 },
      },
      server: { cpuMsPerCallSecond: 3 },
      ...(stealPercent === undefined ? {} : { machine: { stealPercent } }),
    });
    // pair 2: the relay's run lost 39.8 % of a core; pair 4: Switchboard's 2.5; pair 3 has no figure
    const mine = [run(5, 0.2), run(6, 0), run(4), run(30, 2.5), run(6, 2)];
    const theirs = [run(3, 0.1), run(17, 39.8), run(3), run(4, 0), run(5, 1)];
    const leftOut = stolenPairs(mine, theirs, 2);
    expect(leftOut).toEqual([
      { pair: 2, stealPercent: 39.8 },
      { pair: 4, stealPercent: 2.5 },
    ]);
    const up = pairedDifferences(mine, theirs, leftOut).find((f) => f.figure === 'up p99')!;
    expect(up).toMatchObject({ perRun: [2, 1, 1], median: 1, atOrBelow: 0 });
    // without the filter the stolen pairs would have set the median
    expect(pairedDifferences(mine, theirs).find((f) => f.figure === 'up p99')!.perRun).toEqual([2, -11, 1, 26, 1]);
    const table = pairedTable('burst, 100 calls', 'relay', pairedDifferences(mine, theirs, leftOut), leftOut, 2);
    expect(table).toContain('| burst, 100 calls | up p99 | +2.0, +1.0, +1.0 | **+1.0** | 0 of 3 |');
    expect(table).toContain(
      'burst, 100 calls: left out, more than 2 % of a core stolen by the hypervisor in either run: pair 2 (39.8 %), pair 4 (2.5 %).',
    );
    expect(stolenPairs(mine, theirs, 50)).toEqual([]);
  });

  it('makes extra runs only while fewer than asked were free of steal, and at most --extra-runs of them', () => {
    // --runs 3 --extra-runs 2: the steal of each run decides whether another follows
    const runsMade = (stolen: boolean[]): number => {
      let quiet = 0;
      let done = 0;
      while (anotherRun(done, quiet, 3, 2)) {
        if (!stolen[done]) quiet++;
        done++;
      }
      return done;
    };
    expect(runsMade([false, false, false, false, false])).toBe(3);
    expect(runsMade([false, true, false, false, false])).toBe(4);
    expect(runsMade([true, true, false, true, true])).toBe(5);
    // without --extra-runs, exactly --runs, however many had steal
    expect(anotherRun(2, 0, 3, 0)).toBe(true);
    expect(anotherRun(3, 0, 3, 0)).toBe(false);
  });

  it('takes the median of the runs without steal, or of every run when none was without it', () => {
    const runs = [
      { p99: 4, machine: { stealPercent: 0.2 } },
      { p99: 109, machine: { stealPercent: 95.9 } },
      { p99: 5 },
      { p99: 6, machine: { stealPercent: 2 } },
    ];
    expect(runsWithoutSteal(runs, 2).map((r) => r.p99)).toEqual([4, 5, 6]);
    expect(medianOf(runsWithoutSteal(runs, 2)).p99).toBe(5);
    expect(runsWithoutSteal(runs, 0.1).map((r) => r.p99)).toEqual([5]);
    const stolen = [
      { p99: 30, machine: { stealPercent: 40 } },
      { p99: 20, machine: { stealPercent: 12 } },
    ];
    expect(runsWithoutSteal(stolen, 2)).toEqual(stolen);
  });

  it('counts memory growth per call from the one-call run, per server and scenario', () => {
    const row = (label: string, calls: number, rssPeakMb: number) => ({
      label,
      result: { calls, server: { rssPeakMb } },
    });
    const lines = growthFromOneCall([
      row('steady — A', 100, 125),
      row('steady — A', 1, 100),
      row('steady — A', 200, 150),
      row('steady — B', 100, 90), // no one-call run: no line
    ]);
    expect(lines).toEqual([
      'steady — A: 100 MB with one call; per added call 259 KB to 100 calls, 257 KB to 200 calls',
    ]);
  });
});
