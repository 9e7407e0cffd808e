/**
 * The cluster services of one instance (docs/scaling.md), started from the configuration:
 * - NATS_URL: the connection, membership (heartbeats, call leases, failover, routed actions:
 *   src/cluster/nats/membership-cluster.ts) and the cluster event bus (src/cluster/nats/bus.ts);
 * - REDIS_URL: shared rate limits, the cluster-wide call cap, single-use stream tokens
 *   (src/cluster/redis/).
 * Without them: one instance, LocalOwnership, every limit in this process (`npm start`). The NATS and
 * Redis clients are loaded only when configured: one instance never has them in its heap (~3 MB less
 * for every major GC to mark; docs/benchmarks/bridge.md).
 *
 * createApp starts this before the call core (the bridge needs the ownership) and hands it the app's
 * handlers once they exist (`setHandlers`): closing a lost instance's calls, running an action routed
 * here.
 */
import type { Registry } from 'prom-client';
import type { Config } from '../config';
import type { EventBus } from '../events/event-bus';
import type { Logger } from '../logging/logger';
import type { EndReason } from '../calls/call-status';
import { ActionRoutingError, type CallActionHandler } from './actions';
import type { CloseOrphanedCall } from './failover';
import type { ClusterActions } from './nats/actions';
import type * as NatsBus from './nats/bus';
import type * as NatsConnectionModule from './nats/connection';
import type * as NatsMembership from './nats/membership-cluster';
import { LocalOwnership, type CallOwnership } from './ownership';
import type * as RedisModule from './redis';

type NatsConnection = NatsConnectionModule.NatsConnection;
type ClusterBus = NatsBus.ClusterBus;
type NatsCluster = NatsMembership.NatsCluster;
type RedisLimits = RedisModule.RedisLimits;

// `require`, not `import()`: the code also runs under tsx's CommonJS hook (tests, simulators), where
// an extensionless dynamic import fails.
/* eslint-disable @typescript-eslint/no-require-imports */
const loadNats = (): typeof NatsConnectionModule & typeof NatsMembership & typeof NatsBus => ({
  ...(require('./nats/connection') as typeof NatsConnectionModule),
  ...(require('./nats/membership-cluster') as typeof NatsMembership),
  ...(require('./nats/bus') as typeof NatsBus),
});
const loadRedis = (): typeof RedisModule => require('./redis') as typeof RedisModule;
/* eslint-enable @typescript-eslint/no-require-imports */

export interface Cluster {
  readonly instanceId: string;
  /** True with NATS: several instances share the calls. */
  readonly clustered: boolean;
  readonly ownership: CallOwnership;
  /** Routed actions (NATS); undefined for one instance. */
  readonly actions: ClusterActions | undefined;
  readonly redis: RedisLimits | undefined;
  readonly bus: ClusterBus | undefined;
  /** For the bridge: end a call whose stream another instance holds (a final provider status landing here). */
  endCallOnOwner?(owner: string, callId: string, reason: EndReason): Promise<void>;
  setHandlers(handlers: { closeOrphanedCall: CloseOrphanedCall; handleAction: CallActionHandler }): void;
  /** After the calls have drained: leases released, last events published, connections closed. */
  close(): Promise<void>;
}

export interface StartClusterOptions {
  config: Config;
  bus: EventBus;
  logger: Logger;
  registry: Registry;
}

export async function startCluster({ config, bus, logger, registry }: StartClusterOptions): Promise<Cluster> {
  const { natsUrl, natsPrefix, redisUrl, redisPrefix, instanceId, leaseTtlMs } = config.cluster;
  const redis = redisUrl
    ? await loadRedis().RedisLimits.connect({ url: redisUrl, prefix: redisPrefix, logger, registry })
    : undefined;
  let nc: NatsConnection | undefined;
  let nats: NatsCluster | undefined;
  let clusterBus: ClusterBus | undefined;
  try {
    if (natsUrl) {
      const { connectNats, startNatsCluster, attachClusterBus } = loadNats();
      nc = await connectNats(natsUrl, { name: `switchboard-${instanceId}`, logger });
      nats = await startNatsCluster({
        nc,
        prefix: natsPrefix,
        instanceId,
        leaseTtlMs,
        url: config.publicUrl || undefined,
        logger,
        // A transfer's summary takes up to 5 s on the owner.
        actionTimeoutMs: 8000,
      });
      clusterBus = attachClusterBus({
        bus,
        natsUrl,
        prefix: natsPrefix,
        instanceId,
        logger: logger.child({ component: 'cluster-bus' }),
        registry,
      });
    }
  } catch (err) {
    await nats?.close().catch(() => undefined);
    if (nc) await loadNats().closeNats(nc, logger);
    await redis?.close();
    throw err;
  }
  const actions = nats?.actions;
  return {
    instanceId,
    clustered: nats !== undefined,
    ownership: nats?.ownership ?? new LocalOwnership(instanceId),
    actions,
    redis,
    bus: clusterBus,
    ...(actions
      ? {
          endCallOnOwner: async (owner: string, callId: string, reason: EndReason) => {
            await actions.routeActionTo(owner, callId, 'end', { reason });
          },
        }
      : {}),
    setHandlers(handlers) {
      nats?.setHandlers(handlers);
    },
    async close() {
      await clusterBus?.close();
      await nats?.close();
      if (nc) await loadNats().closeNats(nc, logger);
      await redis?.close();
    },
  };
}

export { ActionRoutingError };
