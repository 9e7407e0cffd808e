// `npx tsx scripts/db-burst.ts [--calls 100] [--postgres-url postgres://…]`: times a burst of call
// writes through the CallManager on SQLite and PostgreSQL, with the writes in the writer thread
// (src/db/db-writer.ts) and on the main thread: `calls` calls at once, each created, given 10
// transcript turns and 3 timeline events (batched), ended and analysed. Each path is warmed with a
// small burst first (Prisma's query plans, the pool's connections). Prints one line per path, with
// the longest main-thread stall during the timed burst: what live calls' audio would feel.
import { parseArgs } from 'node:util';
import { createTestDatabase, TEST_POSTGRES_URL, type DatabaseKind } from './lib/test-db';
import { CallManager } from '../src/calls/call-manager';
import { openCallStore } from '../src/db/call-store';
import { createDb } from '../src/db/prisma';
import { EventBus } from '../src/events/event-bus';
import { createLogger } from '../src/logging/logger';
import { createMigratedTempDatabase } from './lib/test-db';

const logger = createLogger({ level: 'error', json: false, silent: true });

async function burst(cm: CallManager, tag: string, calls: number): Promise<void> {
  await Promise.all(
    Array.from({ length: calls }, async (_, i) => {
      const call = await cm.createCall({ from: `+1555${String(i).padStart(6, '0')}`, agent: tag });
      for (let turn = 0; turn < 10; turn++)
        cm.addTranscript(call.id, {
          speaker: turn % 2 ? 'agent' : 'caller',
          text: `turn ${turn} of ${tag}`,
          startMs: turn * 1000,
        });
      for (let e = 0; e < 3; e++) cm.addEvent(call.id, 'dtmf', { digit: String(e) }, e * 100);
      await cm.endCall(call.id, { reason: 'caller-hangup', status: 'completed' });
      await cm.saveAnalytics({ callId: call.id, turns: 10 });
    }),
  );
  await cm.flush();
}

async function measure(kind: DatabaseKind, inThread: boolean, calls: number): Promise<string> {
  if (kind === 'sqlite') await createMigratedTempDatabase(); // builds the SQLite template once
  const database = await createTestDatabase(kind);
  const db = await createDb(database.databaseUrl);
  const store = await openCallStore(database.databaseUrl, db, { inThread });
  const cm = new CallManager({ repository: store.store, bus: new EventBus(100), logger });
  try {
    await burst(cm, 'warm', 10);
    // The longest the main thread went without running a 5 ms timer (a run of microtasks counts too).
    let last = performance.now();
    let longest = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    await burst(cm, 'timed', calls);
    const ms = performance.now() - started;
    clearInterval(ticker);
    longest = Math.max(longest, performance.now() - last);
    return `${kind.padEnd(8)} ${inThread ? 'main thread  ' : 'writer thread'} ${calls} calls: ${Math.round(ms)} ms (${(ms / calls).toFixed(1)} ms/call), longest main-thread stall ${Math.round(longest)} ms`;
  } finally {
    await cm.close();
    await store.close();
    await db.$disconnect();
    await database.cleanup();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { calls: { type: 'string', default: '100' }, 'postgres-url': { type: 'string' } },
  });
  if (values['postgres-url']) process.env.TEST_POSTGRES_URL = values['postgres-url'];
  const calls = Number(values.calls);
  console.log(`PostgreSQL: ${process.env.TEST_POSTGRES_URL ?? TEST_POSTGRES_URL}`);
  for (const kind of ['sqlite', 'postgres'] as const)
    for (const inThread of [false, true]) console.log(await measure(kind, inThread, calls));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
