/**
 * The cluster event bus: every instance's call events reach every other instance through one NATS
 * JetStream stream, so an SSE client (a supervisor's dashboard) on any instance sees every call live.
 *
 * `attachClusterBus({ bus, natsUrl, prefix, instanceId, logger })` returns at once (it never delays
 * start-up) and, in the background:
 * - connects (src/cluster/nats/connection.ts), creates or updates the stream `<PREFIX>_EVENTS`
 *   (src/cluster/nats/bus-stream.ts) and reads it with an ordered consumer from its current end;
 * - publishes each event of the local EventBus to `<prefix>.calls.<callId>.<type>` (or
 *   `<prefix>.events.<type>`), with the instance in header `Sb-Origin` and a msgID that makes a retried
 *   publish count once;
 * - hands other instances' events to the local bus (`deliverRemote`: only `subscribeAll` listeners,
 *   tagged with their origin, never published again) and feeds every event, its own included, to
 *   `bus.cluster` listeners in stream order with the stream sequence (the SSE route's ids).
 *
 * Publishing never blocks a call: events wait in a bounded queue (maxQueue, default 10,000) and go
 * out in pipelined batches. While NATS is unreachable they stay queued, the oldest dropped beyond the
 * cap (counted; one warning per outage), and go out when it answers again, so a short outage or a
 * NATS restart loses nothing. NATS down at start: the instance starts, warns once, and retries every
 * retryMs; its feed then begins at the stream's end at the first connection (older events are still
 * available to an SSE client through Last-Event-ID replay). The ordered consumer resumes where it
 * was after a reconnect, so the feed misses nothing that reached the stream.
 */
import {
  jetstream,
  jetstreamManager,
  DeliverPolicy,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { randomBytes } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AnyBusEvent, ClusterBusEvent, ClusterFeed, EventBus } from '../../events/event-bus';
import type { Logger } from '../../logging/logger';
import { checkPrefix, decodeEvent, encodeEvent, ORIGIN_HEADER, streamName, subjectFor } from './bus-codec';
import { ensureEventStream, readEventRange, type StreamLimits } from './bus-stream';
import { closeNats, connectNats, redactNatsUrl, type NatsConnection } from './connection';

export interface ClusterBusOptions extends StreamLimits {
  bus: EventBus;
  natsUrl: string;
  /** NATS_PREFIX: subjects `<prefix>.calls.…`, stream `<PREFIX>_EVENTS`. */
  prefix: string;
  instanceId: string;
  logger: Logger;
  /** Events waiting for NATS before the oldest are dropped (default 10,000). */
  maxQueue?: number;
  /** Most events one Last-Event-ID replay reads; an older id gets a fresh snapshot (default 5000). */
  replayCap?: number;
  /** Wait between connection attempts and publish retries (default 2000 ms). */
  retryMs?: number;
  /** Time to wait for a publish ack or a replay read (default 5000 ms). */
  timeoutMs?: number;
  /** Prometheus registry for switchboard_cluster_events_total / _queued (optional). */
  registry?: Registry;
}

export interface ClusterBusStats {
  /** Events of this instance stored in the stream. */
  published: number;
  /** Events of this instance dropped because the queue was full while NATS was unreachable. */
  dropped: number;
  /** Events of other instances handed to the local bus. */
  received: number;
  /** Events waiting to be published. */
  queued: number;
  /** Connected, stream ready and consumer running. */
  live: boolean;
}

const BATCH = 256;

export class ClusterBus implements ClusterFeed {
  readonly streamName: string;
  /** Resolves once the stream is ready and the consumer runs (never rejects; pending while NATS is down). */
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private messages?: ConsumerMessages;
  private readonly queue: AnyBusEvent[] = [];
  private readonly listeners = new Set<(event: ClusterBusEvent) => void>();
  private readonly unsubscribeBus: () => void;
  private readonly bootId = randomBytes(4).toString('hex');
  private readonly counts = { published: 0, dropped: 0, received: 0 };
  private live = false;
  /** False between a disconnect and the reconnect: nothing is published then (the client would buffer it). */
  private connected = false;
  private closed = false;
  private pumping?: Promise<void>;
  private outage?: { since: number; dropped: number; warnedDrop: boolean };
  private wake?: () => void;
  private seq = 0;
  private readonly metrics?: { events: Counter<'result'> };
  private readonly opts: Required<Pick<ClusterBusOptions, 'maxQueue' | 'replayCap' | 'retryMs' | 'timeoutMs'>>;

