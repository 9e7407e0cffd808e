/**
 * A live local copy of a NATS key-value bucket: a KV watch (last value per key, then every change)
 * fed to a callback, with a `ready` promise that resolves once the values present when the watch
 * started have all been delivered. Membership (heartbeats) and ownership (call leases) both mirror
 * their bucket this way, so reading "who is alive" or "which calls are leased" costs no round trip.
 *
 * "Caught up" is decided by the stream's last sequence read just before the watch opens: the entry
 * with that revision is the newest of its key, so the watch delivers it last among the initial
 * values. An empty bucket is ready at once. If that message expires in between (buckets with a TTL),
 * an entry with nothing pending also counts, and a bound (`readyTimeoutMs`) ends the wait with a log.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from '../../logging/logger';

export interface BucketMirror {
  /** Resolves when the values present at start have been delivered to the callback. */
  ready: Promise<void>;
  stop(): void;
}

export async function mirrorBucket(
  kv: KV,
  onEntry: (entry: KvWatchEntry, initial: boolean) => void,
  logger: Logger,
  readyTimeoutMs = 5000,
): Promise<BucketMirror> {
  const state = (await kv.status()).streamInfo.state;
  const lastSeq = state.messages === 0 ? 0 : state.last_seq;
  let caughtUp = lastSeq === 0;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let timer: NodeJS.Timeout | undefined;
  if (caughtUp) markReady();
  else {
    timer = setTimeout(() => {
      if (caughtUp) return;
      caughtUp = true;
      logger.warn('key-value watch did not report its initial values in time; going on with what arrived', {
        lastSeq,
        readyTimeoutMs,
      });
      markReady();
    }, readyTimeoutMs);
    timer.unref();
  }
  const iter = await kv.watch();
  let stopped = false;
  void (async () => {
    try {
      for await (const entry of iter) {
        const initial = !caughtUp;
        if (!caughtUp && (entry.revision >= lastSeq || entry.delta === 0)) {
          caughtUp = true;
          if (timer) clearTimeout(timer);
          markReady();
        }
        try {
          onEntry(entry, initial);
        } catch (err) {
          logger.error('key-value watch handler failed', { key: entry.key, error: (err as Error).message });
        }
      }
    } catch (err) {
      if (!stopped) logger.error('key-value watch ended with an error', { error: (err as Error).message });
    }
  })();
  return {
    ready,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      iter.stop();
    },
  };
}
