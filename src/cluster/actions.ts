/**
 * Supervisor actions on a call, routed to the instance that owns it. A supervisor's request (whisper,
 * end, transfer, ...) may reach any instance behind the load balancer, but the call's conversation
 * lives on one: the holder of its lease (src/cluster/ownership.ts). `routeAction` finds the holder
 * and, when it is another instance, sends the action over NATS request/reply on
 * `<prefix>.instances.<id>.actions`; each instance answers there with the injected `handleAction`
 * (the app wires it to src/supervision/). An action for a call this instance owns runs here directly.
 *
 * Failures are ActionRoutingError with a code an HTTP route can map: `no-owner` (no live call by that
 * id: 404), `owner-unreachable` (the holder does not answer on NATS, e.g. it just died: 503),
 * `timeout` (no answer within timeoutMs: 504), `invalid` (a malformed request: 400), or the code a
 * handler threw as ActionRoutingError (e.g. `not-found`, `invalid`), `not-ready` (the owner has no
 * handler yet: 503); any other handler error is
 * `action-failed` (500). Replies carry only the code and message, never a stack.
 */
// The names, the request shape and the error an HTTP route maps. The NATS side is in nats/actions.ts,
// loaded only when NATS_URL is set (one instance never loads the NATS client).

export const CALL_ACTIONS = ['whisper', 'end', 'transfer', 'listen', 'http'] as const;
export type CallActionName = (typeof CALL_ACTIONS)[number];

export interface CallActionRequest {
  callId: string;
  action: CallActionName;
  /** Action-specific arguments (whisper text, transfer destination, the acting supervisor, ...). */
  args: Record<string, unknown>;
  /** The instance that routed it. */
  from: string;
}

export type ActionErrorCode =
  'no-owner' | 'owner-unreachable' | 'timeout' | 'invalid' | 'not-found' | 'action-failed' | (string & {});

export class ActionRoutingError extends Error {
  constructor(
    readonly code: ActionErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ActionRoutingError';
  }
}

export type CallActionHandler = (request: CallActionRequest) => Promise<unknown> | unknown;

/** A request as it must arrive from another instance (routed actions are parsed JSON). */
export function validRequest(value: unknown): value is CallActionRequest {
  const v = value as Partial<CallActionRequest> | null;
  return (
    !!v &&
    typeof v.callId === 'string' &&
    v.callId.length > 0 &&
    typeof v.from === 'string' &&
    (CALL_ACTIONS as readonly string[]).includes(v.action as string) &&
    !!v.args &&
    typeof v.args === 'object' &&
    !Array.isArray(v.args)
  );
}
