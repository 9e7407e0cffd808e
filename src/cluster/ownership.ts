/**
 * Which instance owns a live call. One instance (`npm start`): LocalOwnership, in this process. Many
 * instances behind a load balancer (docs/scaling.md): the NATS key-value implementation
 * (src/cluster/nats/), where each call's lease lives as long as its instance's heartbeats do.
 *
 * The owner of a call is the instance that holds its media stream (and so its AI session): a webhook
 * may land on instance A and the stream on B; B claims the call when its stream starts, and A, which
 * prepared the call (and maybe started its AI session early), lets go of it without ending it.
 */

/** A live call's lease, as every instance can see it (the cluster-wide active-calls list). */
export interface CallLease {
  callId: string;
  /** INSTANCE_ID of the owner. */
  instanceId: string;
  /** When the owner claimed it (ms since the epoch). */
  claimedAt: number;
}

export interface CallOwnership {
  /** This instance's id (INSTANCE_ID). */
  readonly instanceId: string;
  /**
   * Takes the call for this instance. True when it is now ours (it was free, already ours, or held by
   * an instance whose lease has expired); false when another live instance holds it.
   */
  claim(callId: string): Promise<boolean>;
  /** Gives the call up (it ended here). Idempotent; a lease held by another instance is left alone. */
  release(callId: string): Promise<void>;
  /** The instance holding the call's lease, or undefined when none does. */
  ownerOf(callId: string): Promise<string | undefined>;
  /** Every live call's lease, on every instance. */
  leases(): Promise<CallLease[]>;
  /**
   * Tells this instance when another one claimed a call (e.g. the call this instance prepared in its
   * webhook got its stream elsewhere). Returns the unsubscribe function.
   */
  onClaimedElsewhere(listener: (callId: string, owner: string) => void): () => void;
  close(): Promise<void>;
}

/** One instance: every call is this process's. Shareable between in-process apps (tests of two instances). */
export class LocalOwnership implements CallOwnership {
  private static readonly registries = new WeakMap<object, Map<string, CallLease>>();
  private readonly leasesById: Map<string, CallLease>;
  private readonly listeners = new Set<(callId: string, owner: string) => void>();
  private static readonly peers = new WeakMap<Map<string, CallLease>, Set<LocalOwnership>>();

  /** `shared`: the same object for every instance that should see each other's leases (default: none). */
  constructor(
    readonly instanceId: string,
    shared?: object,
  ) {
    const key = shared ?? {};
    let registry = LocalOwnership.registries.get(key);
    if (!registry) {
      registry = new Map();
      LocalOwnership.registries.set(key, registry);
    }
    this.leasesById = registry;
    let peers = LocalOwnership.peers.get(registry);
    if (!peers) {
      peers = new Set();
      LocalOwnership.peers.set(registry, peers);
    }
    peers.add(this);
  }

  claim(callId: string): Promise<boolean> {
    const held = this.leasesById.get(callId);
    if (held && held.instanceId !== this.instanceId) return Promise.resolve(false);
    if (!held) {
      this.leasesById.set(callId, { callId, instanceId: this.instanceId, claimedAt: Date.now() });
      for (const peer of LocalOwnership.peers.get(this.leasesById) ?? []) {
        if (peer !== this) for (const listener of peer.listeners) listener(callId, this.instanceId);
      }
    }
    return Promise.resolve(true);
  }

  release(callId: string): Promise<void> {
    if (this.leasesById.get(callId)?.instanceId === this.instanceId) this.leasesById.delete(callId);
    return Promise.resolve();
  }

  ownerOf(callId: string): Promise<string | undefined> {
    return Promise.resolve(this.leasesById.get(callId)?.instanceId);
  }

  leases(): Promise<CallLease[]> {
    return Promise.resolve([...this.leasesById.values()]);
  }

  onClaimedElsewhere(listener: (callId: string, owner: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    LocalOwnership.peers.get(this.leasesById)?.delete(this);
    this.listeners.clear();
    return Promise.resolve();
  }
}
