/**
 * What this instance does for the cluster (src/cluster/index.ts `setHandlers`):
 * - closeOrphanedCall: a call held by an instance that died is closed here as `interrupted`
 *   (endReason `instance-lost`), its recording repaired and registered when the disk is shared
 *   (src/calls/crash-recovery.ts), so no call stays live in the database and its audio plays;
 * - handleAction: an action routed to this instance because it holds the call: `end` (a final
 *   provider status that landed on another instance), `http` (a supervisor's request replayed on this
 *   instance's own port: src/http/cluster-routes.ts).
 */
import type { CallManager } from '../calls/call-manager';
import type { CallBridge } from '../calls/call-bridge';
import type { EndReason } from '../calls/call-status';
import { repairRecordingOf } from '../calls/crash-recovery';
import { replayRoutedRequest } from '../http/cluster-routes';
import type { Logger } from '../logging/logger';
import { ActionRoutingError, type CallActionHandler } from './actions';
import type { CloseOrphanedCall } from './failover';

export interface ClusterHandlerDeps {
  callManager: CallManager;
  bridge: Pick<CallBridge, 'get' | 'end'>;
  recordingsDir: string;
  logger: Logger;
  /** This instance's HTTP port once it listens. */
  port: () => number | undefined;
}

export function clusterHandlers(deps: ClusterHandlerDeps): {
  closeOrphanedCall: CloseOrphanedCall;
  handleAction: CallActionHandler;
} {
  return {
    async closeOrphanedCall(callId, lostInstanceId) {
      const call = await deps.callManager.endCall(callId, { reason: 'instance-lost', status: 'interrupted' });
      deps.logger.warn('call of a lost instance closed as interrupted', { callId, lostInstanceId });
      await repairRecordingOf(deps.callManager, call, deps.recordingsDir, deps.logger);
    },
    async handleAction(request) {
      if (request.action === 'http') return replayRoutedRequest(deps.port, request);
      if (request.action === 'end') {
        const reason = request.args.reason;
        if (typeof reason !== 'string' || !/^[a-z][a-z-]{0,39}$/.test(reason))
          throw new ActionRoutingError('invalid', 'end needs a reason');
        if (!deps.bridge.get(request.callId)) throw new ActionRoutingError('not-found', 'no live call here');
        await deps.bridge.end(request.callId, reason as EndReason);
        return {};
      }
      throw new ActionRoutingError('invalid', `unsupported action ${request.action}`);
    },
  };
}
