/**
 * Instance failure: a surviving instance closes the calls of an instance that died (kill -9, a lost
 * host), so no call stays "live" in the database forever and the dashboards stop showing it.
 *
 * Trigger: membership (src/cluster/nats/membership.ts) reports an instance lost when none of its
 * heartbeats was seen for longer than the lease TTL; a sweep every beat interval also looks at the
 * holders of leases (src/cluster/nats/ownership.ts) and confirms, with a fresh read, that each holder
 * other than this instance is alive. For a dead holder every survivor tries to create the KV key
 * `takeover.<deadId>`; exactly one succeeds. The winner, for each lease the dead instance still holds
 * (re-read fresh, so a call re-claimed meanwhile is left alone), calls the injected
 * `closeOrphanedCall(callId, deadId)` (the app ends the call as `interrupted` / `instance-lost` and
 * repairs its recording when the disk is shared), then deletes the lease at the revision it read.
 *
 * Timing (documented bound): from the dead instance's last beat, it is reported within
 * leaseTtlMs + beatIntervalMs (beatIntervalMs = leaseTtlMs / 3 by default), plus a few KV round trips
 * and the closeOrphanedCall calls themselves.
 *
 * A restart under a fixed INSTANCE_ID: the first sweep closes the leases this id took before this
 * process started (their calls died with the previous process), the same way.
 *
 * Once: the takeover marker lives for one TTL (the bucket's), so the other survivors skip that
 * instance. If the winner dies mid-way, or a closeOrphanedCall fails (its lease is kept), the marker
 * expires and the next sweep of any survivor takes over what is left: at least once per call, exactly
 * once unless a winner dies between closing a call and deleting its lease.
 */
import type { Logger } from '../logging/logger';
import type { NatsMembership } from './nats/membership';
import type { NatsOwnership } from './nats/ownership';

export type CloseOrphanedCall = (callId: string, lostInstanceId: string) => Promise<void>;

export interface TakeoverResult {
  lostInstanceId: string;
  closed: string[];
  failed: string[];
}

export interface ClusterFailoverOptions {
  membership: Pick<
    NatsMembership,
    'instanceId' | 'startedAt' | 'beatIntervalMs' | 'isAlive' | 'confirmDead' | 'tryTakeover' | 'onInstanceLost'
  >;
  ownership: Pick<NatsOwnership, 'leaseHolders' | 'leasesHeldBy' | 'currentLease' | 'dropLease'>;
  /** May come later (setCloseOrphanedCall): no takeover happens before it is set. */
  closeOrphanedCall?: CloseOrphanedCall;
  logger: Logger;
  /** How many orphaned calls are closed at once (default 8). */
  concurrency?: number;
  /** Told after each takeover this instance won (tests, metrics). */
  onTakeover?: (result: TakeoverResult) => void;
}

export class ClusterFailover {
  private readonly log: Logger;
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly inProgress = new Set<string>();
  private sweeping?: Promise<void>;
  private closed = false;
  private pastLifeChecked = false;
  private closeOrphanedCall?: CloseOrphanedCall;

  constructor(private readonly options: ClusterFailoverOptions) {
    this.log = options.logger.child({ component: 'cluster-failover', instanceId: options.membership.instanceId });
    this.closeOrphanedCall = options.closeOrphanedCall;
    this.unsubscribe = options.membership.onInstanceLost(() => void this.sweep());
    this.timer = setInterval(() => void this.sweep(), options.membership.beatIntervalMs);
    void this.sweep();
  }

  /** Sets (or replaces) how an orphaned call is closed, e.g. once the app's CallManager exists. */
  setCloseOrphanedCall(close: CloseOrphanedCall): void {
    this.closeOrphanedCall = close;
    void this.sweep();
  }

  /** Looks for lease holders that are gone and takes over the ones this instance wins. */
  sweep(): Promise<void> {
    if (this.closed || !this.closeOrphanedCall) return Promise.resolve();
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.unsubscribe();
    await this.sweeping?.catch(() => undefined);
  }

  private async sweepOnce(): Promise<void> {
    const { membership, ownership } = this.options;
    if (!this.pastLifeChecked) {
      // A restart under the same INSTANCE_ID: leases this id took before this start belong to calls
      // that died with the previous process; nobody else would close them (the id beats again).
      this.pastLifeChecked = true;
      const me = membership.instanceId;
      const stale = ownership.leasesHeldBy(me).filter((l) => l.claimedAt < membership.startedAt);
      if (stale.length > 0) this.options.onTakeover?.(await this.takeOver(me, stale));
    }
    for (const holder of ownership.leaseHolders()) {
      if (this.closed) return;
      if (this.inProgress.has(holder) || membership.isAlive(holder)) continue;
      try {
        if (!(await membership.confirmDead(holder))) continue;
        if (!(await membership.tryTakeover(holder))) continue; // another survivor has it (or had it this TTL)
      } catch (err) {
        this.log.warn('could not decide on a silent lease holder', {
          lostInstance: holder,
          error: (err as Error).message,
        });
        continue;
      }
      this.inProgress.add(holder);
      try {
        const result = await this.takeOver(holder);
        this.options.onTakeover?.(result);
      } finally {
        this.inProgress.delete(holder);
      }
    }
  }

  private async takeOver(
    lostInstanceId: string,
    leases = this.options.ownership.leasesHeldBy(lostInstanceId),
  ): Promise<TakeoverResult> {
    const { ownership } = this.options;
    const closeOrphanedCall = this.closeOrphanedCall!;
    this.log.warn('taking over the calls of a lost instance', { lostInstance: lostInstanceId, calls: leases.length });
    const result: TakeoverResult = { lostInstanceId, closed: [], failed: [] };
    const queue = [...leases];
    const worker = async (): Promise<void> => {
      for (let lease = queue.shift(); lease; lease = queue.shift()) {
        const { callId } = lease;
        try {
          const current = await ownership.currentLease(callId);
          // Released or re-claimed meanwhile (the same id re-claiming after a restart gets a new revision).
          if (!current || current.instanceId !== lostInstanceId || current.revision !== lease.revision) continue;
          await closeOrphanedCall(callId, lostInstanceId);
          await ownership.dropLease(callId, current.revision);
          result.closed.push(callId);
          this.log.warn('call of a lost instance closed', { callId, lostInstance: lostInstanceId });
        } catch (err) {
          result.failed.push(callId);
          this.log.error('could not close a call of a lost instance; retried after the takeover marker expires', {
            callId,
            lostInstance: lostInstanceId,
            error: (err as Error).message,
          });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.options.concurrency ?? 8) }, worker));
    this.log.warn('takeover finished', {
      lostInstance: lostInstanceId,
      closed: result.closed.length,
      failed: result.failed.length,
    });
    return result;
  }
}
