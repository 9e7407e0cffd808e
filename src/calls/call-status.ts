/**
 * Call statuses: Twilio's CallStatus values plus the bridge's own. Statuses only move forward; a
 * final status is never overwritten (Twilio's callbacks can repeat and arrive out of order).
 */
export const TWILIO_CALL_STATUSES = [
  'queued',
  'initiated',
  'ringing',
  'in-progress',
  'completed',
  'busy',
  'failed',
  'no-answer',
  'canceled',
] as const;
export type TwilioCallStatus = (typeof TWILIO_CALL_STATUSES)[number];

/** streaming: media bridged to the AI; reconnecting: AI session being re-made; interrupted: left open by a crash. */
export const BRIDGE_CALL_STATUSES = ['streaming', 'reconnecting', 'interrupted'] as const;
export type BridgeCallStatus = (typeof BRIDGE_CALL_STATUSES)[number];

export type CallStatus = TwilioCallStatus | BridgeCallStatus;
export const CALL_STATUSES: readonly CallStatus[] = [...TWILIO_CALL_STATUSES, ...BRIDGE_CALL_STATUSES];

export const FINAL_STATUSES: ReadonlySet<CallStatus> = new Set<CallStatus>([
  'completed',
  'busy',
  'failed',
  'no-answer',
  'canceled',
  'interrupted',
]);

const RANK: Record<CallStatus, number> = {
  queued: 0,
  initiated: 0,
  ringing: 1,
  'in-progress': 2,
  streaming: 3,
  reconnecting: 3,
  completed: 9,
  busy: 9,
  failed: 9,
  'no-answer': 9,
  canceled: 9,
  interrupted: 9,
};

export function isCallStatus(value: unknown): value is CallStatus {
  return typeof value === 'string' && (CALL_STATUSES as readonly string[]).includes(value);
}

export function isFinalStatus(status: string): boolean {
  return FINAL_STATUSES.has(status as CallStatus);
}

/** Whether a call in `current` may move to `next`: never out of a final status, never backwards. */
export function canTransition(current: string, next: CallStatus): boolean {
  if (current === next) return false;
  if (isFinalStatus(current)) return false;
  const from = RANK[current as CallStatus] ?? 0;
  return RANK[next] >= from;
}

/** Why a call ended (Call.endReason). */
export type EndReason =
  | 'caller-hangup'
  | 'stream-stopped'
  /** The channel's socket or peer went away without a hang-up (`twilio-socket-closed`, ...). */
  | `${string}-socket-closed`
  | 'agent-hangup'
  | 'transferred'
  | 'ai-unavailable'
  /** The webhook prepared the call but its media stream never started (see STREAM_TOKEN_TTL_MS). */
  | 'stream-timeout'
  | 'server-shutdown'
  | 'interrupted'
  /** Its instance died; another one closed it (src/cluster/failover.ts). */
  | 'instance-lost'
  | 'error'
  | TwilioCallStatus;
