/** scripts/bench/proc.ts: what the bench reads from /proc about the server's threads. */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { sampleSystem, sampleThread, sampleThreads } from '../../scripts/bench/proc';

/** This thread's own CPU time in USER_HZ ticks (utime + stime), read by another path than proc.ts's. */
const ownTicks = (): number => {
  const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

/**
 * Spins until this thread has used `ms` of CPU (not of wall time: on a loaded machine a wall-clock
 * spin can get half a core, which made the first test fail once in CI).
 */
function spin(ms: number): void {
  const end = ownTicks() + Math.ceil(ms / 10);
  while (ownTicks() < end) {
    // busy
  }
}

describe('bench /proc readings', () => {
  it("reads a thread's CPU seconds and its run-queue wait, both counting up", () => {
    const before = sampleThread(process.pid);
    spin(400);
    const after = sampleThread(process.pid);
    expect(before).not.toBeNull();
    expect(after).not.toBeNull();
    // 400 ms of this thread's CPU, counted in USER_HZ ticks: at least 0.2 s however the ticks fall.
    expect(after!.cpuSeconds - before!.cpuSeconds).toBeGreaterThanOrEqual(0.2);
    // This kernel keeps schedstat (the bench's "waiting for a core" column needs it).
    expect(typeof before!.runQueueWaitSeconds).toBe('number');
    expect(after!.runQueueWaitSeconds!).toBeGreaterThanOrEqual(before!.runQueueWaitSeconds!);
  });

  it("reads the machine's busy, total and stolen CPU time from /proc/stat's first line", () => {
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const sample = sampleSystem();
    expect(sample).not.toBeNull();
    // Steal is the 8th field: read at the same moment, within the few ticks that passed between the reads.
    expect(sample!.stealSeconds).toBeGreaterThanOrEqual(ticks[7] / 100);
    expect(sample!.stealSeconds).toBeLessThan(ticks[7] / 100 + 1);
    expect(sample!.stealSeconds).toBeLessThanOrEqual(sample!.busySeconds);
    expect(sample!.busySeconds).toBeLessThan(sample!.totalSeconds);
    spin(300);
    const after = sampleSystem()!;
    expect(after.busySeconds - sample!.busySeconds).toBeGreaterThanOrEqual(0.1);
    expect(after.stealSeconds).toBeGreaterThanOrEqual(sample!.stealSeconds);
  });

  it('counts a wake-up each time the thread is put back on a core', () => {
    // Atomics.wait blocks in the kernel (a futex) every time; a 2 ms setTimeout does not when the
    // loop's cached clock has already passed it, which gave 88 of 100 once in CI.
    const cell = new Int32Array(new SharedArrayBuffer(4));
    const before = sampleThread(process.pid)!;
    for (let i = 0; i < 100; i++) Atomics.wait(cell, 0, 0, 2);
    const after = sampleThread(process.pid)!;
    expect(typeof before.timeslices).toBe('number');
    // 100 sleeps are at least 100 switch-ins; a preemption adds one (not schedstat's nanoseconds,
    // which a wrong field would give).
    expect(after.timeslices! - before.timeslices!).toBeGreaterThanOrEqual(100);
    expect(after.timeslices! - before.timeslices!).toBeLessThan(5000);
  });

  it("adds up every thread of the process: a worker's CPU counts, the main thread's alone does not have it", async () => {
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const { readFileSync, readlinkSync } = require('node:fs');
       // The worker's own CPU ticks, so that it spins 500 ms of CPU however loaded the machine is.
       const ticks = () => { const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
       // on(), not once(): the open listener keeps the thread alive (and its counts in /proc) until terminate().
       parentPort.on('message', () => {
         const end = ticks() + 50;
         while (ticks() < end);
         parentPort.postMessage(Number(readlinkSync('/proc/thread-self').split('/').pop()));
       });`,
      { eval: true },
    );
    try {
      await new Promise((resolve) => worker.once('online', resolve));
      worker.postMessage('spin');
      const workerTid = await new Promise<number>((resolve) => worker.once('message', resolve));
      // Each thread's counters only grow, so a sum read after its parts is at least their sum. (Two
      // sums taken apart are not comparable: a thread that ends between them takes its CPU out of
      // the second; a worker that exited right after answering once hid its own spin that way.)
      const spinner = sampleThread(process.pid, workerTid)!;
      const main = sampleThread(process.pid)!;
      const all = sampleThreads(process.pid)!;
      expect(spinner.cpuSeconds).toBeGreaterThanOrEqual(0.45);
      expect(main.cpuSeconds).toBeLessThan(all.cpuSeconds);
      expect(all.cpuSeconds).toBeGreaterThanOrEqual(main.cpuSeconds + spinner.cpuSeconds - 1e-9);
      expect(all.timeslices!).toBeGreaterThanOrEqual(main.timeslices! + spinner.timeslices!);
      expect(all.threads).toBeGreaterThanOrEqual(2);
    } finally {
      await worker.terminate();
    }
  });

  it('gives null for a process that is not there', () => {
    expect(sampleThread(undefined)).toBeNull();
    expect(sampleThread(2 ** 22 + 12345)).toBeNull();
    expect(sampleThreads(undefined)).toBeNull();
    expect(sampleThreads(2 ** 22 + 12345)).toBeNull();
  });
});
