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

export class CallRepository {
  constructor(private readonly db: Db) {}

  create(data: NewCall, metadata?: Omit<NewMetadata, 'callId'>): Promise<Call> {
    return this.db.call.create({
      data: { ...data, ...(metadata ? { metadata: { create: metadata } } : {}) },
    } as Prisma.CallCreateArgs);
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

  /** Inserts transcripts and timeline events in one transaction. */
  async insertBatch(transcripts: NewTranscript[], events: NewCallEvent[]): Promise<void> {
    const ops: Prisma.PrismaPromise<unknown>[] = [];
    if (transcripts.length) ops.push(this.db.transcript.createMany({ data: transcripts }));
    if (events.length) ops.push(this.db.callEvent.createMany({ data: events }));
    if (ops.length) await this.db.$transaction(ops);
  }

  addRecording(data: NewRecording): Promise<Recording> {
    return this.db.recording.create({ data });
  }

  upsertAnalytics(data: NewAnalytics): Promise<Analytics> {
    const { callId, ...rest } = data;
    return this.db.analytics.upsert({ where: { callId }, create: data, update: rest });
  }

  /** Calls a previous process left open (not in a final status). */
  findOpenCalls(finalStatuses: readonly string[]): Promise<Call[]> {
    return this.db.call.findMany({ where: { status: { notIn: [...finalStatuses] } } });
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