  constructor(private readonly options: ClusterBusOptions) {
    checkPrefix(options.prefix);
    this.streamName = streamName(options.prefix);
    this.opts = {
      maxQueue: options.maxQueue ?? 10_000,
      replayCap: options.replayCap ?? 5000,
      retryMs: options.retryMs ?? 2000,
      timeoutMs: options.timeoutMs ?? 5000,
    };
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    if (options.registry) {
      this.metrics = {
        events: new Counter({
          name: 'switchboard_cluster_events_total',
          help: 'Cluster bus events: published (this instance), dropped (queue full, NATS down), received (other instances)',
          labelNames: ['result'],
          registers: [options.registry],
        }),
      };
      const queue = this.queue;
      new Gauge({
        name: 'switchboard_cluster_events_queued',
        help: 'Events of this instance waiting for NATS',
        registers: [options.registry],
        collect() {
          this.set(queue.length);
        },
      });
    }
    this.unsubscribeBus = options.bus.subscribe((event) => this.enqueue(event));
    options.bus.cluster = this;
    void this.run();
  }

  get lastSeq(): number {
    return this.seq;
  }

  stats(): ClusterBusStats {
    return { ...this.counts, queued: this.queue.length, live: this.live && this.connected };
  }

  subscribe(listener: (event: ClusterBusEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async replay(afterSeq: number, uptoSeq: number): Promise<{ events: ClusterBusEvent[]; complete: boolean }> {
    if (!this.js || !this.live || !this.connected) return { events: [], complete: false };
    try {
      const { msgs, complete } = await readEventRange(this.js, this.streamName, afterSeq, uptoSeq, {
        cap: this.opts.replayCap,
        timeoutMs: this.opts.timeoutMs,
      });
      const events: ClusterBusEvent[] = [];
      for (const m of msgs) {
        const event = this.toClusterEvent(m);
        if (event) events.push(event);
      }
      return { events, complete };
    } catch (err) {
      this.options.logger.warn('cluster event replay failed', { afterSeq, error: errorText(err) });
      return { events: [], complete: false };
    }
  }

  async streamLastSeq(): Promise<number | undefined> {
    if (!this.nc || !this.live || !this.connected) return undefined;
    try {
      const jsm = await jetstreamManager(this.nc);
      return (await jsm.streams.info(this.streamName)).state.last_seq;
    } catch {
      return undefined;
    }
  }

  /** Publishes what is queued (within `flushMs`), stops consuming and closes the connection. */
  async close(flushMs = 2000): Promise<void> {
    if (this.closed) return;
    this.unsubscribeBus();
    if (this.options.bus.cluster === this) this.options.bus.cluster = undefined;
    if (this.live && this.queue.length > 0) {
      this.kick();
      const deadline = Date.now() + flushMs;
      while (this.queue.length > 0 && this.live && Date.now() < deadline) await (this.pumping ?? sleep(10));
    }
    this.closed = true;
    this.live = false;
    this.wake?.();
    await this.pumping;
    if (this.queue.length > 0)
      this.options.logger.warn('cluster bus closed with events not published', { events: this.queue.length });
    await this.messages?.close().catch(() => undefined);
    if (this.nc) await closeNats(this.nc, this.options.logger);
  }

  private enqueue(event: AnyBusEvent): void {
    if (this.closed) return;
    if (this.queue.length >= this.opts.maxQueue) {
      this.queue.shift();
      this.drop();
    }
    this.queue.push(event);
    this.kick();
  }

  private drop(): void {
    this.counts.dropped++;
    this.metrics?.events.inc({ result: 'dropped' });
    if (this.outage && !this.outage.warnedDrop) {
      this.outage.warnedDrop = true;
      this.options.logger.warn('cluster event queue full while NATS is unreachable: dropping the oldest events', {
        maxQueue: this.opts.maxQueue,
      });
    }
    if (this.outage) this.outage.dropped++;
  }

  private kick(): void {
    if (this.pumping || !this.live || !this.connected || this.closed || this.queue.length === 0) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      this.kick();
    });
  }

