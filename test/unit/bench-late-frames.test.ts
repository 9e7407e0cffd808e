/** scripts/bench/late-frames.ts: a run's late frames grouped into clusters, from a tag log on disk. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

function lateFrames(log: object, args: string[] = [], profile?: object, timehist?: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'late-frames-'));
  try {
    const file = path.join(dir, 'tags.json');
    writeFileSync(file, JSON.stringify(log));
    if (timehist) {
      writeFileSync(path.join(dir, 'timehist.txt'), timehist);
      args = [...args, '--sched', path.join(dir, 'timehist.txt')];
    }
    if (profile) {
      writeFileSync(path.join(dir, 'server.cpuprofile'), JSON.stringify(profile));
      args = [...args, '--profile', path.join(dir, 'server.cpuprofile')];
    }
    return execFileSync(process.execPath, ['--import', 'tsx', 'scripts/bench/late-frames.ts', file, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('bench late frames', () => {
  // 1,000 frames each way, one every 10 ms from t = 1000 ms; the window is [1000, 11000].
  const sent = Array.from({ length: 1000 }, (_, id) => 1000 + id * 10);
  const upReceived = sent.flatMap((t, id) => [id, t + 1]);
  // Downlink: frames 200-209 (a 90 ms stretch) 12 ms late, frame 700 alone 8 ms, the rest 1 ms;
  // frame 999 never arrives and one frame was sent before the window.
  const downLatency = (id: number): number => (id >= 200 && id <= 209 ? 12 : id === 700 ? 8 : 1);
  const downReceived = sent.flatMap((t, id) => (id === 999 ? [] : [id, t + downLatency(id), 0]));
  const log = {
    windowStart: 1000,
    windowEnd: 11000,
    upSent: [...sent],
    upReceived,
    downSent: [...sent.slice(0, 999), null, 500],
    downReceived: [...downReceived, 1000, 530, 0],
  };

  it('counts the late frames of each direction and groups them by time, largest cluster first', () => {
    const out = lateFrames(log);
    expect(out).toContain('uplink: 1000 tagged frames, 0 over 5 ms in 0 clusters');
    expect(out).toContain('downlink: 999 tagged frames, 11 over 5 ms in 2 clusters; the largest 2 hold 11');
    const lines = out.split('\n');
    const first = lines.findIndex((l) => l.includes('at 2.00 s, 90 ms: 10 late, max 12.0 ms'));
    const second = lines.findIndex((l) => l.includes('at 7.00 s, 0 ms: 1 late, max 8.0 ms'));
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
  });

  it('takes the threshold and the gap that joins late frames from the command line', () => {
    expect(lateFrames(log, ['--over', '10'])).toContain('downlink: 999 tagged frames, 10 over 10 ms in 1 clusters');
    // With a gap under the 10 ms between frames, each late frame is its own cluster.
    expect(lateFrames(log, ['--gap', '5'])).toContain('11 over 5 ms in 11 clusters');
  });

  it("shows what the server's main thread did around each cluster, from its CPU profile on the same clock", () => {
    // Samples every millisecond from 1000 ms (profile times are µs): GC from 2990 to 3040 ms, a
    // function of ours (under a package's frame) from 3040 to 3080 ms, idle otherwise.
    const nodes = [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3, 4] },
      { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      { id: 3, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
      { id: 4, callFrame: { functionName: 'emit', url: 'node:events', lineNumber: 470 }, children: [5] },
      { id: 5, callFrame: { functionName: 'onFrame', url: 'file:///app/dist/src/channels/x.js', lineNumber: 9 } },
    ];
    const samples: number[] = [];
    for (let t = 1001; t <= 11000; t++) samples.push(t > 2990 && t <= 3040 ? 3 : t > 3040 && t <= 3080 ? 5 : 2);
    const profile = { nodes, startTime: 1000 * 1000, samples, timeDeltas: samples.map(() => 1000) };
    const out = lateFrames(log, ['--top', '1'], profile);
    // The cluster (2 s into the window) spans 3000-3090 ms; the profile is read from 25 ms before
    // its first late frame to 5 ms after its last: 2975-3095.
    expect(out).toMatch(/server main thread: busy 90\.0 ms, idle 3\d\.0 ms/);
    expect(out).toMatch(/50\.0 ms {2}\(garbage collector\)/);
    expect(out).toMatch(/40\.0 ms {2}onFrame channels\/x\.js:10 > onFrame channels\/x\.js:10/);
  });

  it('shows which processes had the CPUs while a cluster was in flight, from a scheduler trace on the same clock', () => {
    // The downlink cluster: frames sent 3000-3090 ms, the last 12 ms late, so 3000-3102 ms. On CPU 0
    // the server's main thread and a thread of it, on CPU 1 another process (pid 900) from 2990 to
    // 3050 and the AI after it; a run outside the stretch counts nothing.
    const timehist = [
      '       3.040000 [0000]  node[300]                           0.000      0.000     40.000',
      '       3.100000 [0000]  node[301/300]                       0.000      0.000     60.000',
      '       3.050000 [0001]  beam.smp[900]                       0.000      0.000     60.000',
      '       3.110000 [0001]  node[400]                           0.000      0.000     60.000',
      '       5.000000 [0001]  node[500]                           0.000      0.000      1.000',
    ].join('\n');
    const out = lateFrames(
      { ...log, pids: { server: 300, ai: 400, callers: 500 } },
      ['--top', '1'],
      undefined,
      timehist,
    );
    expect(out).toContain('on the CPUs meanwhile: server 100.0 ms, AI 52.0 ms, beam.smp[900] 50.0 ms');
    expect(out).not.toContain('callers');
  });
});
