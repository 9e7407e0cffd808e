/**
 * Instance heartbeats on NATS: which Switchboard instances are alive.
 *
 * Each instance puts {instanceId, startedAt, lastBeat, url?} under `instance.<id>` in the key-value
 * bucket `<PREFIX>_instances` every `beatIntervalMs` (default leaseTtlMs / 3). The bucket's TTL is the
 * lease TTL, so the entry of an instance that stopped beating disappears on its own. Every instance
 * watches the bucket and remembers, on its own monotonic clock, when it last saw each instance beat
 * (initial values count from the server's timestamp, never older than one TTL ago).
 *
 * An instance is lost when no beat of it was seen for longer than leaseTtlMs (or it deleted its entry
 * when closing). A check runs every beat interval, so a killed instance is reported within
 * leaseTtlMs + beatIntervalMs of its last beat (plus one KV round trip to confirm it). Before
 * reporting, the instance's entry is read fresh, so a slow watch never declares a live instance dead.
 *
 * The same bucket holds `takeover.<id>` markers: `tryTakeover(deadId)` is a KV create, so exactly one
 * survivor wins; the marker expires with the bucket TTL, after which another survivor may retry what
 * the winner left undone (src/cluster/failover.ts).
 *
 * If this instance itself cannot beat for longer than the TTL (NATS unreachable), the others will take
 * its calls over; `healthy` turns false and an error is logged once per lapse.
 */
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '../../logging/logger';
import { clusterNames, keyToken, type ClusterNames } from './membership-names';
import { mirrorBucket, type BucketMirror } from './membership-watch';

export interface InstanceInfo {
  instanceId: string;
  /** ms since the epoch, on the instance's own clock. */
  startedAt: number;
  lastBeat: number;
  /** Where the instance can be reached directly (informational). */
  url?: string;
}

export interface NatsMembershipOptions {
  nc: NatsConnection;
  /** NATS_PREFIX. */
  prefix: string;
  instanceId: string;
  /** CLUSTER_LEASE_TTL_MS: how long an instance counts as alive after its last beat. */
  leaseTtlMs: number;
  /** Default leaseTtlMs / 3. */
  beatIntervalMs?: number;
  url?: string;
  logger: Logger;
}

interface Seen {
  info: InstanceInfo;
  revision: number;
  /** performance.now() of the last beat seen (-Infinity: the instance deleted its entry). */
  seenAt: number;
  lost: boolean;
}

function isInstanceInfo(value: unknown): value is InstanceInfo {
  const v = value as Partial<InstanceInfo> | null;
  return !!v && typeof v.instanceId === 'string' && typeof v.startedAt === 'number' && typeof v.lastBeat === 'number';
}

export class NatsMembership {
  readonly instanceId: string;
  readonly leaseTtlMs: number;
  readonly beatIntervalMs: number;
  readonly names: ClusterNames;
  /** When this instance started (ms since the epoch): leases of this id claimed before are a past life's. */
  readonly startedAt = Date.now();
  private readonly seen = new Map<string, Seen>();
  private readonly lostListeners = new Set<(instanceId: string) => void>();
  private readonly log: Logger;
  private mirror?: BucketMirror;
  private beatTimer?: NodeJS.Timeout;
  private checkTimer?: NodeJS.Timeout;
  private lastOwnBeat = performance.now();
  private lapsed = false;
  private closed = false;
  /** A beat / check still running (NATS slow or down): the next tick skips instead of piling up. */
  private beating = false;
  private checking = false;
  /**
   * performance.now() before which no instance is confirmed dead: while our own connection is down or
   * our beats fail, and for two beat intervals after it recovers, our view of the others is stale (their
   * heartbeats may have expired in the bucket during an outage longer than the TTL, yet they live).
   */
  private notBefore = 0;
  private statusIter?: AsyncIterable<{ type: string }> & { stop?: () => void };

  private constructor(
    private readonly options: NatsMembershipOptions,
    readonly kv: KV,
  ) {
    this.instanceId = options.instanceId;
    this.leaseTtlMs = options.leaseTtlMs;
    this.beatIntervalMs = options.beatIntervalMs ?? Math.max(100, Math.floor(options.leaseTtlMs / 3));
    this.names = clusterNames(options.prefix);
    this.log = options.logger.child({ component: 'cluster-membership', instanceId: options.instanceId });
  }

