/**
 * Call admission, for every telephony channel: whether a new call is taken (capacity, draining),
 * which agent profile answers it (the dialled number), preparing its conversation (the engine starts
 * connecting at once), and the provider's status callbacks. Channel routes only translate their
 * webhooks into these calls and answer in their own markup; errors are ApiErrors (src/http/errors.ts).
 *
 * Capacity is checked twice: this instance's calls against MAX_CONCURRENT_CALLS (its own sockets
 * and CPU), then the CallCap (one instance: nothing more; with Redis, the cluster-wide cap of
 * src/cluster/redis/call-cap.ts), which holds a slot per admitted call until `callEnded`.
 *
 * A call counts against MAX_CONCURRENT_CALLS from the moment it passes the check, not only once its
 * conversation is in the bridge: its record is created in between (a round trip to the database),
 * and a flood of simultaneous webhooks would otherwise all pass the check before any of them got
 * there. The hold ends when the call is prepared or abandoned (or after HOLD_MS, should a channel's
 * route fail between the two).
 */
import type { Call } from '../generated/prisma/client';
import type { Config } from '../config';
import type { Logger } from '../logging/logger';
import type { CallManager } from './call-manager';
import type { CallBridge } from './call-bridge';
import { isCallStatus, isFinalStatus, type CallStatus } from './call-status';
import { profileForNumber, type AgentSettings } from '../agent/profiles';
import { ApiError } from '../http/errors';

export interface CallAdmissionDeps {
  config: Config;
  callManager: CallManager;
  bridge: CallBridge;
  logger: Logger;
  agentSettings: AgentSettings | undefined;
  counters: { callsRefused: number };
  /** The cluster-wide cap (default: none beyond this instance's own, i.e. one instance). */
  cap?: CallCap;
}

/**
 * Concurrent-call slots shared by the instances. A slot is named by the call's id, or provisionally
 * (`pending:<provider>:<provider call id>`) until the call's record exists. Implementations never
 * throw: when their store cannot answer they admit (the in-process cap still applies).
 */
export interface CallCap {
  /** Takes a slot (idempotent: a slot already held is kept). False when the cap is reached. */
  admit(slot: string): Promise<boolean>;
  /** The provisional slot `from` is now the call `to`'s. */
  rename(from: string, to: string): Promise<void>;
  /** Frees the slot (the call ended or was never created). */
  release(slot: string): Promise<void>;
}

/** How long an admitted call holds its place without being prepared or abandoned (a route that failed). */
export const HOLD_MS = 30_000;

/** One instance: no cap beyond MAX_CONCURRENT_CALLS of this process (today's behaviour). */
export const localCallCap: CallCap = {
  admit: () => Promise.resolve(true),
  rename: () => Promise.resolve(),
  release: () => Promise.resolve(),
};

/** A new call as a provider's voice webhook describes it (values already cut to size). */
export interface IncomingCall {
  /** The provider's id of the call (Twilio CallSid, Telnyx call_control_id). */
  providerCallId: string;
  accountId: string | null;
  from: string | null;
  to: string | null;
  direction: 'inbound' | 'outbound';
  /** The caller channel the webhook came from ('twilio', 'telnyx'). */
  provider: string;
  /** The provider's status, when it is one of ours and not final. */
  status: string | null;
  region: string | null;
  callerName: string | null;
}

/** `busy`: capacity or shutdown (answer "call again later"); `ended`: the call is already over. */
export type Admission = { admitted: true; call: Call } | { admitted: false; refusal: 'busy' | 'ended' };

export class CallAdmission {
  private readonly cap: CallCap;
  /** Calls past the check whose record is being created or read. */
  private admitting = 0;
  /** Admitted calls not yet in the bridge, with when their hold lapses. */
  private readonly held = new Map<string, number>();

  constructor(private readonly deps: CallAdmissionDeps) {
    this.cap = deps.cap ?? localCallCap;
  }

  private full(): boolean {
    if (this.deps.bridge.isDraining) return true;
    const now = Date.now();
    for (const [callId, until] of this.held) if (until <= now) this.held.delete(callId);
    return this.deps.bridge.size + this.admitting + this.held.size >= this.deps.config.maxConcurrentCalls;
  }

  /** The call is admitted: it holds its place until prepare() or abandon(). */
  private hold(call: Call): void {
    this.held.set(call.id, Date.now() + HOLD_MS);
  }

  private refuse(what: string, fields: Record<string, unknown>, reason?: string): Admission {
    this.deps.counters.callsRefused++;
    this.deps.logger.warn(what, {
      ...fields,
      reason: reason ?? (this.deps.bridge.isDraining ? 'shutting down' : 'concurrent call cap'),
      active: this.deps.bridge.size,
    });
    return { admitted: false, refusal: 'busy' };
  }

  /** A call ended (wherever it ran): its cluster-wide slot is free. */
  async callEnded(callId: string): Promise<void> {
    await this.cap.release(callId);
  }

