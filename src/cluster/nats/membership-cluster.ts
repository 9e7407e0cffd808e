/**
 * One call that starts this instance's part of the cluster on NATS (issue 16 items 2, 3, 5): heartbeats
 * (NatsMembership), call leases (NatsOwnership, the CallOwnership the app uses), the failover that
 * closes a lost instance's calls (ClusterFailover) and supervisor actions routed to a call's owner
 * (ClusterActions). The app passes its NATS connection and two functions, `closeOrphanedCall` and
 * `handleAction`, at start or later through `setHandlers` (the ownership is needed before createApp
 * builds the CallManager those functions use). `close()` stops them in the right order (actions, failover, leases, heartbeat last,
 * so the others take over whatever lease is left only once this instance has stopped); it does not
 * close the NATS connection, which belongs to the caller.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '../../logging/logger';
import type { CallActionHandler } from '../actions';
import { ClusterActions } from './actions';
import { ClusterFailover, type CloseOrphanedCall, type TakeoverResult } from '../failover';
import { NatsMembership } from './membership';
import { NatsOwnership } from './ownership';

export interface NatsClusterOptions {
  nc: NatsConnection;
  /** config.cluster.natsPrefix */
  prefix: string;
  /** config.cluster.instanceId */
  instanceId: string;
  /** config.cluster.leaseTtlMs */
  leaseTtlMs: number;
  /** Where this instance is reachable (shown in the heartbeat; informational). */
  url?: string;
  logger: Logger;
  /** Both may also be set later with `setHandlers` (e.g. once createApp has built the CallManager). */
  closeOrphanedCall?: CloseOrphanedCall;
  handleAction?: CallActionHandler;
  actionTimeoutMs?: number;
  beatIntervalMs?: number;
  onTakeover?: (result: TakeoverResult) => void;
}

export interface NatsCluster {
  membership: NatsMembership;
  ownership: NatsOwnership;
  failover: ClusterFailover;
  actions: ClusterActions;
  /** Sets the app's handlers; the failover takes nothing over before closeOrphanedCall is set. */
  setHandlers(handlers: { closeOrphanedCall?: CloseOrphanedCall; handleAction?: CallActionHandler }): void;
  close(): Promise<void>;
}

export async function startNatsCluster(options: NatsClusterOptions): Promise<NatsCluster> {
  const { nc, logger } = options;
  const membership = await NatsMembership.start({
    nc,
    prefix: options.prefix,
    instanceId: options.instanceId,
    leaseTtlMs: options.leaseTtlMs,
    beatIntervalMs: options.beatIntervalMs,
    url: options.url,
    logger,
  });
  let ownership: NatsOwnership | undefined;
  try {
    ownership = await NatsOwnership.start({ nc, membership, logger });
  } catch (err) {
    await membership.close();
    throw err;
  }
  const failover = new ClusterFailover({
    membership,
    ownership,
    closeOrphanedCall: options.closeOrphanedCall,
    logger,
    onTakeover: options.onTakeover,
  });
  const actions = new ClusterActions({
    nc,
    ownership,
    subjectFor: membership.names.actionsSubject,
    handleAction: options.handleAction,
    logger,
    timeoutMs: options.actionTimeoutMs,
  });
  const owned = ownership;
  return {
    membership,
    ownership,
    failover,
    actions,
    setHandlers({ closeOrphanedCall, handleAction }) {
      if (handleAction) actions.setHandler(handleAction);
      if (closeOrphanedCall) failover.setCloseOrphanedCall(closeOrphanedCall);
    },
    async close() {
      await actions.close();
      await failover.close();
      await owned.close();
      await membership.close();
    },
  };
}
