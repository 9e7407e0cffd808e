import { createDb, type Db } from '../../src/db/prisma';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

describe('Call.provider (migration call_provider, real SQLite)', () => {
  let tmp: TempDir;
  let db: Db;

  beforeEach(async () => {
    tmp = createTempDatabase();
    db = await createDb(tmp.databaseUrl);
  });

  afterEach(async () => {
    await db.$disconnect();
    tmp.cleanup();
  });

  it('defaults to twilio and stores telnyx next to direction', async () => {
    const before = await db.call.create({ data: { callSid: 'CA1' } });
    expect(before.provider).toBe('twilio');
    const telnyx = await db.call.create({ data: { callSid: 'v3:abc', provider: 'telnyx', direction: 'inbound' } });
    const read = await db.call.findUniqueOrThrow({ where: { id: telnyx.id } });
    expect(read).toMatchObject({ provider: 'telnyx', direction: 'inbound' });
    const columns = await db.$queryRawUnsafe<{ name: string; dflt_value: string }[]>(`PRAGMA table_info("Call")`);
    expect(columns.find((c) => c.name === 'provider')?.dflt_value).toBe("'twilio'");
  });
});
