import { createDb, type Db } from '../../src/db/prisma';
import { CallRepository } from '../../src/db/call-repository';
import { CallManager } from '../../src/calls/call-manager';
import type { EndedCalls } from '../../src/calls/ended-calls';
import { EventBus, type AnyBusEvent } from '../../src/events/event-bus';
import { createLogger } from '../../src/logging/logger';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

describe('CallManager (real SQLite)', () => {
  let tmp: TempDir;
  let db: Db;
  let bus: EventBus;
  let manager: CallManager;
  let events: AnyBusEvent[];

  beforeEach(async () => {
    tmp = createTempDatabase();
    db = await createDb(tmp.databaseUrl);
    bus = new EventBus();
    events = [];
    bus.subscribe((e) => events.push(e));
    manager = new CallManager({
      repository: new CallRepository(db),
      bus,
      logger: createLogger({ level: 'error', json: true, silent: true }),
      flushIntervalMs: 50,
    });
  });

  afterEach(async () => {
    await manager.close();
    await db.$disconnect();
    tmp.cleanup();
  });

  it('never lets a status callback racing the stream start write in-progress over streaming', async () => {
    for (const [i, order] of (['stream-first', 'callback-first'] as const).entries()) {
      const call = await manager.createCall({ callSid: `CArace${i}`, status: 'ringing' });
      const stream = () => manager.updateCall(call.id, { status: 'streaming', streamSid: `MZrace${i}` });
      const callback = () => manager.applyTwilioStatus(`CArace${i}`, 'in-progress');
      // Both start before either write has landed (as the webhook and the media stream do).
      await Promise.all(order === 'stream-first' ? [stream(), callback()] : [callback(), stream()]);
      const row = await db.call.findUniqueOrThrow({ where: { id: call.id } });
      expect({ order, status: row.status, answered: row.answeredAt !== null }).toEqual({
        order,
        status: 'streaming',
        answered: true,
      });
      expect(manager.getActive(call.id)?.status).toBe('streaming');
    }
  });

  it('creates a call once per CallSid and publishes call.started', async () => {
    const a = await manager.createCall({ callSid: 'CA1', from: '+15550001', to: '+15550002', agent: 'sales' });
    const b = await manager.createCall({ callSid: 'CA1', from: '+15550001' });
    expect(b.id).toBe(a.id);
    expect(await db.call.count()).toBe(1);
    expect(manager.activeCount).toBe(1);
    expect(events.map((e) => e.type)).toEqual(['call.started']);
  });

  it('batches transcripts and events into the database and publishes each transcript once committed', async () => {
    const call = await manager.createCall({ callSid: 'CA2' });
    for (let i = 0; i < 25; i++)
      manager.addTranscript(call.id, { speaker: i % 2 ? 'agent' : 'caller', text: `line ${i}`, startMs: i * 100 });
    manager.addEvent(call.id, 'dtmf', { digit: '5' }, 1234);
    // Not yet acknowledged: nobody was shown a transcript that a crash could still lose.
    expect(events.filter((e) => e.type === 'transcript.added')).toHaveLength(0);
    expect(await db.transcript.count()).toBe(0);
    await manager.flush();
    expect(await db.transcript.count()).toBe(25);
    expect(events.filter((e) => e.type === 'transcript.added')).toHaveLength(25);
    expect(manager.stats.writeBatches).toBe(1);
    const dtmf = await db.callEvent.findFirst({ where: { type: 'dtmf' } });
    expect(dtmf).toMatchObject({ callId: call.id, offsetMs: 1234, data: { digit: '5' } });
  });

  it('never moves a status backwards or out of a final status (out-of-order Twilio callbacks)', async () => {
    const call = await manager.createCall({ callSid: 'CA3', status: 'ringing' });
    await manager.applyTwilioStatus('CA3', 'in-progress');
    await manager.applyTwilioStatus('CA3', 'ringing');
    expect((await db.call.findUnique({ where: { id: call.id } }))?.status).toBe('in-progress');
    await manager.applyTwilioStatus('CA3', 'completed', 42);
    await manager.applyTwilioStatus('CA3', 'in-progress');
    await manager.applyTwilioStatus('CA3', 'failed');
    const row = await db.call.findUnique({ where: { id: call.id } });
    expect(row).toMatchObject({ status: 'completed', durationMs: 42000, endReason: 'completed' });
    expect(manager.activeCount).toBe(0);
    expect(events.filter((e) => e.type === 'call.ended')).toHaveLength(1);
  });

  it('answers the status callback that follows a call ended here with one write and no reads', async () => {
    const call = await manager.createCall({ callSid: 'CAend1', status: 'ringing' });
    await manager.applyTwilioStatus('CAend1', 'in-progress');
    await manager.endCall(call.id, { reason: 'caller-hangup' });
    const repo = (manager as unknown as { repo: CallRepository }).repo;
    const used: string[] = [];
    for (const method of ['findById', 'findByCallSid', 'update'] as const) {
      const original = repo[method].bind(repo) as (...args: unknown[]) => Promise<unknown>;
      (repo as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        used.push(method);
        return original(...args);
      };
    }
    expect(await manager.callIdBySid('CAend1')).toBe(call.id);
    await manager.applyTwilioStatus('CAend1', 'completed', 61);
    expect(used).toEqual(['update']);
    const row = await db.call.findUniqueOrThrow({ where: { id: call.id } });
    expect(row).toMatchObject({ status: 'completed', durationMs: 61000, endReason: 'caller-hangup' });
    expect(row.answeredAt).not.toBeNull();

    // Anything else after the end reads the row as before: a late in-progress changes nothing.
    used.length = 0;
    await manager.applyTwilioStatus('CAend1', 'in-progress');
    expect(used).toEqual(['findByCallSid', 'findById']);
    expect(await db.call.findUniqueOrThrow({ where: { id: call.id } })).toMatchObject({ status: 'completed' });
  });

  it('stores the billed duration of a call ended by another process, reading it first', async () => {
    const row = await db.call.create({ data: { callSid: 'CAend2', status: 'busy', endedAt: new Date() } });
    expect(await manager.callIdBySid('CAend2')).toBe(row.id);
    expect(await manager.callIdBySid('CAnobody')).toBeNull();
    await manager.applyTwilioStatus('CAend2', 'completed', 3);
    expect(await db.call.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
      status: 'busy',
      durationMs: 3000,
    });
  });

  it('ends a call exactly once, flushing its transcripts first', async () => {
    const call = await manager.createCall({ callSid: 'CA4' });
    manager.addTranscript(call.id, { speaker: 'caller', text: 'hello', startMs: 0, endMs: 900 });
    const [a, b] = await Promise.all([
      manager.endCall(call.id, { reason: 'caller-hangup' }),
      manager.endCall(call.id, { reason: 'server-shutdown' }),
    ]);
    expect(a).toEqual(b);
    expect(a).toMatchObject({ status: 'completed', endReason: 'caller-hangup' });
    expect(await db.transcript.count({ where: { callId: call.id } })).toBe(1);
    expect(events.filter((e) => e.type === 'call.ended')).toHaveLength(1);
  });

  it('closes calls left open by a crashed process as interrupted', async () => {
    await db.call.create({ data: { callSid: 'CA5', status: 'streaming' } });
    await db.call.create({ data: { callSid: 'CA6', status: 'completed' } });
    const closed = await manager.closeInterruptedCalls();
    expect(closed.map((c) => c.callSid)).toEqual(['CA5']);
    expect(closed[0]).toMatchObject({ status: 'interrupted', endReason: 'interrupted' });
  });

  it('keeps queued rows and retries when a write fails', async () => {
    const call = await manager.createCall({ callSid: 'CA7' });
    const repo = (manager as unknown as { repo: CallRepository }).repo;
    const original = repo.insertBatch.bind(repo);
    let failures = 2;
    repo.insertBatch = async (t, e) => {
      if (failures-- > 0) throw new Error('SQLITE_BUSY: database is locked');
      return original(t, e);
    };
    manager.addTranscript(call.id, { speaker: 'caller', text: 'keep me', startMs: 0 });
    await manager.flush();
    expect(await db.transcript.count()).toBe(1);
    expect(manager.stats.writeRetries).toBe(2);
  });
});

