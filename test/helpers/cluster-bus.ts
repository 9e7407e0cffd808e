/**
 * Helpers of the cluster bus tests (test/integration/cluster-bus*.test.ts): a logger that keeps its
 * lines, a Call row for events, and waiting for an event of a ClusterBus's feed.
 */
import { Writable } from 'node:stream';
import winston from 'winston';
import type { ClusterBusEvent } from '../../src/events/event-bus';
import type { ClusterBus } from '../../src/cluster/nats/bus';
import type { Call } from '../../src/generated/prisma/client';

export function captureLogger(): { logger: winston.Logger; lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const logger = winston.createLogger({
    level: 'debug',
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          objectMode: true,
          write: (info: { level: string; message: string }, _enc, done) => {
            lines.push({ level: info.level, message: info.message });
            done();
          },
        }),
      }),
    ],
  });
  return { logger, lines };
}

export function fakeCall(id: string, status = 'in-progress'): Call {
  const now = new Date();
  return { id, callSid: `CA${id}`, status, startedAt: now, createdAt: now, updatedAt: now, endedAt: null } as Call;
}

/** Resolves with the first feed event matching `predicate` (from now on). */
export function nextFeedEvent(
  feed: ClusterBus,
  predicate: (e: ClusterBusEvent) => boolean,
  timeoutMs = 5000,
): Promise<ClusterBusEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('timed out waiting for a cluster feed event'));
    }, timeoutMs);
    const off = feed.subscribe((e) => {
      if (!predicate(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}