  /** Creates (or opens) the bucket, puts the first beat, loads the current members, starts beating. */
  static async start(options: NatsMembershipOptions): Promise<NatsMembership> {
    if (!(options.leaseTtlMs > 0)) throw new Error('leaseTtlMs must be a positive number of milliseconds');
    const names = clusterNames(options.prefix);
    const kv = await new Kvm(options.nc).create(names.instancesBucket, { ttl: options.leaseTtlMs, history: 1 });
    const membership = new NatsMembership(options, kv);
    const bucketTtl = (await kv.status()).ttl;
    if (bucketTtl !== options.leaseTtlMs)
      // An existing bucket keeps its TTL: instances must agree on CLUSTER_LEASE_TTL_MS.
      membership.log.error('the heartbeat bucket has another TTL than CLUSTER_LEASE_TTL_MS; use one value everywhere', {
        bucket: names.instancesBucket,
        bucketTtlMs: bucketTtl,
        leaseTtlMs: options.leaseTtlMs,
      });
    await membership.beat();
    membership.mirror = await mirrorBucket(kv, (e, initial) => membership.onEntry(e, initial), membership.log);
    await membership.mirror.ready;
    membership.watchConnection();
    membership.beatTimer = setInterval(() => void membership.beat(), membership.beatIntervalMs);
    membership.checkTimer = setInterval(() => void membership.check(), membership.beatIntervalMs);
    membership.log.info('cluster membership started', {
      leaseTtlMs: membership.leaseTtlMs,
      beatIntervalMs: membership.beatIntervalMs,
      members: membership.liveInstances().map((i) => i.instanceId),
    });
    return membership;
  }

  /** False while this instance's own beats have failed for longer than the TTL. */
  get healthy(): boolean {
    return !this.lapsed;
  }

  /** The local view: a beat of this instance was seen within the TTL (this instance is always alive). */
  isAlive(instanceId: string): boolean {
    if (instanceId === this.instanceId) return true;
    const s = this.seen.get(instanceId);
    return !!s && performance.now() - s.seenAt <= this.leaseTtlMs;
  }

  /** Every instance currently alive in the local view, this one included. */
  liveInstances(): InstanceInfo[] {
    return [...this.seen.values()].filter((s) => this.isAlive(s.info.instanceId)).map((s) => s.info);
  }

  /**
   * A fresh read of the instance's heartbeat: true when it is gone (no entry, deleted, or the same
   * entry as the last one seen and that one is older than the TTL). Updates the local view.
   */
  async confirmDead(instanceId: string): Promise<boolean> {
    if (instanceId === this.instanceId || performance.now() < this.notBefore) return false;
    const entry = await this.kv.get(this.names.heartbeatKey(instanceId));
    if (!entry || entry.operation !== 'PUT') return true;
    const known = this.seen.get(instanceId);
    if (known && known.revision === entry.revision) return performance.now() - known.seenAt > this.leaseTtlMs;
    this.onEntry(Object.assign(entry, { isUpdate: false }), true);
    return !this.isAlive(instanceId);
  }