describe('CallManager memory', () => {
  it('keeps nothing of a call once it has ended', async () => {
    const tmp = createTempDatabase();
    const db = await createDb(tmp.databaseUrl);
    const manager = new CallManager({
      repository: new CallRepository(db),
      bus: new EventBus(),
      logger: createLogger({ level: 'error', json: true, silent: true }),
    });
    try {
      for (let i = 0; i < 20; i++) {
        const call = await manager.createCall({ callSid: `CAmem${i}` });
        await manager.endCall(call.id, { reason: 'caller-hangup' });
        // A repeat after the end returns the final row and changes nothing.
        expect(await manager.endCall(call.id, { reason: 'server-shutdown' })).toMatchObject({
          endReason: 'caller-hangup',
        });
      }
      const internals = manager as unknown as {
        active: Map<string, unknown>;
        bySid: Map<string, unknown>;
        ending: Map<string, unknown>;
        endedCalls: EndedCalls;
      };
      expect([internals.active.size, internals.bySid.size, internals.ending.size]).toEqual([0, 0, 0]);
      // Only each call's id and final status, for its status callback (bounded: test/unit/ended-calls.test.ts).
      expect(internals.endedCalls.size).toBe(20);
    } finally {
      await manager.close();
      await db.$disconnect();
      tmp.cleanup();
    }
  });
});
