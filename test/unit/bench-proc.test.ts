/** scripts/bench/proc.ts: what the bench reads from /proc about the server's threads. */
import { sampleThread } from '../../scripts/bench/proc';

function spin(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
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
    // USER_HZ ticks: 400 ms of spinning is at least 0.2 s however the ticks fall.
    expect(after!.cpuSeconds - before!.cpuSeconds).toBeGreaterThanOrEqual(0.2);
    // This kernel keeps schedstat (the bench's "waiting for a core" column needs it).
    expect(typeof before!.runQueueWaitSeconds).toBe('number');
    expect(after!.runQueueWaitSeconds!).toBeGreaterThanOrEqual(before!.runQueueWaitSeconds!);
  });

  it('gives null for a process that is not there', () => {
    expect(sampleThread(undefined)).toBeNull();
    expect(sampleThread(2 ** 22 + 12345)).toBeNull();
  });
});
