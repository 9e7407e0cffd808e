/**
 * Writes of call records. Only this file and the query modules touch Prisma.
 */
import type { Analytics, Call, CallEvent, Prisma, Recording, Transcript } from '../generated/prisma/client';
import type { Db } from './prisma';

export type NewCall = Prisma.CallUncheckedCreateInput;
export type CallPatch = Prisma.CallUncheckedUpdateInput;
export type NewTranscript = Prisma.TranscriptCreateManyInput;
export type NewCallEvent = Prisma.CallEventCreateManyInput;
export type NewRecording = Omit<Prisma.RecordingUncheckedCreateInput, 'id' | 'createdAt'>;
export type NewAnalytics = Omit<Prisma.AnalyticsUncheckedCreateInput, 'id' | 'createdAt'>;
export type NewMetadata = Omit<Prisma.CallMetadataUncheckedCreateInput, 'id'>;

/** Largest createMany chunk (a power of two). */
export const MAX_CHUNK_ROWS = 64;

/** Splits rows into chunks of power-of-two sizes (64, 32, …, 1): at most 7 distinct sizes. */
export function powerOfTwoChunks<T>(rows: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let i = 0;
  while (i < rows.length) {
    let size = MAX_CHUNK_ROWS;
    while (size > rows.length - i) size >>= 1;
    chunks.push(rows.slice(i, i + size));
    i += size;
  }
  return chunks;
}

/**
 * What the CallManager needs of the database: the repository itself (on this thread), or DbWriter
 * (src/db/db-writer.ts), which runs the same methods in the writer thread (there, on SQLite, without
 * Prisma: src/db/sqlite-writes/sqlite-call-store.ts).
 */
export type CallStore = Pick<
  CallRepository,
  | 'create'
  | 'findById'
  | 'findByCallSid'
  | 'update'
  | 'insertBatch'
  | 'existingCallIds'
  | 'addRecording'
  | 'upsertAnalytics'
  | 'findOpenCalls'
  | 'ping'
  | 'findOrCreate'
  | 'mergeMetadataCustom'
  | 'hasCampaignWork'
  | 'insertAuditEntries'
>;

export class CallRepository implements CallStore {
  constructor(private readonly db: Db) {}

  create(data: NewCall, metadata?: Omit<NewMetadata, 'callId'>): Promise<Call> {
    return this.db.call.create({
      data: { ...data, ...(metadata ? { metadata: { create: metadata } } : {}) },
    } as Prisma.CallCreateArgs);
  }

  /**
   * The call of this CallSid if there is one (Twilio repeats webhooks), else a new one: one step, so
   * through the writer thread it is one round trip, not two.
   */
  async findOrCreate(data: NewCall, metadata?: Omit<NewMetadata, 'callId'>): Promise<{ call: Call; created: boolean }> {
    if (data.callSid) {
      const existing = await this.findByCallSid(data.callSid);
      if (existing) return { call: existing, created: false };
    }
    return { call: await this.create(data, metadata), created: true };
  }

  findById(id: string): Promise<Call | null> {
    return this.db.call.findUnique({ where: { id } });
  }

  findByCallSid(callSid: string): Promise<Call | null> {
    return this.db.call.findUnique({ where: { callSid } });
  }

  update(id: string, data: CallPatch): Promise<Call> {
    return this.db.call.update({ where: { id }, data });
  }

  /**
   * Inserts transcripts and timeline events in one transaction. Prisma compiles and caches a query
   * plan per query shape: a createMany of N rows is a new shape for every N, and an array
   * `$transaction([...])` is compiled as one batch whose shape is its whole list of operations. With
   * batches of every size that cache grows without bound (seen in the soak, ~65 KB per new shape).
   * So the rows go in power-of-two chunks (7 shapes per table), each its own query inside an
   * interactive transaction.
   */
  async insertBatch(transcripts: NewTranscript[], events: NewCallEvent[]): Promise<void> {
    if (transcripts.length === 0 && events.length === 0) return;
    await this.db.$transaction(async (tx) => {
      for (const data of powerOfTwoChunks(transcripts)) await tx.transcript.createMany({ data });
      for (const data of powerOfTwoChunks(events)) await tx.callEvent.createMany({ data });
    });
  }

  /** Which of these call ids exist (one query; used to pick out rows whose call is gone). */
  async existingCallIds(ids: readonly string[]): Promise<Set<string>> {
    const rows = await this.db.call.findMany({ where: { id: { in: [...new Set(ids)] } }, select: { id: true } });
    return new Set(rows.map((r) => r.id));
  }

  addRecording(data: NewRecording): Promise<Recording> {
    return this.db.recording.create({ data });
  }

  /** Merges `patch` into the call's CallMetadata.custom (creating the row when the call has none). */
  async mergeMetadataCustom(callId: string, patch: Record<string, Prisma.InputJsonValue>): Promise<void> {
    const current = await this.db.callMetadata.findUnique({ where: { callId }, select: { custom: true } });
    const old = current?.custom;
    const base = old && typeof old === 'object' && !Array.isArray(old) ? (old as Prisma.InputJsonObject) : {};
    const custom = { ...base, ...patch };
    await this.db.callMetadata.upsert({ where: { callId }, create: { callId, custom }, update: { custom } });
  }

  upsertAnalytics(data: NewAnalytics): Promise<Analytics> {
    const { callId, ...rest } = data;
    return this.db.analytics.upsert({ where: { callId }, create: data, update: rest });
  }

  /** A trivial query: is the database there (for /health)? */
  async ping(): Promise<void> {
    await this.db.$queryRawUnsafe('SELECT 1');
  }

  /** Calls a previous process left open (not in a final status). */
  findOpenCalls(finalStatuses: readonly string[]): Promise<Call[]> {
    return this.db.call.findMany({ where: { status: { notIn: [...finalStatuses] } } });
  }

  /** Appends access-audit rows (src/privacy/audit.ts), in the writer thread like the call writes. */
  async insertAuditEntries(rows: Prisma.AuditEntryCreateManyInput[]): Promise<void> {
    if (rows.length === 1) await this.db.auditEntry.create({ data: rows[0] });
    else await this.db.auditEntry.createMany({ data: rows });
  }

  /**
   * Whether the campaign dialler has anything to do at start-up: a running campaign, or a contact a
   * stopped process left dialling or in a call. Asked of the store (the writer thread, already up)
   * so a server with no campaign opens neither the main thread's database client (its query compiler
   * is ~19 MB resident) nor a read worker (~35 MB) at start.
   */
  async hasCampaignWork(): Promise<boolean> {
    const [running, unsettled] = await Promise.all([
      this.db.campaign.findFirst({ where: { status: 'running' }, select: { id: true } }),
      this.db.campaignContact.findFirst({ where: { state: { in: ['dialling', 'in-call'] } }, select: { id: true } }),
    ]);
    return running !== null || unsettled !== null;
  }

  findRecordings(callId: string): Promise<Recording[]> {
    return this.db.recording.findMany({ where: { callId } });
  }

  transcriptsOf(callId: string): Promise<Transcript[]> {
    return this.db.transcript.findMany({ where: { callId }, orderBy: [{ startMs: 'asc' }, { id: 'asc' }] });
  }

  eventsOf(callId: string): Promise<CallEvent[]> {
    return this.db.callEvent.findMany({ where: { callId }, orderBy: [{ at: 'asc' }, { id: 'asc' }] });
  }
}
