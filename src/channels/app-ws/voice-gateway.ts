/**
 * The voice-gateway protocol on one socket: `init` starts a voice conversation (PCM16 16 kHz both
 * ways), `audio` streams the caller, `text` sends a typed message; the agent's audio comes back as
 * `audio_out` chunks (acknowledged at real-time pace), both sides' words as `transcript` lines, and a
 * barge-in as `clear`. Closing the socket ends the conversation.
 */
import { performance } from 'node:perf_hooks';
import type { WebSocket } from 'ws';
import { PCM16_16K } from '../../conversation/audio-format';
import { ApiError } from '../../http/errors';
import type { Logger } from '../../logging/logger';
import { AppWsChannel } from './app-ws-channel';
import { gateway, parseGatewayMessage, ProtocolError } from './protocol';
import { SocketSession, type SocketTiming } from './socket-session';
import type { AppWsCounters, ConversationStarter } from './types';

/** A socket that has not sent `init` by then is closed. */
export const INIT_TIMEOUT_MS = 10_000;

export interface GatewaySessionOptions {
  start: ConversationStarter;
  /** Fixed by a session token; otherwise the default profile. */
  profile?: string;
  languageHint?: string;
  auth: string;
  timing?: SocketTiming;
}

export class VoiceGatewaySession extends SocketSession {
  private state: 'waiting' | 'starting' | 'live' = 'waiting';
  private clientCallId = '';
  private channel?: AppWsChannel;
  /** What the conversation sent before `ready` went out (a greeting played on attach): sent after it. */
  private early: { message: string; droppable: boolean }[] | undefined = [];
  private readonly initTimer: NodeJS.Timeout;

  constructor(
    ws: WebSocket,
    log: Logger,
    counters: AppWsCounters,
    private readonly opts: GatewaySessionOptions,
  ) {
    super(ws, log, counters, gateway.error, opts.timing);
    this.initTimer = setTimeout(() => {
      this.fail('init_timeout', `send init within ${INIT_TIMEOUT_MS / 1000} s`);
      this.close(1008, 'no init');
    }, INIT_TIMEOUT_MS);
  }

  protected onMessage(data: Buffer): void {
    const receivedAt = performance.now();
    const message = parseGatewayMessage(data);
    if (message.type === 'ping') {
      this.send(gateway.pong());
      return;
    }
    if (message.type === 'init') {
      if (this.state !== 'waiting')
        throw new ProtocolError('already_initialized', 'init was already sent on this socket');
      this.begin(message.callId, message.languageHint);
      return;
    }
    if (this.state === 'waiting') throw new ProtocolError('not_initialized', 'send init first');
    if (message.callId !== this.clientCallId) {
      throw new ProtocolError('call_mismatch', 'callId differs from the one given in init');
    }
    if (this.state === 'starting' || !this.channel) {
      throw new ProtocolError('not_ready', 'wait for ready before sending audio or text');
    }
    if (message.type === 'audio') this.channel.pushCallerAudio(message.chunk, receivedAt);
    else this.channel.pushCallerText(message.text);
  }

  /** Sends now, or after `ready` while the conversation is still starting. */
  private deliver(message: string, droppable = false): void {
    if (this.early) this.early.push({ message, droppable });
    else this.send(message, droppable);
  }

  protected onClose(): void {
    clearTimeout(this.initTimer);
    this.channel?.callerGone();
  }

  private begin(clientCallId: string, languageHint: string): void {
    clearTimeout(this.initTimer);
    this.state = 'starting';
    this.clientCallId = clientCallId;
    const channel = new AppWsChannel({
      provider: 'app-ws',
      format: PCM16_16K,
      acks: 'realtime',
      sink: {
        audio: (chunk) => this.deliver(gateway.audioOut(chunk), true),
        clear: () => {
          // Audio not yet delivered is dropped here, like the client drops what it has not played.
          if (this.early) this.early = this.early.filter((m) => !m.droppable);
          this.deliver(gateway.clear());
        },
        text: (text, role) => this.deliver(gateway.transcript(role === 'agent' ? 'assistant' : 'caller', text)),
        end: (reason) => this.close(1000, reason.slice(0, 100)),
      },
    });
    this.channel = channel;
    const hint = languageHint === 'auto' ? this.opts.languageHint : languageHint;
    this.opts
      .start(
        channel,
        {
          provider: 'app-ws',
          streamId: clientCallId,
          parameters: { protocol: 'voice-gateway', clientCallId, auth: this.opts.auth },
          format: PCM16_16K,
        },
        { mode: 'voice', profile: this.opts.profile, languageHint: hint ?? languageHint },
      )
      .then(({ callId }) => {
        this.counters.conversations++;
        if (this.closed) {
          channel.callerGone();
          return;
        }
        this.state = 'live';
        this.log.info('app voice-gateway conversation started', { callId });
        this.send(gateway.ready(clientCallId, callId));
        const early = this.early ?? [];
        this.early = undefined;
        for (const m of early) this.send(m.message, m.droppable);
      })
      .catch((err: unknown) => {
        const busy = err instanceof ApiError && err.code === 'unavailable';
        this.log.warn('app voice-gateway conversation refused', { error: (err as Error).message });
        this.fail(busy ? 'busy' : 'start_failed', busy ? err.message : 'the conversation could not start');
        this.close(busy ? 1013 : 1011, busy ? 'try again later' : 'start failed');
      });
  }
}
