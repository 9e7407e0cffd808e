/**
 * CallBridge: the registry of live CallSessions. The Twilio webhook `prepare`s a session (its AI
 * session starts connecting at once); the /streams socket is then `attach`ed to it by the callId
 * carried in the stream's custom parameters. Shutdown ends every session cleanly.
 */
import type { WebSocket } from 'ws';
import type { Call } from '../generated/prisma/client';
import type { Config } from '../config';
import type { Logger } from '../logging/logger';
import type { CallManager } from './call-manager';
import type { EndReason } from './call-status';
import { CallSession, type CallSessionDeps } from './call-session';
import { TwilioMediaStream } from '../channels/twilio/media-stream';
import type { AgentRuntime, StreamEndAction } from '../agent/tool-calls';
import { profileByName, type AgentProfile } from '../agent/profiles';
import { STREAM_TOKEN_PARAMETER, type StreamTokens } from './stream-token';

/**
 * A socket that has not sent `start` after this long is closed. Twilio sends `connected` and `start`
 * at once; the handshake's signature never expires, so an idle socket is all a replayed header buys.
 */
const START_TIMEOUT_MS = 3_000;
/**
 * At most this many sockets may wait for their `start` at once; one more closes the oldest waiting
 * one. A captured handshake header can therefore never fill the server with idle sockets: a real
 * stream sends its start within milliseconds and is never the oldest for long.
 */
export const MAX_PENDING_STARTS = 64;
/** How long the answer for Twilio's <Connect action> request is kept after our side ended a stream. */
const STREAM_ENDING_TTL_MS = 120_000;

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
  realtimeUrl: string;
  metrics?: CallSessionDeps['metrics'];
  /** Skills, profiles and services of the agent (tools, profile per call). */
  agent?: AgentRuntime;
  /** Checks the single-use token a stream's start must carry (issued by the webhook that prepared the call). */
  streamTokens: StreamTokens;
}

/** Why a stream's start was refused (counted in `streamsRejected`, logged with the reason). */
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

export class CallBridge {
  private readonly sessions = new Map<string, CallSession>();
  readonly counters: BridgeCounters = { streamsAccepted: 0, streamsRejected: 0, protocolErrors: 0, callsBridged: 0 };
  /** streamsRejected by reason. */
  readonly streamRefusals: Partial<Record<StreamRefusal, number>> = {};
  /** protocolErrors by reason (at most 64 distinct reasons are kept). */
  readonly protocolErrorReasons: Record<string, number> = Object.create(null) as Record<string, number>;
  private draining = false;
  /** Accepted sockets still waiting for their `start`, oldest first. */
  private readonly pendingStarts = new Set<TwilioMediaStream>();
  /** Why our side ended a call's stream (hang-up, transfer): what <Connect action> answers Twilio. */
  private readonly streamEndings = new Map<string, StreamEndAction>();

  constructor(private readonly deps: CallBridgeDeps) {}

  /** The agent profile a call runs with (its `agent` field, else the default profile). */
  profileOf(agentName: string | null | undefined): AgentProfile | undefined {
    return this.deps.agent ? profileByName(this.deps.agent.settings, agentName) : undefined;
  }

  /** What Twilio should do now that the call's stream ended (once; undefined when our side did not end it on purpose). */
  takeStreamEnding(callId: string): StreamEndAction | undefined {
    const action = this.streamEndings.get(callId);
    this.streamEndings.delete(callId);
    return action;
  }