  /** Publishes the queue in pipelined batches; a failed event goes back to the front, in order. */
  private async pump(): Promise<void> {
    const js = this.js as JetStreamClient;
    while (this.queue.length > 0 && this.live && this.connected && !this.closed) {
      const batch = this.queue.splice(0, BATCH);
      const results = await Promise.allSettled(batch.map((event) => this.publishOne(js, event)));
      const failed = batch.filter((_, i) => results[i].status === 'rejected');
      const ok = batch.length - failed.length;
      this.counts.published += ok;
      if (ok > 0) this.metrics?.events.inc({ result: 'published' }, ok);
      if (failed.length === 0) {
        this.endOutage();
        continue;
      }
      const reason = (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
      this.startOutage(`publish failed: ${errorText(reason)}`);
      this.queue.unshift(...failed);
      while (this.queue.length > this.opts.maxQueue) {
        this.queue.shift();
        this.drop();
      }
      await this.pause(this.opts.retryMs);
    }
  }

  private publishOne(js: JetStreamClient, event: AnyBusEvent): Promise<unknown> {
    const h = headers();
    h.set(ORIGIN_HEADER, this.options.instanceId);
    return js.publish(subjectFor(this.options.prefix, event), encodeEvent(event), {
      msgID: `${this.options.instanceId}.${this.bootId}.${event.id}`,
      headers: h,
      timeout: this.opts.timeoutMs,
    });
  }

  private startOutage(reason: string): void {
    if (this.outage) return;
    this.outage = { since: Date.now(), dropped: 0, warnedDrop: false };
    this.options.logger.warn('cluster events cannot reach NATS: queueing them (the oldest dropped beyond the cap)', {
      reason,
      queued: this.queue.length,
      maxQueue: this.opts.maxQueue,
    });
  }

  private endOutage(): void {
    if (!this.outage) return;
    this.options.logger.info('cluster events reach NATS again', {
      outageMs: Date.now() - this.outage.since,
      dropped: this.outage.dropped,
    });
    this.outage = undefined;
  }

  /** Connects (retrying while NATS is unreachable), prepares the stream and starts consuming. */
  private async run(): Promise<void> {
    const { logger, natsUrl, instanceId } = this.options;
    let warned = false;
    while (!this.closed) {
      try {
        await this.start();
        return;
      } catch (err) {
        if (this.nc) await closeNats(this.nc, logger);
        this.nc = undefined;
        if (this.closed) return;
        if (!warned) {
          warned = true;
          this.startOutage('not connected at start');
          logger.warn('cluster bus: NATS unreachable; this instance runs alone until it answers (retrying)', {
            nats: redactNatsUrl(natsUrl),
            instanceId,
            retryMs: this.opts.retryMs,
            error: errorText(err),
          });
        }
        await this.pause(this.opts.retryMs);
      }
    }
  }

  private async start(): Promise<void> {
    const { logger, instanceId, prefix } = this.options;
    const nc = await connectNats(this.options.natsUrl, { name: `switchboard-bus-${instanceId}`, logger });
    this.nc = nc;
    if (this.closed) throw new Error('closed');
    const jsm = await jetstreamManager(nc, { timeout: this.opts.timeoutMs });
    const lastSeq = await ensureEventStream(jsm, prefix, this.options, logger);
    this.js = jetstream(nc, { timeout: this.opts.timeoutMs });
    const consumer = await this.js.consumers.get(this.streamName, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: lastSeq + 1,
    });
    this.messages = await consumer.consume();
    this.seq = lastSeq;
    this.watchStatus(nc);
    void this.consumeLoop(this.messages);
    this.live = true;
    this.connected = true;
    logger.info('cluster bus live', { stream: this.streamName, fromSeq: lastSeq + 1, instanceId });
    this.resolveReady();
    this.kick();
  }

  private watchStatus(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') {
          this.connected = false;
          this.startOutage('connection lost');
        } else if (status.type === 'reconnect') {
          this.connected = true;
          if (this.queue.length === 0) this.endOutage();
          this.wake?.();
          this.kick();
        }
      }
    })().catch(() => undefined);
  }

  private async consumeLoop(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) this.onStreamMessage(m);
    } catch (err) {
      if (!this.closed) this.options.logger.error('cluster bus consumer stopped', { error: errorText(err) });
    }
  }

  private onStreamMessage(m: JsMsg): void {
    if (m.seq <= this.seq) return;
    this.seq = m.seq;
    const event = this.toClusterEvent(m);
    if (!event) return;
    if (event.origin !== this.options.instanceId) {
      this.counts.received++;
      this.metrics?.events.inc({ result: 'received' });
      this.options.bus.deliverRemote(event, event.origin);
    }
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.options.logger.error('cluster feed listener failed', { error: errorText(err) });
      }
    }
  }

  private toClusterEvent(m: JsMsg): ClusterBusEvent | undefined {
    const decoded = decodeEvent(m.string());
    if (!decoded) {
      this.options.logger.debug('cluster bus: skipping a message that is not an event', {
        subject: m.subject,
        seq: m.seq,
      });
      return undefined;
    }
    const origin = m.headers?.get(ORIGIN_HEADER) || 'unknown';
    return { ...decoded, seq: m.seq, origin } as ClusterBusEvent;
  }

  /** Waits `ms`, or less when woken (close, reconnect). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** Starts the cluster bus for `bus` (returns at once; see the header). Call `close()` at shutdown. */
export function attachClusterBus(options: ClusterBusOptions): ClusterBus {
  return new ClusterBus(options);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
