/**
 * CallOwnership (src/cluster/ownership.ts) on NATS: each live call's lease is an entry of the
 * key-value bucket `<PREFIX>_calls`, key = call id, value {callId, instanceId, claimedAt}.
 *
 * - `claim` is a KV create (it fails when the key holds a lease). Then the holder is read: ours →
 *   true; a live instance (src/cluster/nats/membership.ts) → false; an instance whose heartbeat is
 *   gone → taken over with an update at the entry's revision, so of two instances racing for it one
 *   wins and the other sees the new holder.
 * - `release` deletes the lease only if this instance still holds it, at the revision it read.
 * - Every instance mirrors the bucket through a watch: `leases()` (the cluster-wide active calls) is
 *   read from the mirror (this instance's own claims and releases apply at once; other instances'
 *   arrive within the NATS delivery delay, milliseconds), and `onClaimedElsewhere` fires from it when
 *   another instance becomes a call's holder. `ownerOf` reads the bucket (it routes actions).
 * - A lease has no expiry of its own: it lives while its holder beats, and the failover
 *   (src/cluster/failover.ts) removes the leases of a lost instance. The bucket's max age
 *   (`leaseMaxAgeMs`, default 12 h; Twilio ends calls after 4 h) only clears the delete markers and
 *   anything forgotten.
 */
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '../../logging/logger';
import type { CallLease, CallOwnership } from '../ownership';
import type { NatsMembership } from './membership';
import { mirrorBucket, type BucketMirror } from './membership-watch';

export const DEFAULT_LEASE_MAX_AGE_MS = 12 * 60 * 60 * 1000;
const WRONG_LAST_SEQUENCE = 10071;

export interface NatsOwnershipOptions {
  nc: NatsConnection;
  membership: NatsMembership;
  logger: Logger;
  leaseMaxAgeMs?: number;
}

/** A lease as stored, with the revision a conditional update or delete needs. */
export interface StoredLease extends CallLease {
  revision: number;
}

function isLease(value: unknown): value is CallLease {
  const v = value as Partial<CallLease> | null;
  return !!v && typeof v.callId === 'string' && typeof v.instanceId === 'string' && typeof v.claimedAt === 'number';
}

function parseLease(entry: { json<T>(): T; revision: number; operation: string }): StoredLease | undefined {
  if (entry.operation !== 'PUT') return undefined;
  try {
    const value = entry.json<unknown>();
    return isLease(value) ? { ...value, revision: entry.revision } : undefined;
  } catch {
    return undefined;
  }
}

function isWrongSequence(err: unknown): boolean {
  return (err as { code?: number }).code === WRONG_LAST_SEQUENCE;
}

export class NatsOwnership implements CallOwnership {
  readonly instanceId: string;
  /** Mirror of the bucket: key → lease. */
  private readonly mirrorByKey = new Map<string, StoredLease>();
  private readonly listeners = new Set<(callId: string, owner: string) => void>();
  private readonly log: Logger;
  private mirror?: BucketMirror;
  private closed = false;

  private constructor(
    private readonly membership: NatsMembership,
    readonly kv: KV,
    logger: Logger,
  ) {
    this.instanceId = membership.instanceId;
    this.log = logger.child({ component: 'cluster-ownership', instanceId: membership.instanceId });
  }

  static async start(options: NatsOwnershipOptions): Promise<NatsOwnership> {
    const { membership } = options;
    const kv = await new Kvm(options.nc).create(membership.names.callsBucket, {
      ttl: options.leaseMaxAgeMs ?? DEFAULT_LEASE_MAX_AGE_MS,
      history: 1,
    });
    const ownership = new NatsOwnership(membership, kv, options.logger);
    ownership.mirror = await mirrorBucket(kv, (e, initial) => ownership.onEntry(e, initial), ownership.log);
    await ownership.mirror.ready;
    return ownership;
  }

