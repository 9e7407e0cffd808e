/**
 * The orchestrator protocol on `/ws`: turn by turn. Each `audio` message is one utterance (PCM16
 * 16 kHz): acknowledged at once (`audio_ack`), fed to the conversation followed by a short silence
 * (so the agent's turn detection closes the turn), and answered with one `audio_response`: what the
 * caller said, a coarse intent, the agent's words and a `voice_url` serving the spoken reply for a
 * few minutes. `text` is a chat turn answered with `text_response`. One turn at a time per socket.
 *
 * The conversation starts with the first turn: a first `text` makes it a chat (channel `chat`,
 * text only), a first `audio` a voice conversation (channel `app-ws`).
 */
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { PCM16_16K } from '../../conversation/audio-format';
import { ApiError } from '../../http/errors';
import type { Logger } from '../../logging/logger';
import { AppWsChannel } from './app-ws-channel';
import { classifyIntent } from './intent';
import {
  APP_AUDIO_RATE_HZ,
  orchestrator,
  parseOrchestratorMessage,
  ProtocolError,
  type OrchestratorEnvelope,
} from './protocol';
import type { ReplyAudioStore } from './reply-audio';
import { SocketSession, type SocketTiming } from './socket-session';
import type { AppWsCounters, ConversationStarter } from './types';

/** Silence fed after an utterance so the agent's turn detection ends the caller's turn. */
export const TRAILING_SILENCE_MS = 800;
/** The agent's answer is complete once nothing more came for this long. */
export const ANSWER_QUIET_MS = 700;
/** Longest spoken reply kept for voice_url (60 s of PCM16 16 kHz); the rest is not kept. */
export const MAX_REPLY_AUDIO_BYTES = 60 * 32_000;
/** A turn the agent has not answered by then gets an `agent_timeout` error. */
export const TURN_TIMEOUT_MS = 30_000;

export interface OrchestratorSessionOptions {
  start: ConversationStarter;
  replies: ReplyAudioStore;
  /** Base of voice_url (PUBLIC_URL + the channel's mount). */
  replyBaseUrl: string;
  profile?: string;
  languageHint?: string;
  auth: string;
  timing?: SocketTiming;
}

interface Turn {
  kind: 'audio' | 'text';
  callerText: string;
  /** Audio turns: the caller's transcript has arrived (agent output before it is not this turn's answer). */
  heard: boolean;
  agentText: string[];
  agentAudio: Buffer[];
  agentAudioBytes: number;
  quietTimer?: NodeJS.Timeout;
  deadline: NodeJS.Timeout;
}

export class OrchestratorSession extends SocketSession {
  readonly sessionId = `ws_${randomBytes(12).toString('base64url')}`;
  private channel?: AppWsChannel;
  private starting?: Promise<AppWsChannel>;
  private turn?: Turn;

  constructor(
    ws: WebSocket,
    log: Logger,
    counters: AppWsCounters,
    private readonly opts: OrchestratorSessionOptions,
  ) {
    super(ws, log, counters, orchestrator.error, opts.timing);
    this.send(orchestrator.connection(this.sessionId));
  }

  protected onMessage(data: Buffer): void {
    const message = parseOrchestratorMessage(data);
    if (message.type === 'ping') {
      this.send(orchestrator.pong());
      return;
    }
    if (message.sessionId !== undefined && message.sessionId !== this.sessionId) {
      throw new ProtocolError('session_mismatch', 'session_id differs from the one given in connection');
    }
    if (this.turn) throw new ProtocolError('turn_in_progress', 'wait for the answer to the previous message');
    const mode = message.type === 'audio' ? 'voice' : 'text';
    if (this.channel && mode === 'voice' && !this.channel.format) {
      throw new ProtocolError('text_conversation', 'this conversation is a text chat; open a new socket for voice');
    }
    if (message.type === 'audio') {
      this.send(orchestrator.audioAck(message.audio.length, Math.round(message.audio.length / 32)));
    }
    const turn = this.beginTurn(message.type);
    this.ensureConversation(mode, message)
      .then((channel) => {
        if (this.turn !== turn) return;
        if (message.type === 'text') {
          turn.callerText = message.text;
          channel.pushCallerText(message.text);
        } else {
          channel.pushCallerAudio(message.audio);
          channel.pushCallerAudio(Buffer.alloc(TRAILING_SILENCE_MS * 32));
        }
      })
      .catch((err: unknown) => {
        this.endTurn(turn);
        const busy = err instanceof ApiError && err.code === 'unavailable';
        this.log.warn('app orchestrator conversation refused', { error: (err as Error).message });
        this.fail(busy ? 'busy' : 'start_failed', busy ? err.message : 'the conversation could not start');
        this.close(busy ? 1013 : 1011, busy ? 'try again later' : 'start failed');
      });
  }

