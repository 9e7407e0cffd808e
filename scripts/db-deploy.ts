// `npm run db:deploy`: applies pending migrations to DATABASE_URL (default ./data/switchboard.db).
import 'dotenv/config';
import { applyPendingMigrations } from '../src/db/migrations';
import { DEFAULT_DATABASE_URL } from '../src/config';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const applied = await applyPendingMigrations(url);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
