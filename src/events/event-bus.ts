/**
 * In-process typed event bus. Every published event gets a monotonically increasing id and is kept
 * in a bounded ring so that an SSE client reconnecting with Last-Event-ID can be replayed what it
 * missed. Listeners run synchronously; one that throws is logged and never affects the others.
 */
import type { Analytics, Call, Transcript } from '../generated/prisma/client';

export interface BusEventMap {
  'call.started': { call: Call };
  'call.updated': { call: Call };
  'transcript.added': { callId: string; transcript: TranscriptEventData };
  'call.ended': { call: Call };
  'analytics.ready': { callId: string; analytics: Analytics };
  /** Frequent live figures of an active call (interruptions, latency so far); not persisted. */
  'call.stats': { callId: string; stats: LiveCallStats };
  /** A supervisor's whisper to a live call's agent (src/supervision/whisper.ts): never heard by the caller. */
  'supervisor.note': { callId: string; by: string; text: string; offsetMs: number };
  /** An alert rule fired on a live call (src/supervision/alert-engine.ts). */
  'alert.fired': { callId: string; ruleId: string; kind: string; message: string; offsetMs: number };
}

export type TranscriptEventData = Omit<Transcript, 'id' | 'createdAt'> & { createdAt: Date };

export interface LiveCallStats {
  interruptions: number;
  latencyLastMs: number | null;
  latencyAvgMs: number | null;
  aiReconnects: number;
}

export type BusEventType = keyof BusEventMap;

export interface BusEvent<K extends BusEventType = BusEventType> {
  id: number;
  type: K;
  at: string;
  data: BusEventMap[K];
}

export type AnyBusEvent = { [K in BusEventType]: BusEvent<K> }[BusEventType];

export type BusListener = (event: AnyBusEvent) => void;

export class EventBus {
  private nextId = 1;
  private readonly ring: AnyBusEvent[] = [];
  private readonly listeners = new Set<BusListener>();

  constructor(
    private readonly replayCapacity = 5000,
    private readonly onListenerError: (err: unknown) => void = () => undefined,
  ) {}

  publish<K extends BusEventType>(type: K, data: BusEventMap[K]): BusEvent<K> {
    const event = { id: this.nextId++, type, at: new Date().toISOString(), data } as BusEvent<K>;
    this.ring.push(event as AnyBusEvent);
    if (this.ring.length > this.replayCapacity) this.ring.shift();
    for (const listener of this.listeners) {
      try {
        listener(event as AnyBusEvent);
      } catch (err) {
        this.onListenerError(err);
      }
    }
    return event;
  }

  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events published after `lastId`, oldest first; `complete` is false when some fell out of the ring. */
  since(lastId: number): { events: AnyBusEvent[]; complete: boolean } {
    const events = this.ring.filter((e) => e.id > lastId);
    const oldest = this.ring[0]?.id ?? this.nextId;
    return { events, complete: lastId >= oldest - 1 };
  }

  get lastId(): number {
    return this.nextId - 1;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
