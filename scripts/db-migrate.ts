// `npm run db:migrate -- --name <change>`: creates a migration from prisma/schema.prisma.
import { parseArgs } from 'node:util';
import { createMigration } from '../src/db/migrations';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { name: { type: 'string', default: 'migration' } } });
  const dir = await createMigration(values.name ?? 'migration');
  console.log(dir ? `created ${dir}` : 'schema unchanged: no migration created');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
