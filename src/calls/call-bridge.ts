/**
 * CallBridge: the registry of live conversations, for every channel and engine. A webhook
 * `prepare`s a call's conversation (its engine is built from the profile's `engine` and starts
 * connecting at once); the channel that then starts is `attach`ed to it through one check, the same
 * for every channel: the call is known and live here, the start carries the call's unexpired
 * single-use token, the call has no channel yet (a replayed start is refused), and the provider's
 * call and account match. Sockets waiting for their start are bounded (`awaitStart`). Shutdown ends
 * every conversation cleanly.
 *
 * Several instances (issue 16, docs/scaling.md): the instance holding a call's stream owns it
 * (CallOwnership, src/cluster/ownership.ts). A start for a call this instance prepared claims it
 * there (the early greeting is kept); a start for a call prepared elsewhere checks the token, loads
 * the call from the shared database, claims it and prepares its conversation here. The instance that
 * prepared it hears of the claim (`onClaimedElsewhere`) and lets its conversation go without ending
 * the call (src/calls/call-handoff.ts). The owner releases the lease when the call ends; `end` of a
 * call owned elsewhere is handed to the owner through `endOnOwner` (wired by the cluster).
 */
import type { Call } from '../generated/prisma/client';
import type { Config } from '../config';
import type { Logger } from '../logging/logger';
import type { CallManager } from './call-manager';
import { isFinalStatus, type EndReason } from './call-status';
import type { Metrics } from '../observability/metrics';
import type { AgentRuntime } from '../agent/tool-calls';
import { profileByName, type AgentProfile } from '../agent/profiles';
import { withAnnouncement, type CallConsent } from '../privacy/consent';
import { STREAM_TOKEN_PARAMETER, type StreamTokens } from './stream-token';
import { Conversation } from '../conversation/conversation';
import type { CallerChannel, ChannelStart } from '../conversation/channel';
import type { ConversationMode, EngineFactory } from '../conversation/engine';
import { LocalOwnership, type CallOwnership } from '../cluster/ownership';
import { adoptCall, dropPrepared, forgetCall, holdEarlyEvents, type EarlyEvents } from './call-handoff';

/**
 * A socket that has not sent its start after this long is closed. A real stream sends it at once; a
 * handshake's signature never expires, so an idle socket is all a replayed header buys.
 */
const START_TIMEOUT_MS = 3_000;
/**
 * At most this many sockets may wait for their start at once; one more closes the oldest waiting
 * one. A captured handshake header can therefore never fill the server with idle sockets.
 */
export const MAX_PENDING_STARTS = 64;

export interface BridgeCounters {
  streamsAccepted: number;
  streamsRejected: number;
  protocolErrors: number;
  callsBridged: number;
  /** Streams of calls another instance prepared, bridged here (their conversation prepared at the start). */
  callsTakenOver: number;
  /** Calls prepared here whose stream another instance claimed: their conversation was let go of. */
  callsHandedOff: number;
}

export interface CallBridgeDeps {
  config: Config;
  callManager: CallManager;
  logger: Logger;
  recordingsDir: string;
  /** Endpoint overrides by engine kind (e.g. `realtime`: the local Realtime server's URL). */
  endpoints: Readonly<Record<string, string | undefined>>;
  /** Engine kinds whose usage costs nothing (answered by the in-process local AI server): priced at 0. */
  freeEngines?: readonly string[];
  /** The engine registry (src/engines/index.ts). */
  engineFactory(name: string): EngineFactory | undefined;
  metrics?: Metrics;
  /** Skills, profiles and services of the agent (tools, profile per call). */
  agent: AgentRuntime;
  /** Checks the single-use token a channel's start must carry (issued by the webhook that prepared the call). */
  streamTokens: StreamTokens;
  /** Recording consent and keypad privacy per call (src/privacy/call-privacy.ts). */
  privacy?: { consentFor(callId: string, profile: string | null): CallConsent; ended?(callId: string): void };
  /**
   * Which instance owns each live call (default: this process only, LocalOwnership). The owner is the
   * instance holding the call's stream.
   */
  ownership?: CallOwnership;
  /**
   * Ends a call on the instance that owns it (a cluster request, e.g. src/cluster/actions*.ts), for
   * `end` of a call whose stream is elsewhere (a provider's final status landing here). Resolves once
   * the owner has ended it. Without it such an `end` does nothing here.
   */
  endOnOwner?(owner: string, callId: string, reason: EndReason): Promise<void>;
  /** The profile a call actually runs with (e.g. an outbound call's templates filled, src/campaigns/). */
  personalise?(callId: string, profile: AgentProfile): AgentProfile;
}