  protected onClose(): void {
    if (this.turn) this.endTurn(this.turn);
    this.channel?.callerGone();
  }

  private ensureConversation(mode: 'voice' | 'text', first: OrchestratorEnvelope): Promise<AppWsChannel> {
    this.starting ??= this.startConversation(mode, first);
    return this.starting;
  }

  private async startConversation(mode: 'voice' | 'text', first: OrchestratorEnvelope): Promise<AppWsChannel> {
    const format = mode === 'voice' ? PCM16_16K : undefined;
    const provider = mode === 'voice' ? 'app-ws' : 'chat';
    const channel = new AppWsChannel({
      provider,
      format,
      acks: 'immediate',
      sink: {
        audio: (chunk) => this.onAgentAudio(chunk),
        clear: () => undefined,
        text: (text, role) => this.onText(text, role),
        end: (reason) => this.close(1000, reason.slice(0, 100)),
      },
    });
    const parameters: Record<string, string> = {
      protocol: 'orchestrator',
      sessionId: this.sessionId,
      auth: this.opts.auth,
    };
    if (first.sessionId) parameters.clientSessionId = first.sessionId;
    if (first.context) parameters.context = JSON.stringify(first.context);
    const { callId } = await this.opts.start(
      channel,
      {
        provider,
        streamId: this.sessionId,
        from: first.userId ? `app:${first.userId}` : undefined,
        parameters,
        format,
      },
      { mode, profile: this.opts.profile, languageHint: this.opts.languageHint },
    );
    this.counters.conversations++;
    this.log.info('app orchestrator conversation started', { callId, mode });
    if (this.closed) channel.callerGone();
    this.channel = channel;
    return channel;
  }

  private beginTurn(kind: 'audio' | 'text'): Turn {
    const turn: Turn = {
      kind,
      callerText: '',
      heard: kind === 'text',
      agentText: [],
      agentAudio: [],
      agentAudioBytes: 0,
      deadline: setTimeout(() => {
        if (this.turn !== turn) return;
        this.endTurn(turn);
        this.fail('agent_timeout', `the agent did not answer within ${TURN_TIMEOUT_MS / 1000} s`);
      }, TURN_TIMEOUT_MS),
    };
    this.turn = turn;
    return turn;
  }

  private endTurn(turn: Turn): void {
    clearTimeout(turn.deadline);
    clearTimeout(turn.quietTimer);
    if (this.turn === turn) this.turn = undefined;
  }

  private onText(text: string, role: 'agent' | 'caller'): void {
    const turn = this.turn;
    if (!turn) return;
    if (role === 'caller') {
      if (turn.kind === 'audio') {
        turn.callerText = turn.callerText ? `${turn.callerText} ${text}` : text;
        turn.heard = true;
        turn.agentText.length = 0;
        turn.agentAudio.length = 0;
        turn.agentAudioBytes = 0;
      }
      return;
    }
    if (!turn.heard) return;
    turn.agentText.push(text);
    this.armQuiet(turn);
  }

  private onAgentAudio(chunk: Buffer): void {
    const turn = this.turn;
    if (!turn || !turn.heard || turn.kind !== 'audio') return;
    if (turn.agentAudioBytes + chunk.length <= MAX_REPLY_AUDIO_BYTES) {
      turn.agentAudio.push(Buffer.from(chunk));
      turn.agentAudioBytes += chunk.length;
    }
    if (turn.agentText.length) this.armQuiet(turn);
  }

  private armQuiet(turn: Turn): void {
    clearTimeout(turn.quietTimer);
    turn.quietTimer = setTimeout(() => this.answer(turn), ANSWER_QUIET_MS);
  }

  private answer(turn: Turn): void {
    if (this.turn !== turn) return;
    this.endTurn(turn);
    const response = turn.agentText.join(' ');
    const intent = classifyIntent(turn.callerText);
    if (turn.kind === 'text') {
      this.send(orchestrator.textResponse(response, intent));
      return;
    }
    const audio = Buffer.concat(turn.agentAudio);
    const voiceUrl = audio.length
      ? `${this.opts.replyBaseUrl}/${this.opts.replies.put(audio, APP_AUDIO_RATE_HZ)}.wav`
      : null;
    this.send(orchestrator.audioResponse({ transcribedText: turn.callerText, intent, response, voiceUrl }));
  }
}
