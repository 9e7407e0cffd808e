/**
 * In-process typed event bus. Every published event gets a monotonically increasing id and is kept
 * in a bounded ring so that an SSE client reconnecting with Last-Event-ID can be replayed what it
 * missed. Listeners run synchronously; one that throws is logged and never affects the others.
 *
 * Clustered (NATS_URL, src/cluster/nats/bus.ts): this instance's events are also published to a
 * JetStream stream, and other instances' events come back through `deliverRemote`, tagged with their
 * `origin` instance. They reach only `subscribeAll` listeners: `subscribe` keeps meaning "events of
 * this instance's calls", so webhooks, alerts, metrics and the campaign dialler never act twice on
 * one event, and a remote event is never published again. `cluster` is then the cluster-wide feed
 * (every instance's events in stream order, ids = stream sequence) that the SSE route serves.
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
  /** This bus's id (local events); 0 for another instance's event. */
  id: number;
  type: K;
  at: string;
  data: BusEventMap[K];
  /** INSTANCE_ID of the instance the event happened on; absent for this instance's own events. */
  origin?: string;
}

export type AnyBusEvent = { [K in BusEventType]: BusEvent<K> }[BusEventType];

export type BusListener = (event: AnyBusEvent) => void;

/** An event of any instance as the cluster stream holds it: `seq` is its stream sequence. */
export type ClusterBusEvent = AnyBusEvent & { seq: number; origin: string };

/**
 * The cluster-wide event feed (src/cluster/nats/bus.ts implements it): every instance's events, in
 * stream order, each exactly once. The SSE route uses it instead of the bus when it is set.
 */
export interface ClusterFeed {
  /** Stream sequence of the last event delivered to feed listeners (0: none yet). */
  readonly lastSeq: number;
  /** Listeners run synchronously, in stream order. Returns the unsubscribe function. */
  subscribe(listener: (event: ClusterBusEvent) => void): () => void;
  /**
   * The events after `afterSeq` up to `uptoSeq` (inclusive), read from the stream. `complete` is false
   * when the stream no longer holds some of them (aged out), there are more than the replay cap, or
   * the stream cannot be read now.
   */
  replay(afterSeq: number, uptoSeq: number): Promise<{ events: ClusterBusEvent[]; complete: boolean }>;
  /** The stream's last sequence now (undefined when it cannot be read). */
  streamLastSeq(): Promise<number | undefined>;
}

export class EventBus {
  private nextId = 1;
  private readonly ring: AnyBusEvent[] = [];
  private readonly listeners = new Set<BusListener>();
  private readonly allListeners = new Set<BusListener>();
  /** Set by attachClusterBus (src/cluster/nats/bus.ts) while clustered. */
  cluster?: ClusterFeed;

  constructor(
    private readonly replayCapacity = 5000,
    private readonly onListenerError: (err: unknown) => void = () => undefined,
  ) {}

  publish<K extends BusEventType>(type: K, data: BusEventMap[K]): BusEvent<K> {
    const event = { id: this.nextId++, type, at: new Date().toISOString(), data } as BusEvent<K>;
    this.ring.push(event as AnyBusEvent);
    if (this.ring.length > this.replayCapacity) this.ring.shift();
    this.notify(this.listeners, event as AnyBusEvent);
    this.notify(this.allListeners, event as AnyBusEvent);
    return event;
  }

  /**
   * Another instance's event (from the cluster stream): given to `subscribeAll` listeners only, with
   * `origin` set and id 0; not kept in the ring and never published again.
   */
  deliverRemote(event: Pick<AnyBusEvent, 'type' | 'at' | 'data'>, origin: string): void {
    this.notify(this.allListeners, { ...event, id: 0, origin } as AnyBusEvent);
  }

  /** This instance's events (what every existing consumer wants: its own calls). */
  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** This instance's events and, when clustered, every other instance's (those carry `origin`). */
  subscribeAll(listener: BusListener): () => void {
    this.allListeners.add(listener);
    return () => this.allListeners.delete(listener);
  }

  private notify(listeners: Set<BusListener>, event: AnyBusEvent): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
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
    return this.listeners.size + this.allListeners.size;
  }
}
