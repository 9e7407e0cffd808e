/**
 * Re-imports dead-lettered rows (see dead-letter.ts) into the database: `npm run db:reimport`.
 *
 * For each `writes-YYYYMMDD.jsonl` of the folder (and any `*.importing` a crashed run left):
 * 1. rename it `<name>.<time>.importing` first (a running server then appends to a fresh file, never
 *    to the one being read);
 * 2. each row already in the database is skipped (idempotent: a run repeated after a crash, or a row
 *    that was written after all); the others are inserted one by one;
 * 3. a row that still cannot be written is appended to today's dead-letter file again (reason
 *    `reimport-failed`, with the error), so nothing is lost and a later run retries it;
 * 4. the file is renamed `<name>.<time>.imported` (kept for audit; delete it when no longer wanted).
 *
 * Identity of a row (there is no natural key): a transcript by call, speaker, start, end, item id and
 * text; an event by call, type, time (ms) and offset.
 */
import { readdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Prisma } from '../generated/prisma/client';
import type { Db } from './prisma';
import { DEAD_LETTER_FILE_PATTERN, DeadLetterStore, type DeadLetterEntry, type DeadLetterRecord } from './dead-letter';
import { describeWriteError } from './write-errors';

export interface ImportFileReport {
  file: string;
  rows: number;
  imported: number;
  skipped: number;
  failed: number;
  malformed: number;
}

export interface ImportReport {
  dir: string;
  files: ImportFileReport[];
  rows: number;
  imported: number;
  /** Already in the database. */
  skipped: number;
  /** Still failing: written back to the dead letter for a later run. */
  failed: number;
  /** Lines that are not a dead-letter record (kept in the .imported file). */
  malformed: number;
  /** First errors, for the operator (no row data). */
  errors: string[];
}

const IMPORTING_SUFFIX = '.importing';
const IMPORTED_SUFFIX = '.imported';

function transcriptData(record: DeadLetterRecord): Prisma.TranscriptCreateManyInput {
  const row = record.row as unknown as Prisma.TranscriptCreateManyInput;
  // The row was queued at queuedAt: keep that as its creation time (it would have been committed then).
  return { ...row, createdAt: row.createdAt ? new Date(row.createdAt) : new Date(record.queuedAt) };
}

function eventData(record: DeadLetterRecord): Prisma.CallEventCreateManyInput {
  const row = record.row as unknown as Prisma.CallEventCreateManyInput;
  const data = { ...row, at: new Date(row.at ?? record.queuedAt) };
  if (data.data === null) delete data.data;
  return data;
}

async function transcriptExists(db: Db, t: Prisma.TranscriptCreateManyInput): Promise<boolean> {
  const found = await db.transcript.findFirst({
    where: {
      callId: t.callId,
      speaker: t.speaker,
      startMs: t.startMs,
      endMs: t.endMs ?? null,
      itemId: t.itemId ?? null,
      text: t.text,
    },
    select: { id: true },
  });
  return found !== null;
}

async function eventExists(db: Db, e: Prisma.CallEventCreateManyInput): Promise<boolean> {
  const found = await db.callEvent.findFirst({
    where: { callId: e.callId, type: e.type, at: e.at, offsetMs: e.offsetMs ?? null },
    select: { id: true },
  });
  return found !== null;
}

function isRecord(value: unknown): value is DeadLetterRecord {
  const r = value as DeadLetterRecord | null;
  return (
    !!r &&
    typeof r === 'object' &&
    (r.table === 'transcript' || r.table === 'event') &&
    !!r.row &&
    typeof r.row === 'object' &&
    typeof r.queuedAt === 'string'
  );
}

/** A file set aside by a run: `<dead-letter file>.<time>.importing`. */
const IMPORTING_PATTERN = /^(writes-\d{8}\.jsonl)\.\d+\.importing$/;

/** Files to import in `dir`: dead-letter files, and `.importing` ones a crashed run left, oldest first. */
async function filesToImport(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => DEAD_LETTER_FILE_PATTERN.test(n) || IMPORTING_PATTERN.test(n)).sort();
}

export async function importDeadLetters(db: Db, dir: string): Promise<ImportReport> {
  const report: ImportReport = {
    dir,
    files: [],
    rows: 0,
    imported: 0,
    skipped: 0,
    failed: 0,
    malformed: 0,
    errors: [],
  };
  const files = await filesToImport(dir);
  const retry: DeadLetterEntry[] = [];
  // Every file is set aside (a unique `.importing` name) before any row is read: a running server,
  // and the rows written back below, append to a new file, never to one being read.
  const stamp = Date.now();
  const work: { base: string; importing: string }[] = [];
  for (const name of files) {
    const leftover = IMPORTING_PATTERN.exec(name);
    if (leftover) {
      work.push({ base: leftover[1], importing: path.join(dir, name) });
      continue;
    }
    const importing = path.join(dir, `${name}.${stamp}${IMPORTING_SUFFIX}`);
    await rename(path.join(dir, name), importing);
    work.push({ base: name, importing });
  }
  for (const { base, importing } of work) {
    const fileReport: ImportFileReport = { file: base, rows: 0, imported: 0, skipped: 0, failed: 0, malformed: 0 };
    const lines = (await readFile(importing, 'utf8')).split('\n');
    for (const [index, line] of lines.entries()) {
      if (line.trim() === '') continue;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        record = undefined;
      }
      if (!isRecord(record)) {
        fileReport.malformed++;
        if (report.errors.length < 20) report.errors.push(`${base}:${index + 1}: not a dead-letter record`);
        continue;
      }
      fileReport.rows++;
      try {
        if (record.table === 'transcript') {
          const data = transcriptData(record);
          if (await transcriptExists(db, data)) fileReport.skipped++;
          else {
            await db.transcript.createMany({ data: [data] });
            fileReport.imported++;
          }
        } else {
          const data = eventData(record);
          if (await eventExists(db, data)) fileReport.skipped++;
          else {
            await db.callEvent.createMany({ data: [data] });
            fileReport.imported++;
          }
        }
      } catch (err) {
        fileReport.failed++;
        const error = describeWriteError(err);
        if (report.errors.length < 20) report.errors.push(`${base}:${index + 1}: ${error}`);
        retry.push({
          table: record.table,
          reason: 'reimport-failed',
          error,
          queuedAt: Date.parse(record.queuedAt) || Date.now(),
          row: record.row,
        });
      }
    }
    // Rows that failed go back to the dead letter before the file is set aside: nothing is lost.
    if (retry.length > 0) {
      const store = new DeadLetterStore(dir);
      store.append(retry.splice(0));
      await store.flush();
      if (store.stats.rowsFailed > 0) throw new Error(`could not write failed rows back to the dead letter (${dir})`);
    }
    await rename(importing, importing.slice(0, -IMPORTING_SUFFIX.length) + IMPORTED_SUFFIX);
    report.files.push(fileReport);
    report.rows += fileReport.rows;
    report.imported += fileReport.imported;
    report.skipped += fileReport.skipped;
    report.failed += fileReport.failed;
    report.malformed += fileReport.malformed;
  }
  return report;
}