  get size(): number {
    return this.sessions.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  get(callId: string): CallSession | undefined {
    return this.sessions.get(callId);
  }

  all(): CallSession[] {
    return [...this.sessions.values()];
  }

  /** Creates the session of a new call and starts its AI connection. */
  async prepare(call: Call): Promise<CallSession> {
    const existing = this.sessions.get(call.id);
    if (existing) return existing;
    const session = new CallSession(
      {
        config: this.deps.config,
        callManager: this.deps.callManager,
        logger: this.deps.logger,
        recordingsDir: this.deps.recordingsDir,
        realtimeUrl: this.deps.realtimeUrl,
        metrics: this.deps.metrics,
        agent: this.deps.agent,
        onStreamEnding: (callId, action) => {
          this.streamEndings.set(callId, action);
          setTimeout(() => this.streamEndings.delete(callId), STREAM_ENDING_TTL_MS).unref();
        },
        onClosed: (s) => this.sessions.delete(s.callId),
      },
      call,
    );
    this.sessions.set(call.id, session);
    await session.start();
    return session;
  }

  /** A Twilio Media Streams socket was accepted (its signature already checked at the upgrade). */
  attach(ws: WebSocket): void {
    this.counters.streamsAccepted++;
    const stream = new TwilioMediaStream(ws, { logger: this.deps.logger });
    if (this.pendingStarts.size >= MAX_PENDING_STARTS) {
      const oldest = this.pendingStarts.values().next().value!;
      this.pendingStarts.delete(oldest);
      this.counters.streamsRejected++;
      this.streamRefusals['no-start'] = (this.streamRefusals['no-start'] ?? 0) + 1;
      oldest.close(1008, 'no start message');
    }
    this.pendingStarts.add(stream);
    stream.on('protocol-error', ({ reason }) => {
      this.counters.protocolErrors++;
      // By reason, for /metrics and tests; the set of reasons is bounded.
      if (reason in this.protocolErrorReasons || Object.keys(this.protocolErrorReasons).length < 64) {
        this.protocolErrorReasons[reason] = (this.protocolErrorReasons[reason] ?? 0) + 1;
      }
    });
    const timer = setTimeout(() => {
      this.pendingStarts.delete(stream);
      this.counters.streamsRejected++;
      this.streamRefusals['no-start'] = (this.streamRefusals['no-start'] ?? 0) + 1;
      this.deps.logger.warn('media stream sent no start message; closing it');
      stream.close(1008, 'no start message');
    }, START_TIMEOUT_MS);
    timer.unref();
    stream.once('close', () => {
      clearTimeout(timer);
      this.pendingStarts.delete(stream);
    });
    stream.once('start', (start) => {
      clearTimeout(timer);
      this.pendingStarts.delete(stream);
      void this.onStart(stream, start).catch((err: unknown) => {
        this.deps.logger.error('could not bridge the media stream', {
          callSid: start.callSid,
          error: (err as Error).message,
        });
        stream.close(1011, 'internal error');
      });
    });
  }

  /**
   * A stream may only attach to a call that a signed webhook prepared on this instance: its start must
   * name the call, carry the call's unexpired token, and match the call's CallSid and AccountSid. A
   * call accepts one stream (CallSession refuses a second), so a replayed start is refused too.
   * Anything else is closed before a single frame reaches the AI.
   */
  private async onStart(stream: TwilioMediaStream, start: Parameters<CallSession['attachStream']>[1]): Promise<void> {
    const callId = start.customParameters.callId;
    const session = callId ? this.sessions.get(callId) : undefined;
    const refusal = this.draining ? 'draining' : this.checkStart(session, start);
    if (refusal) {
      this.counters.streamsRejected++;
      this.streamRefusals[refusal] = (this.streamRefusals[refusal] ?? 0) + 1;
      this.deps.logger.warn('refused a media stream start', { reason: refusal, callId: session?.callId });
      stream.close(
        refusal === 'draining' ? 1001 : 1008,
        refusal === 'draining' ? 'server shutting down' : 'stream not authorised',
      );
      return;
    }
    const prepared = session!;
    stream.setLogger(this.deps.logger.child({ callId: prepared.callId }));
    this.counters.callsBridged++;
    await prepared.attachStream(stream, start);
  }

  private checkStart(
    session: CallSession | undefined,
    start: Parameters<CallSession['attachStream']>[1],
  ): StreamRefusal | undefined {
    if (!session || !session.active) return 'unknown-call';
    const check = this.deps.streamTokens.check(session.callId, start.customParameters[STREAM_TOKEN_PARAMETER]);
    if (check !== 'ok') return `token-${check}`;
    if (!session.awaitingStream) return 'replayed';
    const call = session.call;
    if (call.callSid && start.callSid !== call.callSid) return 'call-mismatch';
    if (call.accountSid && start.accountSid && start.accountSid !== call.accountSid) return 'call-mismatch';
    return undefined;
  }

  /** Ends one call (e.g. Twilio reported it over); resolves when it is fully closed. */
  async end(callId: string, reason: EndReason): Promise<void> {
    await this.sessions.get(callId)?.close(reason);
  }

  /** Stops taking calls and ends every live call. */
  async closeAll(reason: EndReason = 'server-shutdown'): Promise<void> {
    this.draining = true;
    await Promise.all([...this.sessions.values()].map((s) => s.close(reason)));
  }

  /**
   * Graceful shutdown: stops taking new calls at once (the webhook answers the busy TwiML), lets the
   * live calls go on for up to `graceMs`, then ends the ones still running (recordings finalized,
   * transcripts flushed). Resolves with how many calls had to be cut.
   */
  async drain(graceMs: number, reason: EndReason = 'server-shutdown'): Promise<number> {
    this.draining = true;
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, deadline - Date.now()))));
    }
    const cut = this.sessions.size;
    await this.closeAll(reason);
    return cut;
  }
}