/** Why a channel's start was refused (counted in `streamsRejected`, logged with the reason). */
export type StreamRefusal =
  | 'no-start'
  | 'unknown-call'
  | 'replayed'
  | 'token-missing'
  | 'token-malformed'
  | 'token-expired'
  | 'token-forged'
  | 'call-mismatch'
  | 'draining'
  /** The call is over (a start for it after its end, e.g. a replay). */
  | 'call-ended'
  /** Another live instance holds the call (its stream started there). */
  | 'claimed-elsewhere'
  /** The call could not be prepared here (its engine is unavailable). */
  | 'prepare-failed';

/** A refused start: the channel closes its socket with this code and reason. */
export interface AttachRefusal {
  refusal: StreamRefusal;
  closeCode: number;
  closeReason: string;
}

/** How a refused start's socket is closed, when not 1008 "stream not authorised". */
const CLOSE_FOR: Partial<Record<StreamRefusal, [number, string]>> = {
  draining: [1001, 'server shutting down'],
  'prepare-failed': [1011, 'agent unavailable'],
  'claimed-elsewhere': [1008, 'call streams elsewhere'],
};

/** A socket waiting for its start: `settle` once it started or closed. */
export interface PendingStart {
  settle(): void;
}

export class CallBridge {
  private readonly conversations = new Map<string, Conversation>();
  readonly counters: BridgeCounters = {
    streamsAccepted: 0,
    streamsRejected: 0,
    protocolErrors: 0,
    callsBridged: 0,
    callsTakenOver: 0,
    callsHandedOff: 0,
  };
  /** streamsRejected by reason. */
  readonly streamRefusals: Partial<Record<StreamRefusal, number>> = {};
  /** protocolErrors by reason (at most 64 distinct reasons are kept). */
  readonly protocolErrorReasons: Record<string, number> = Object.create(null) as Record<string, number>;
  private draining = false;
  /** Sockets still waiting for their start, oldest first, with how to close each. */
  private readonly pendingStarts = new Map<object, (code: number, reason: string) => void>();
  /** Calls whose start is being checked (claim, database): a second start meanwhile is a replay. */
  private readonly starting = new Set<string>();
  readonly ownership: CallOwnership;
  private readonly stopListening: () => void;

  constructor(private readonly deps: CallBridgeDeps) {
    this.ownership = deps.ownership ?? new LocalOwnership('local');
    this.stopListening = this.ownership.onClaimedElsewhere((callId, owner) => this.handOff(callId, owner));
  }

  /** The agent profile a call runs with (its `agent` field, else the default profile). */
  profileOf(agentName: string | null | undefined): AgentProfile {
    return profileByName(this.deps.agent.settings, agentName);
  }

