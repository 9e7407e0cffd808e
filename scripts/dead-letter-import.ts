// `npm run db:reimport`: puts the rows of the write dead letter (rows the server could not write to
// SQLite: see src/db/dead-letter.ts) back into DATABASE_URL (default ./data/switchboard.db).
// Idempotent: rows already in the database are skipped; imported files are renamed *.imported.
// Options: --dir <folder> (default: dead-letter/ next to the SQLite file). Exit code 1 when rows
// still fail (they stay in the dead letter for the next run).
import 'dotenv/config';
import { DEFAULT_DATABASE_URL } from '../src/config';
import { deadLetterDirFor } from '../src/db/dead-letter';
import { importDeadLetters } from '../src/db/dead-letter-import';
import { createDb } from '../src/db/prisma';

async function main(): Promise<number> {
  const url = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const dirArg = process.argv.indexOf('--dir');
  const dir = dirArg >= 0 ? process.argv[dirArg + 1] : deadLetterDirFor(url);
  if (!dir) {
    console.error('DATABASE_URL is an in-memory database: pass --dir <dead-letter folder>');
    return 2;
  }
  const db = await createDb(url);
  try {
    const report = await importDeadLetters(db, dir);
    if (report.files.length === 0) {
      console.log(`no dead-letter files in ${dir}`);
      return 0;
    }
    for (const f of report.files) {
      console.log(
        `${f.file}: ${f.rows} rows, ${f.imported} imported, ${f.skipped} already present, ${f.failed} failed, ${f.malformed} malformed lines`,
      );
    }
    console.log(
      `total: ${report.rows} rows, ${report.imported} imported, ${report.skipped} already present, ${report.failed} failed, ${report.malformed} malformed lines (${dir})`,
    );
    for (const e of report.errors) console.log(`  ${e}`);
    if (report.failed > 0) console.log('rows that failed were written back to the dead letter for the next run');
    return report.failed > 0 ? 1 : 0;
  } finally {
    await db.$disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
