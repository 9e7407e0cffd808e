// `npm run db:migrate -- --name <change> [--postgres-url postgres://…]`: creates the migrations of a
// change to prisma/schema.prisma, for SQLite (prisma/migrations) and PostgreSQL
// (prisma/postgresql/migrations, diffed on a scratch database created and dropped on that server;
// default DATABASE_URL when it is a postgres:// URL). Run `npm run db:generate` first: it derives
// prisma/postgresql/schema.prisma from prisma/schema.prisma.
import 'dotenv/config';
import { parseArgs } from 'node:util';
import { createMigration } from '../src/db/migrations';
import { isPostgresUrl } from '../src/db/dialect';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { name: { type: 'string', default: 'migration' }, 'postgres-url': { type: 'string' } },
  });
  const name = values.name ?? 'migration';
  const sqlite = await createMigration(name);
  console.log(sqlite ? `created ${sqlite}` : 'SQLite: schema unchanged, no migration created');
  const postgresUrl =
    values['postgres-url'] ?? (isPostgresUrl(process.env.DATABASE_URL ?? '') ? process.env.DATABASE_URL : '');
  if (!postgresUrl) {
    console.warn('PostgreSQL: no --postgres-url (or postgres:// DATABASE_URL): its migration was not created');
    return;
  }
  const pg = await createMigration(name, { dialect: 'postgres', postgresUrl });
  console.log(pg ? `created ${pg}` : 'PostgreSQL: schema unchanged, no migration created');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