  /** A provider's voice webhook announced a new call: create it with the profile of the dialled number. */
  async admitIncoming(incoming: IncomingCall): Promise<Admission> {
    if (this.full()) return this.refuse('call refused', { callSid: incoming.providerCallId });
    this.admitting++;
    try {
      const slot = `pending:${incoming.provider}:${incoming.providerCallId}`;
      if (!(await this.cap.admit(slot))) {
        return this.refuse('call refused', { callSid: incoming.providerCallId }, 'cluster concurrent call cap');
      }
      let call: Call;
      try {
        call = await this.create(incoming);
      } catch (err) {
        await this.cap.release(slot);
        throw err;
      }
      await this.cap.rename(slot, call.id);
      if (call.endedAt) {
        await this.cap.release(call.id);
        return { admitted: false, refusal: 'ended' };
      }
      this.hold(call);
      return { admitted: true, call };
    } finally {
      this.admitting--;
    }
  }

  private create(incoming: IncomingCall): Promise<Call> {
    const { agentSettings } = this.deps;
    const profile = agentSettings ? profileForNumber(agentSettings, incoming.to) : undefined;
    const status = incoming.status;
    return this.deps.callManager.createCall({
      callSid: incoming.providerCallId,
      accountSid: incoming.accountId,
      from: incoming.from,
      to: incoming.to,
      direction: incoming.direction,
      provider: incoming.provider,
      ...(profile ? { agent: profile.name } : {}),
      status: status && isCallStatus(status) && !isFinalStatus(status) ? status : 'ringing',
      metadata: {
        language: profile?.languageHint ?? null,
        region: incoming.region,
        custom: incoming.callerName ? { callerName: incoming.callerName } : undefined,
      },
    });
  }

  /** An outbound call we placed was answered: 404 unless it is ours and matches; busy when full. */
  async admitAnswered(callId: string, providerCallId: string, accountId: string | null): Promise<Admission> {
    const { callManager } = this.deps;
    const call = await callManager.findCall(callId);
    if (!call || call.direction !== 'outbound' || (call.callSid && call.callSid !== providerCallId)) {
      throw ApiError.notFound('outbound call');
    }
    const ended = Boolean(call.endedAt);
    const refused = (): Admission => {
      this.deps.counters.callsRefused++;
      this.deps.logger.warn('outbound call not bridged', {
        callId,
        ended,
        active: this.deps.bridge.size,
      });
      return { admitted: false, refusal: 'busy' };
    };
    if (ended || this.full()) return refused();
    this.admitting++;
    try {
      if (!(await this.cap.admit(call.id))) return refused();
      const answered =
        (await callManager.updateCall(call.id, {
          callSid: providerCallId,
          accountSid: accountId ?? call.accountSid,
          status: 'in-progress',
        })) ?? call;
      this.hold(answered);
      return { admitted: true, call: answered };
    } finally {
      this.admitting--;
    }
  }

  /**
   * Prepares the call's conversation (its engine connects now). False when it could not be: the
   * call is then ended at once rather than left "active", and the channel answers its apology.
   */
  async prepare(call: Call): Promise<boolean> {
    try {
      // The bridge holds the conversation from the first step of prepare(): the call's place passes to it.
      const prepared = this.deps.bridge.prepare(call);
      this.held.delete(call.id);
      await prepared;
      return true;
    } catch (err) {
      this.deps.logger.error('could not bridge the call', { callId: call.id, error: (err as Error).message });
      await this.abandon(call);
      return false;
    }
  }

  /** Ends a call that could not be answered (its conversation, if any, and its record). */
  async abandon(call: Call): Promise<void> {
    this.held.delete(call.id);
    const { bridge, callManager } = this.deps;
    await bridge.end(call.id, 'error');
    if (!bridge.get(call.id)) await callManager.endCall(call.id, { reason: 'error', status: 'failed' });
  }

  /**
   * A provider's status callback. An outbound call's first callbacks can arrive before its provider
   * id is stored: `callId` (from the callback URL) names it then. A final status while the call's
   * conversation still runs ends that first, so its recording and analytics are kept.
   */
  async applyStatus(
    providerCallId: string,
    status: CallStatus,
    durationSec: number | undefined,
    callId: string | null,
  ): Promise<void> {
    const { callManager, bridge } = this.deps;
    let id = await callManager.callIdBySid(providerCallId);
    if (!id && callId) {
      const placed = await callManager.findCall(callId);
      if (placed && placed.direction === 'outbound' && !placed.callSid) {
        id = (await callManager.updateCall(placed.id, { callSid: providerCallId }))?.id ?? null;
      }
    }
    if (!id) throw ApiError.notFound('call');
    // Here or, in a cluster, on the instance holding its stream (the bridge routes it there).
    if (isFinalStatus(status)) await bridge.end(id, 'caller-hangup');
    await callManager.applyTwilioStatus(providerCallId, status, durationSec);
  }
}
