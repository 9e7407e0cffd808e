/**
 * When a recorder may write synchronously (StereoWavRecorder's `syncWrites`, used by the live
 * recordings' thread): a write into the page cache takes microseconds, so on a thread that only
 * records it costs less than a hand-off to libuv's pool. A disk that stalls would stall that whole
 * thread, though (every call's ring waits; LiveRecording's backlog holds the audio meanwhile), so
 * one write slower than SLOW_SYNC_WRITE_MS sends every recorder of this thread back to the pool's
 * asynchronous writes for POOL_AFTER_SLOW_MS, where a slow disk only makes the queues longer.
 */
export const SLOW_SYNC_WRITE_MS = 50;
export const POOL_AFTER_SLOW_MS = 60_000;

let suspendedUntil = 0;

/** This thread's synchronous writes slower than SLOW_SYNC_WRITE_MS so far. */
export const syncWriteStats = { slowWrites: 0 };

/** Whether synchronous writes are allowed now (not within POOL_AFTER_SLOW_MS of a slow one). */
export function syncWritesAllowed(now = Date.now()): boolean {
  return now >= suspendedUntil;
}

/** Runs a synchronous write and times it; a slow one suspends synchronous writes on this thread. */
export function timedSyncWrite<T>(write: () => T): T {
  const started = performance.now();
  try {
    return write();
  } finally {
    if (performance.now() - started > SLOW_SYNC_WRITE_MS) {
      suspendedUntil = Date.now() + POOL_AFTER_SLOW_MS;
      syncWriteStats.slowWrites++;
    }
  }
}
