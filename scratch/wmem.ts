import fs from 'node:fs';
import { limitWasmCompilerMemory } from '../src/observability/wasm-memory';
limitWasmCompilerMemory();
import { applyPendingMigrations } from '../src/db/migrations';
import { DbWriter } from '../src/db/db-writer';
const rss = () => Math.round(Number(fs.readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s+(\d+)/)![1]) / 1024);
async function main() {
  const file = '/tmp/wmem.db'; for (const f of [file, file + '-wal', file + '-shm']) fs.rmSync(f, { force: true });
  await applyPendingMigrations('file:' + file);
  await new Promise((r) => setTimeout(r, 500));
  const r0 = rss();
  const w = await DbWriter.start('file:' + file);
  const r1 = rss();
  for (let i = 0; i < 200; i++) {
    const { call } = await w.findOrCreate({ callSid: 'CA' + i, from: '+1' } as any, { region: 'x' } as any);
    await w.update(call.id, { status: 'streaming', answeredAt: new Date() });
    await w.insertBatch([{ callId: call.id, speaker: 'caller', text: 'hi', startMs: 1 }], [{ callId: call.id, type: 'x' }]);
    await w.upsertAnalytics({ callId: call.id } as any).catch(() => undefined);
    await w.update(call.id, { status: 'completed', endedAt: new Date() });
  }
  await new Promise((r) => setTimeout(r, 1000));
  console.log('before', r0, 'started', r1, 'after 200 calls', rss());
  await w.close();
}
main();
