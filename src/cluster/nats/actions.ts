/**
 * The NATS side of routed supervisor actions (src/cluster/actions.ts has the request shape and the
 * errors): request/reply on `<prefix>.instances.<id>.actions`.
 */
import { RequestError, TimeoutError, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import type { Logger } from '../../logging/logger';
import type { CallOwnership } from '../ownership';
import {
  ActionRoutingError,
  validRequest,
  type CallActionHandler,
  type CallActionName,
  type CallActionRequest,
} from '../actions';

type ActionReply = { ok: true; result?: unknown } | { ok: false; error: { code: string; message: string } };

export interface ClusterActionsOptions {
  nc: NatsConnection;
  ownership: Pick<CallOwnership, 'instanceId' | 'ownerOf'>;
  /** `<prefix>.instances.<id>.actions` for an instance id (clusterNames(prefix).actionsSubject). */
  subjectFor: (instanceId: string) => string;
  /** May come later (setHandler): until then an action reaching this instance fails with `not-ready`. */
  handleAction?: CallActionHandler;
  logger: Logger;
  /** How long a routed action may take before `timeout` (default 5000 ms; a transfer summary takes up to 5 s). */
  timeoutMs?: number;
}

export class ClusterActions {
  private readonly log: Logger;
  private readonly subscription: Subscription;
  private readonly timeoutMs: number;
  private readonly instanceId: string;
  private handleAction?: CallActionHandler;

  constructor(private readonly options: ClusterActionsOptions) {
    this.instanceId = options.ownership.instanceId;
    this.handleAction = options.handleAction;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.log = options.logger.child({ component: 'cluster-actions', instanceId: this.instanceId });
    this.subscription = options.nc.subscribe(options.subjectFor(this.instanceId), {
      callback: (err, msg) => {
        if (err) {
          this.log.error('action subscription failed', { error: err.message });
          return;
        }
        void this.answer(msg.data).then((reply) => msg.respond(JSON.stringify(reply)));
      },
    });
  }

  /** Sets (or replaces) the handler of the actions routed to this instance. */
  setHandler(handler: CallActionHandler): void {
    this.handleAction = handler;
  }

  /** Runs `action` on the instance that owns the call and returns the handler's result. */
  async routeAction(callId: string, action: CallActionName, args: Record<string, unknown> = {}): Promise<unknown> {
    const request: CallActionRequest = { callId, action, args, from: this.instanceId };
    if (!validRequest(request)) throw new ActionRoutingError('invalid', `not a valid call action: ${String(action)}`);
    const owner = await this.options.ownership.ownerOf(callId);
    if (!owner) throw new ActionRoutingError('no-owner', `no instance holds call ${callId}`);
    return this.send(owner, request);
  }

  /** Like routeAction, to an owner the caller already knows (e.g. from onClaimedElsewhere). */
  routeActionTo(
    owner: string,
    callId: string,
    action: CallActionName,
    args: Record<string, unknown> = {},
  ): Promise<unknown> {
    const request: CallActionRequest = { callId, action, args, from: this.instanceId };
    if (!validRequest(request))
      return Promise.reject(new ActionRoutingError('invalid', `not a valid call action: ${String(action)}`));
    return this.send(owner, request);
  }

  private async send(owner: string, request: CallActionRequest): Promise<unknown> {
    const { callId, action } = request;
    if (owner === this.instanceId) return this.runHere(request);
    const started = performance.now();
    let raw: Uint8Array;
    try {
      const msg = await this.options.nc.request(this.options.subjectFor(owner), JSON.stringify(request), {
        timeout: this.timeoutMs,
      });
      raw = msg.data;
    } catch (err) {
      throw this.requestFailure(err, callId, action, owner);
    }
    let reply: ActionReply;
    try {
      reply = JSON.parse(new TextDecoder().decode(raw)) as ActionReply;
    } catch {
      throw new ActionRoutingError('action-failed', `instance ${owner} sent an unreadable reply`);
    }
    this.log.info('call action routed', {
      callId,
      action,
      owner,
      ok: reply.ok,
      ms: Math.round(performance.now() - started),
    });
    if (!reply.ok) throw new ActionRoutingError(reply.error.code, reply.error.message);
    return reply.result;
  }

  close(): Promise<void> {
    this.subscription.unsubscribe();
    return Promise.resolve();
  }

  private async runHere(request: CallActionRequest): Promise<unknown> {
    const handler = this.handleAction;
    if (!handler) throw new ActionRoutingError('not-ready', `instance ${this.instanceId} is still starting`);
    try {
      return await handler(request);
    } catch (err) {
      if (err instanceof ActionRoutingError) throw err;
      this.log.error('call action failed', {
        callId: request.callId,
        action: request.action,
        error: (err as Error).message,
      });
      throw new ActionRoutingError('action-failed', (err as Error).message);
    }
  }

  private async answer(data: Uint8Array): Promise<ActionReply> {
    let request: unknown;
    try {
      request = JSON.parse(new TextDecoder().decode(data));
    } catch {
      request = undefined;
    }
    if (!validRequest(request))
      return { ok: false, error: { code: 'invalid', message: 'not a valid call action request' } };
    try {
      const result = await this.runHere(request);
      return { ok: true, ...(result === undefined ? {} : { result }) };
    } catch (err) {
      const e = err as ActionRoutingError;
      return { ok: false, error: { code: e.code, message: e.message } };
    }
  }

  private requestFailure(err: unknown, callId: string, action: string, owner: string): ActionRoutingError {
    const cause = (err as Error).cause;
    if (err instanceof RequestError && err.isNoResponders()) {
      this.log.warn('owner of a call does not answer on NATS', { callId, action, owner });
      return new ActionRoutingError(
        'owner-unreachable',
        `instance ${owner}, which holds call ${callId}, is not reachable`,
      );
    }
    if (err instanceof TimeoutError || cause instanceof TimeoutError) {
      this.log.warn('routed call action timed out', { callId, action, owner, timeoutMs: this.timeoutMs });
      return new ActionRoutingError(
        'timeout',
        `instance ${owner} did not answer the ${action} action on call ${callId} within ${this.timeoutMs} ms`,
      );
    }
    return new ActionRoutingError('action-failed', `could not reach instance ${owner}: ${(err as Error).message}`);
  }
}