  /** Calls `listener` once for every instance found lost. Returns the unsubscribe function. */
  onInstanceLost(listener: (instanceId: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** True for exactly one caller per dead instance and TTL: the survivor that takes its calls over. */
  async tryTakeover(deadInstanceId: string): Promise<boolean> {
    try {
      await this.kv.create(
        this.names.takeoverKey(deadInstanceId),
        JSON.stringify({ by: this.instanceId, deadInstanceId, at: Date.now() }),
      );
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 10071) return false; // wrong last sequence: exists already
      throw err;
    }
  }

  /** Stops beating and deletes this instance's heartbeat (the others then take over any lease left). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.beatTimer);
    clearInterval(this.checkTimer);
    this.mirror?.stop();
    this.statusIter?.stop?.();
    this.lostListeners.clear();
    try {
      await this.kv.delete(this.names.heartbeatKey(this.instanceId));
    } catch (err) {
      this.log.warn('could not delete the heartbeat at close; it expires with the TTL', {
        error: (err as Error).message,
      });
    }
  }

  private async beat(): Promise<void> {
    if (this.closed || this.beating) return;
    this.beating = true;
    try {
      await this.beatOnce();
    } finally {
      this.beating = false;
    }
  }

  private async beatOnce(): Promise<void> {
    const info: InstanceInfo = {
      instanceId: this.instanceId,
      startedAt: this.startedAt,
      lastBeat: Date.now(),
      ...(this.options.url ? { url: this.options.url } : {}),
    };
    try {
      await this.kv.put(this.names.heartbeatKey(this.instanceId), JSON.stringify(info));
      this.lastOwnBeat = performance.now();
      if (this.notBefore === Infinity) this.notBefore = this.lastOwnBeat + 2 * this.beatIntervalMs;
      if (this.lapsed) {
        this.lapsed = false;
        this.log.warn('heartbeats are getting through again');
      }
    } catch (err) {
      if (this.closed) return;
      this.notBefore = Infinity;
      const silentMs = Math.round(performance.now() - this.lastOwnBeat);
      if (silentMs > this.leaseTtlMs && !this.lapsed) {
        this.lapsed = true;
        this.log.error('heartbeats failed for longer than the lease TTL: other instances may take over our calls', {
          silentMs,
          error: (err as Error).message,
        });
      } else if (!this.lapsed) this.log.warn('heartbeat failed', { error: (err as Error).message });
    }
  }

  /** A NATS outage makes our view stale: no death is confirmed until we are back and have beaten. */
  private watchConnection(): void {
    // The client's status iterator is a QueuedIterator (stop() ends it); its declared type is narrower.
    const iter = this.options.nc.status() as AsyncIterable<{ type: string }> & { stop?: () => void };
    this.statusIter = iter;
    void (async () => {
      for await (const status of iter) {
        if (status.type === 'disconnect') this.notBefore = Infinity;
        else if (status.type === 'reconnect') {
          this.notBefore = Infinity; // until our next beat gets through
          void this.beat();
        }
      }
    })().catch(() => undefined);
  }

  private onEntry(entry: KvWatchEntry, initial: boolean): void {
    if (!entry.key.startsWith('instance.')) return;
    const token = entry.key.slice('instance.'.length);
    if (entry.operation !== 'PUT') {
      for (const s of this.seen.values()) if (keyToken(s.info.instanceId) === token) s.seenAt = -Infinity;
      return;
    }
    let info: unknown;
    try {
      info = entry.json();
    } catch {
      info = undefined;
    }
    if (!isInstanceInfo(info)) {
      this.log.warn('ignoring a malformed heartbeat', { key: entry.key });
      return;
    }
    const now = performance.now();
    // An initial value may be an old beat: count from the server's timestamp, at most one TTL back.
    const ageMs = initial ? Math.min(Math.max(0, Date.now() - entry.created.getTime()), this.leaseTtlMs) : 0;
    const previous = this.seen.get(info.instanceId);
    if (previous && previous.revision >= entry.revision) return;
    const wasLost = previous?.lost ?? false;
    this.seen.set(info.instanceId, { info, revision: entry.revision, seenAt: now - ageMs, lost: false });
    if (!previous && info.instanceId !== this.instanceId && !initial)
      this.log.info('instance joined the cluster', { member: info.instanceId });
    if (wasLost) this.log.warn('an instance reported lost is beating again', { member: info.instanceId });
  }

  private async check(): Promise<void> {
    if (this.closed || this.checking) return;
    this.checking = true;
    try {
      await this.checkOnce();
    } finally {
      this.checking = false;
    }
  }

  private async checkOnce(): Promise<void> {
    if (performance.now() - this.lastOwnBeat > this.leaseTtlMs && !this.lapsed) void this.beat();
    for (const s of [...this.seen.values()]) {
      const id = s.info.instanceId;
      if (s.lost && performance.now() - s.seenAt > 10 * this.leaseTtlMs) this.seen.delete(id); // forget old deaths
      if (s.lost || id === this.instanceId || this.isAlive(id)) continue;
      try {
        if (!(await this.confirmDead(id)) || this.closed) continue;
      } catch (err) {
        this.log.warn('could not check a silent instance', { member: id, error: (err as Error).message });
        continue;
      }
      const current = this.seen.get(id);
      if (!current || current.lost) continue;
      current.lost = true;
      this.log.warn('instance lost: no heartbeat within the lease TTL', {
        member: id,
        leaseTtlMs: this.leaseTtlMs,
        silentMs: Number.isFinite(current.seenAt) ? Math.round(performance.now() - current.seenAt) : undefined,
      });
      for (const listener of [...this.lostListeners]) {
        try {
          listener(id);
        } catch (err) {
          this.log.error('instance-lost listener failed', { member: id, error: (err as Error).message });
        }
      }
    }
  }
}
