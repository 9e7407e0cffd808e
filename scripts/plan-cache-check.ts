/**
 * Heap kept by Prisma's query-plan cache for the batched transcript writes (see
 * CallRepository.insertBatch): batches of every size from 1 to MAX rows, then the heap after GC.
 *
 *   node --expose-gc --import tsx scripts/plan-cache-check.ts raw 600      # one createMany per batch
 *   node --expose-gc --import tsx scripts/plan-cache-check.ts chunked 600  # CallRepository.insertBatch
 *   node --expose-gc --import tsx scripts/plan-cache-check.ts const 600    # same size every time
 *
 * Measured here: raw +19.5 MB (300 sizes) / +37.4 MB (600); chunked +4.5 / +6.0 MB; const +1.3 MB.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyPendingMigrations } from '../src/db/migrations';
import { createDb } from '../src/db/prisma';
import { CallRepository } from '../src/db/call-repository';

const gc = (globalThis as unknown as { gc: () => void }).gc;
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
async function main(): Promise<void> {
  const url = `file:${path.join(mkdtempSync(path.join(tmpdir(), 'plan-')), 'db.db')}`;
  await applyPendingMigrations(url);
  const db = await createDb(url);
  const repo = new CallRepository(db);
  const call = await db.call.create({ data: { callSid: 'CAplan' } });
  const rows = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ callId: call.id, speaker: 'caller', text: `t${i}`, startMs: i }));
  await repo.insertBatch(rows(3), []);
  const h0 = heap();
  const max = Number(process.argv[3] ?? 300);
  for (let n = 1; n <= max; n++) {
    if (process.argv[2] === 'raw') await db.transcript.createMany({ data: rows(n) });
    else if (process.argv[2] === 'const') await repo.insertBatch(rows(10), []);
    else await repo.insertBatch(rows(n), []);
  }
  console.log(`${process.argv[2] ?? 'chunked'}: heap +${(heap() - h0).toFixed(1)} MB after batches of 1..${max} rows`);
  await db.$disconnect();
}
void main();