  async claim(callId: string): Promise<boolean> {
    const key = this.membership.names.leaseKey(callId);
    const mine = (): string => JSON.stringify({ callId, instanceId: this.instanceId, claimedAt: Date.now() });
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const revision = await this.kv.create(key, mine());
        this.remember(key, { callId, instanceId: this.instanceId, claimedAt: Date.now(), revision });
        this.log.info('call claimed', { callId });
        return true;
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
      const entry = await this.kv.get(key);
      const held = entry ? parseLease(entry) : undefined;
      if (!entry || !held) continue; // deleted meanwhile (create retries over a delete marker)
      if (held.instanceId === this.instanceId) return true;
      if (this.membership.isAlive(held.instanceId) || !(await this.membership.confirmDead(held.instanceId))) {
        this.log.info('call held by another live instance', { callId, owner: held.instanceId });
        return false;
      }
      try {
        const revision = await this.kv.update(key, mine(), entry.revision);
        this.remember(key, { callId, instanceId: this.instanceId, claimedAt: Date.now(), revision });
        this.log.warn('call taken over from a lost instance', { callId, lostInstance: held.instanceId });
        return true;
      } catch (err) {
        if (!isWrongSequence(err)) throw err; // someone else changed it: read again
      }
    }
    throw new Error(`could not claim call ${callId}: its lease kept changing`);
  }

  async release(callId: string): Promise<void> {
    const key = this.membership.names.leaseKey(callId);
    const entry = await this.kv.get(key);
    const held = entry ? parseLease(entry) : undefined;
    if (!held || held.instanceId !== this.instanceId) return;
    try {
      await this.kv.delete(key, { previousSeq: held.revision });
      this.mirrorByKey.delete(key);
      this.log.info('call released', { callId });
    } catch (err) {
      if (!isWrongSequence(err)) throw err; // changed since we read it: no longer ours
    }
  }

  async ownerOf(callId: string): Promise<string | undefined> {
    return (await this.currentLease(callId))?.instanceId;
  }

  /** The lease as the bucket holds it now (a fresh read), or undefined. */
  async currentLease(callId: string): Promise<StoredLease | undefined> {
    const entry = await this.kv.get(this.membership.names.leaseKey(callId));
    return entry ? parseLease(entry) : undefined;
  }

  async leases(): Promise<CallLease[]> {
    await this.mirror?.ready;
    return [...this.mirrorByKey.values()].map(({ callId, instanceId, claimedAt }) => ({
      callId,
      instanceId,
      claimedAt,
    }));
  }

  /** The leases the mirror shows held by `instanceId` (for the failover). */
  leasesHeldBy(instanceId: string): StoredLease[] {
    return [...this.mirrorByKey.values()].filter((l) => l.instanceId === instanceId);
  }

  /** The instances (other than this one) the mirror shows holding leases. */
  leaseHolders(): Set<string> {
    const holders = new Set<string>();
    for (const l of this.mirrorByKey.values()) if (l.instanceId !== this.instanceId) holders.add(l.instanceId);
    return holders;
  }

  /** Deletes a lease if it is still at `revision` (the failover, after closing a lost call). */
  async dropLease(callId: string, revision: number): Promise<boolean> {
    const key = this.membership.names.leaseKey(callId);
    try {
      await this.kv.delete(key, { previousSeq: revision });
      if (this.mirrorByKey.get(key)?.revision === revision) this.mirrorByKey.delete(key);
      return true;
    } catch (err) {
      if (isWrongSequence(err)) return false;
      throw err;
    }
  }

  onClaimedElsewhere(listener: (callId: string, owner: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the mirror. Leases stay: they belong to calls, which end (and release) before this. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.mirror?.stop();
      this.listeners.clear();
    }
    return Promise.resolve();
  }

  private remember(key: string, lease: StoredLease): void {
    const known = this.mirrorByKey.get(key);
    if (!known || known.revision < lease.revision) this.mirrorByKey.set(key, lease);
  }

  private onEntry(entry: KvWatchEntry, initial: boolean): void {
    const known = this.mirrorByKey.get(entry.key);
    if (known && known.revision > entry.revision) return; // our own newer write is already here
    const lease = parseLease(entry);
    if (!lease) {
      this.mirrorByKey.delete(entry.key);
      return;
    }
    this.mirrorByKey.set(entry.key, lease);
    if (initial || lease.instanceId === this.instanceId || known?.instanceId === lease.instanceId) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(lease.callId, lease.instanceId);
      } catch (err) {
        this.log.error('claimed-elsewhere listener failed', { callId: lease.callId, error: (err as Error).message });
      }
    }
  }
}
