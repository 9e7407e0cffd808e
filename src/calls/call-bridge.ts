/**
 * CallBridge: the registry of live conversations, for every channel and engine. A webhook
 * `prepare`s a call's conversation (its engine is built from the profile's `engine` and starts
 * connecting at once); the channel that then starts is `attach`ed to it through one check, the same
 * for every channel: the call is known and live here, the start carries the call's unexpired
 * single-use token, the call has no channel yet (a replayed start is refused), and the provider's
 * call and account match. Sockets waiting for their start are bounded (`awaitStart`). Shutdown ends
 * every conversation cleanly.
 */
import type { Call } from '../generated/prisma/client';
import type { Config } from '../config';
import type { Logger } from '../logging/logger';
import type { CallManager } from './call-manager';
import type { EndReason } from './call-status';
import type { Metrics } from '../observability/metrics';
import type { AgentRuntime } from '../agent/tool-calls';
import { profileByName, type AgentProfile } from '../agent/profiles';
import { withAnnouncement, type CallConsent } from '../privacy/consent';
import { STREAM_TOKEN_PARAMETER, type StreamTokens } from './stream-token';
import { Conversation } from '../conversation/conversation';
import type { CallerChannel, ChannelStart } from '../conversation/channel';
import type { ConversationMode, EngineFactory } from '../conversation/engine';

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
  privacy?: { consentFor(callId: string, profile: string | null): CallConsent };
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
  | 'draining';

/** A refused start: the channel closes its socket with this code and reason. */
export interface AttachRefusal {
  refusal: StreamRefusal;
  closeCode: number;
  closeReason: string;
}

/** A socket waiting for its start: `settle` once it started or closed. */
export interface PendingStart {
  settle(): void;
}

export class CallBridge {
  private readonly conversations = new Map<string, Conversation>();
  readonly counters: BridgeCounters = { streamsAccepted: 0, streamsRejected: 0, protocolErrors: 0, callsBridged: 0 };
  /** streamsRejected by reason. */
  readonly streamRefusals: Partial<Record<StreamRefusal, number>> = {};
  /** protocolErrors by reason (at most 64 distinct reasons are kept). */
  readonly protocolErrorReasons: Record<string, number> = Object.create(null) as Record<string, number>;
  private draining = false;
  /** Sockets still waiting for their start, oldest first, with how to close each. */
  private readonly pendingStarts = new Map<object, (code: number, reason: string) => void>();

  constructor(private readonly deps: CallBridgeDeps) {}

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
        onClosed: (c) => this.conversations.delete(c.callId),
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
   * A channel started: it may only attach to a call a signed webhook prepared on this instance.
   * Anything else is refused before a single frame reaches the engine.
   */
  async attach(
    channel: CallerChannel,
    start: ChannelStart,
    onAccepted?: (callId: string) => void,
  ): Promise<AttachRefusal | undefined> {
    const callId = start.parameters.callId;
    const conversation = callId ? this.conversations.get(callId) : undefined;
    const refusal = this.draining ? 'draining' : this.checkStart(conversation, start);
    if (refusal) {
      this.refused(refusal);
      this.deps.logger.warn('refused a media stream start', { reason: refusal, callId: conversation?.callId });
      return {
        refusal,
        closeCode: refusal === 'draining' ? 1001 : 1008,
        closeReason: refusal === 'draining' ? 'server shutting down' : 'stream not authorised',
      };
    }
    this.counters.callsBridged++;
    onAccepted?.(conversation!.callId);
    await conversation!.attach(channel, start);
    return undefined;
  }

  private refused(refusal: StreamRefusal): void {
    this.counters.streamsRejected++;
    this.streamRefusals[refusal] = (this.streamRefusals[refusal] ?? 0) + 1;
  }

  private checkStart(conversation: Conversation | undefined, start: ChannelStart): StreamRefusal | undefined {
    if (!conversation || !conversation.active) return 'unknown-call';
    const check = this.deps.streamTokens.check(conversation.callId, start.parameters[STREAM_TOKEN_PARAMETER]);
    if (check !== 'ok') return `token-${check}`;
    if (!conversation.awaitingChannel) return 'replayed';
    const call = conversation.call;
    if (call.callSid && start.providerCallId !== call.callSid) return 'call-mismatch';
    if (call.accountSid && start.accountId && start.accountId !== call.accountSid) return 'call-mismatch';
    return undefined;
  }

  /** Ends one call (e.g. the provider reported it over); resolves when it is fully closed. */
  async end(callId: string, reason: EndReason): Promise<void> {
    await this.conversations.get(callId)?.close(reason);
  }

  /** Stops taking calls and ends every live call. */
  async closeAll(reason: EndReason = 'server-shutdown'): Promise<void> {
    this.draining = true;
    await Promise.all([...this.conversations.values()].map((c) => c.close(reason)));
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
