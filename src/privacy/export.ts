/**
 * Subject access export (GDPR art. 15 and 20): everything stored about one phone number — every call
 * from or to it with its transcripts, timeline, analytics, metadata and notes as `calls.json`, and
 * each recording as `recordings/<callId>.wav` — streamed as one zip (archiver), never held whole in
 * memory.
 */
import { createReadStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { Db } from '../db/prisma';
import type { Logger } from '../logging/logger';
import { resolveInside } from '../http/recordings-routes';
import { openSealedFile, SEALED_EXT } from './sealed-file';

export interface ExportDeps {
  db: Db;
  recordingsDir: string;
  logger: Logger;
  /** RECORDING_ENCRYPTION_KEY: sealed recordings are decrypted into the zip. */
  recordingKey?: Buffer;
}

/** The calls of a number, with everything stored about them. */
export async function collectNumberData(db: Db, number: string) {
  return db.call.findMany({
    where: { OR: [{ from: number }, { to: number }], erasedAt: null },
    orderBy: { startedAt: 'asc' },
    include: {
      transcripts: { orderBy: { startMs: 'asc' } },
      events: { orderBy: { at: 'asc' } },
      recordings: true,
      analytics: true,
      metadata: true,
    },
  });
}

/** Streams the zip to `out`; resolves with what it held once the archive is complete. */
export async function streamNumberExport(
  deps: ExportDeps,
  number: string,
  out: Writable,
): Promise<{ calls: number; recordings: number }> {
  const calls = await collectNumberData(deps.db, number);
  // archiver (~17 MB resident once loaded) loads with the first export, not at start.
  const { default: archiver } = await import('archiver');
  const zip = archiver('zip', { zlib: { level: 6 } });
  const done = new Promise<void>((resolve, reject) => {
    out.on('close', resolve);
    out.on('finish', resolve);
    zip.on('error', reject);
  });
  zip.pipe(out);
  const json = JSON.stringify(
    { number, exportedAt: new Date().toISOString(), calls },
    (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v),
    2,
  );
  zip.append(json, { name: 'calls.json' });
  let recordings = 0;
  for (const call of calls) {
    for (const rec of call.recordings) {
      const file = await resolveInside(deps.recordingsDir, rec.path);
      if (!file) continue;
      if (file.endsWith(SEALED_EXT) && !deps.recordingKey) continue;
      const stream = file.endsWith(SEALED_EXT)
        ? await openSealedFile(file, deps.recordingKey!)
        : createReadStream(file);
      zip.append(stream as Readable, {
        name: `recordings/${call.id}${rec.id === call.recordings[0].id ? '' : `-${rec.id}`}.wav`,
      });
      recordings++;
    }
  }
  await zip.finalize();
  await done;
  return { calls: calls.length, recordings };
}