  get size(): number {
    return this.conversations.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  get(callId: string): Conversation | undefined {
    return this.conversations.get(callId);
  }

  all(): Conversation[] {
    return [...this.conversations.values()];
  }

  /**
   * Creates the conversation of a new call with its profile's engine, and starts the engine.
   * `languageHint`: the conversation's language when the client named one (else the profile's).
   */
  async prepare(
    call: Call,
    mode: ConversationMode = 'voice',
    opts: { languageHint?: string | null } = {},
  ): Promise<Conversation> {
    const existing = this.conversations.get(call.id);
    if (existing) return existing;
    const base = this.profileOf(call.agent);
    const own = this.deps.personalise ? this.deps.personalise(call.id, base) : base;
    const profile = opts.languageHint ? { ...own, languageHint: opts.languageHint } : own;
    const engineFactory = this.deps.engineFactory(profile.engine);
    if (!engineFactory) throw new Error(`agent engine "${profile.engine}" is not available in this build`);
    // Recording consent, keypad privacy and the recording announcement (src/privacy/consent.ts).
    const consent = this.deps.privacy?.consentFor(call.id, call.agent);
    const conversation = new Conversation(
      {
        config: this.deps.config,
        callManager: this.deps.callManager,
        logger: this.deps.logger,
        recordingsDir: this.deps.recordingsDir,
        profile: consent ? withAnnouncement(profile, consent.policy) : profile,
        agent: this.deps.agent,
        engineFactory,
        endpoints: this.deps.endpoints,
        freeEngines: this.deps.freeEngines,
        mode,
        metrics: this.deps.metrics,
        consent,
        onClosed: (c) => this.closed(c),
      },
      call,
    );
    this.conversations.set(call.id, conversation);
    await conversation.start();
    return conversation;
  }

  /**
   * A channel's socket was accepted and waits for its start. Beyond MAX_PENDING_STARTS the oldest
   * waiting one is closed; one that sends no start within START_TIMEOUT_MS is closed.
   */
  awaitStart(close: (code: number, reason: string) => void): PendingStart {
    this.counters.streamsAccepted++;
    const key = {};
    if (this.pendingStarts.size >= MAX_PENDING_STARTS) {
      const [oldestKey, closeOldest] = this.pendingStarts.entries().next().value!;
      this.pendingStarts.delete(oldestKey);
      this.refused('no-start');
      closeOldest(1008, 'no start message');
    }
    this.pendingStarts.set(key, close);
    const timer = setTimeout(() => {
      if (!this.pendingStarts.delete(key)) return;
      this.refused('no-start');
      this.deps.logger.warn('media stream sent no start message; closing it');
      close(1008, 'no start message');
    }, START_TIMEOUT_MS);
    timer.unref();
    return {
      settle: () => {
        clearTimeout(timer);
        this.pendingStarts.delete(key);
      },
    };
  }

  /** A channel reported a malformed or unexpected message (counted by reason; the set is bounded). */
  countProtocolError(reason: string): void {
    this.counters.protocolErrors++;
    if (reason in this.protocolErrorReasons || Object.keys(this.protocolErrorReasons).length < 64) {
      this.protocolErrorReasons[reason] = (this.protocolErrorReasons[reason] ?? 0) + 1;
    }
  }

  /**
   * A channel started: it may only attach to a call a signed webhook prepared, on this instance or
   * (through the shared database and the ownership leases) on another one. Anything else is refused
   * before a single frame reaches an engine.
   */
  async attach(
    channel: CallerChannel,
    start: ChannelStart,
    onAccepted?: (callId: string) => void,
  ): Promise<AttachRefusal | undefined> {
    const callId = start.parameters.callId;
    let refusal: StreamRefusal | undefined;
    let conversation: Conversation | undefined;
    let early: EarlyEvents | undefined;
    if (this.draining) refusal = 'draining';
    else if (!callId) refusal = 'unknown-call';
    else if (this.starting.has(callId)) refusal = 'replayed';
    else {
      this.starting.add(callId);
      early = holdEarlyEvents(channel);
      try {
        const local = this.conversations.get(callId);
        const outcome = local ? await this.claimLocal(local, start) : await this.takeOver(callId, start);
        if (typeof outcome === 'string') refusal = outcome;
        else conversation = outcome;
      } finally {
        this.starting.delete(callId);
        early.stop();
      }
    }
    if (refusal || !conversation) {
      const why = refusal ?? 'unknown-call';
      this.refused(why);
      this.deps.logger.warn('refused a media stream start', { reason: why, callId: conversation?.callId ?? callId });
      const [closeCode, closeReason] = CLOSE_FOR[why] ?? [1008, 'stream not authorised'];
      return { refusal: why, closeCode, closeReason };
    }
    this.counters.callsBridged++;
    onAccepted?.(conversation.callId);
    // attach() listens to the channel at once; what the caller sent (or a hang-up) while the start was
    // being checked is handed on right after.
    const attached = conversation.attach(channel, start);
    early?.replay();
    await attached;
    return undefined;
  }

  private refused(refusal: StreamRefusal): void {
    this.counters.streamsRejected++;
    this.streamRefusals[refusal] = (this.streamRefusals[refusal] ?? 0) + 1;
  }

  /** The start of a call prepared here: checked, its token consumed, the call claimed for this instance. */
  private async claimLocal(conversation: Conversation, start: ChannelStart): Promise<Conversation | StreamRefusal> {
    const refusal = this.checkStart(conversation, start);
    if (refusal) return refusal;
    const used = await this.consumeToken(conversation.callId, start);
    if (used) return used;
    if (!(await this.ownership.claim(conversation.callId))) return 'claimed-elsewhere';
    // Meanwhile the call may have ended here, or been handed to another instance.
    if (this.conversations.get(conversation.callId) !== conversation || !conversation.awaitingChannel) {
      return 'replayed';
    }
    return conversation;
  }

  private checkStart(conversation: Conversation | undefined, start: ChannelStart): StreamRefusal | undefined {
    if (!conversation || !conversation.active) return 'unknown-call';
    const check = this.deps.streamTokens.check(conversation.callId, start.parameters[STREAM_TOKEN_PARAMETER]);
    if (check !== 'ok') return `token-${check}`;
    if (!conversation.awaitingChannel) return 'replayed';
    return this.mismatch(conversation.call, start);
  }

  private mismatch(call: Call, start: ChannelStart): StreamRefusal | undefined {
    if (call.callSid && start.providerCallId !== call.callSid) return 'call-mismatch';
    if (call.accountSid && start.accountId && start.accountId !== call.accountSid) return 'call-mismatch';
    return undefined;
  }

  /**
   * Marks the start's token used, cluster-wide when the token store is shared (StreamTokens.consume);
   * a token already used is a replay. Without `consume` (older StreamTokens) the check alone stands.
   */
  private async consumeToken(callId: string, start: ChannelStart): Promise<StreamRefusal | undefined> {
    const tokens = this.deps.streamTokens as unknown as {
      consume?(callId: string, token: string | undefined): Promise<string>;
    };
    if (typeof tokens.consume !== 'function') return undefined;
    const result = await tokens.consume(callId, start.parameters[STREAM_TOKEN_PARAMETER]);
    if (result === 'ok') return undefined;
    return result === 'used' ? 'replayed' : (`token-${result}` as StreamRefusal);
  }

  /**
   * The start of a call this instance did not prepare (its webhook landed on another instance): the
   * token checked before anything is read, the call loaded from the database, refused when it is
   * over or another live instance holds it, else claimed, prepared here and handed to the channel.
   */
  private async takeOver(callId: string, start: ChannelStart): Promise<Conversation | StreamRefusal> {
    // A start without this call's valid token never causes a database read: to us the call is unknown.
    if (this.deps.streamTokens.check(callId, start.parameters[STREAM_TOKEN_PARAMETER]) !== 'ok') return 'unknown-call';
    const { callManager, logger } = this.deps;
    const call = await callManager.findCall(callId);
    if (!call) return 'unknown-call';
    if (call.endedAt || isFinalStatus(call.status)) return 'call-ended';
    const mismatch = this.mismatch(call, start);
    if (mismatch) return mismatch;
    const used = await this.consumeToken(callId, start);
    if (used) return used;
    if (!(await this.ownership.claim(callId))) return 'claimed-elsewhere';
    if (this.draining) {
      await this.ownership.release(callId);
      return 'draining';
    }
    adoptCall(callManager, call);
    logger.info('taking over a call prepared on another instance', { callId, instanceId: this.ownership.instanceId });
    try {
      const conversation = await this.prepare(call);
      this.counters.callsTakenOver++;
      return conversation;
    } catch (err) {
      logger.error('could not prepare a call taken over from another instance', {
        callId,
        error: (err as Error).message,
      });
      await this.end(callId, 'error');
      if (!this.conversations.get(callId)) {
        await callManager.endCall(callId, { reason: 'error', status: 'failed' }).catch((e: Error) => {
          logger.error('could not end the call record', { callId, error: e.message });
        });
        await this.ownership.release(callId);
      }
      return 'prepare-failed';
    }
  }

  /**
   * Another instance claimed a call (its stream started there): the conversation prepared here, if
   * it still waits for its channel, is let go of without ending the call. A call streaming here is
   * left alone (that claim can only follow a lost lease: the cluster's failover decides).
   */
  private handOff(callId: string, owner: string): void {
    const conversation = this.conversations.get(callId);
    if (!conversation) return;
    if (!dropPrepared(conversation)) {
      this.deps.logger.warn('another instance claimed a call that streams here', { callId, owner });
      return;
    }
    this.conversations.delete(callId);
    forgetCall(this.deps.callManager, callId);
    this.deps.privacy?.ended?.(callId);
    this.counters.callsHandedOff++;
    this.deps.logger.info('call claimed by another instance; its prepared conversation is let go of here', {
      callId,
      owner,
    });
  }

  /** A conversation closed: forgotten, and its lease (if this instance holds it) released. */
  private closed(conversation: Conversation): void {
    if (this.conversations.get(conversation.callId) === conversation) this.conversations.delete(conversation.callId);
    this.ownership.release(conversation.callId).catch((err: Error) => {
      this.deps.logger.warn('could not release the call lease', { callId: conversation.callId, error: err.message });
    });
  }

  /**
   * Ends one call (e.g. the provider reported it over); resolves when it is fully closed. A call
   * streaming on another instance is ended there (`endOnOwner`), so its recording and analytics are
   * kept exactly as when it streams here.
   */
  async end(callId: string, reason: EndReason): Promise<void> {
    const conversation = this.conversations.get(callId);
    if (conversation) {
      await conversation.close(reason);
      return;
    }
    if (!this.deps.endOnOwner) return;
    const owner = await this.ownership.ownerOf(callId);
    if (!owner || owner === this.ownership.instanceId) return;
    try {
      await this.deps.endOnOwner(owner, callId, reason);
    } catch (err) {
      this.deps.logger.warn('could not end the call on the instance that owns it', {
        callId,
        owner,
        error: (err as Error).message,
      });
    }
  }

  /** Stops taking calls and ends every live call. */
  async closeAll(reason: EndReason = 'server-shutdown'): Promise<void> {
    this.draining = true;
    await Promise.all([...this.conversations.values()].map((c) => c.close(reason)));
    this.stopListening();
  }

  /**
   * Graceful shutdown: stops taking new calls at once, lets the live calls go on for up to
   * `graceMs`, then ends the ones still running (recordings finalized, transcripts flushed).
   * Resolves with how many calls had to be cut.
   */
  async drain(graceMs: number, reason: EndReason = 'server-shutdown'): Promise<number> {
    this.draining = true;
    const deadline = Date.now() + graceMs;
    while (this.conversations.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, deadline - Date.now()))));
    }
    const cut = this.conversations.size;
    await this.closeAll(reason);
    return cut;
  }
}
