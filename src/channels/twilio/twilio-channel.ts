/**
 * TwilioChannel: the caller channel over one Twilio Media Stream (src/conversation/channel.ts).
 * Audio is G.711 mu-law 8 kHz both ways; the base64 payload Twilio sent is handed on untouched so a
 * mu-law engine gets it without a re-encode. Agent chunks are followed by a mark whose echo is the
 * `played` acknowledgement; `clear` empties Twilio's buffer. Ending from our side closes the socket,
 * and Twilio then asks <Connect action> what to do: the hang-up or transfer is kept for that answer.
 */
import { EventEmitter } from 'node:events';
import {
  type CallerChannel,
  type CallerChannelEvents,
  type ChannelEndCause,
  type ChannelStart,
  type EndAction,
} from '../../conversation/channel';
import { PCMU_8K, type AudioFormat } from '../../conversation/audio-format';
import type { TwilioMediaStream, TwilioStreamStart } from './media-stream';

/** The channel-neutral start of a Twilio stream. */
export function twilioChannelStart(start: TwilioStreamStart): ChannelStart {
  return {
    provider: 'twilio',
    streamId: start.streamSid,
    providerCallId: start.callSid,
    accountId: start.accountSid,
    parameters: start.customParameters,
    format: PCMU_8K,
  };
}

export class TwilioChannel extends EventEmitter<CallerChannelEvents> implements CallerChannel {
  readonly provider = 'twilio';
  readonly format: AudioFormat = PCMU_8K;
  private ended = false;

  /** `onEnding`: our side ended the call with an action (hang-up, transfer) for <Connect action>. */
  constructor(
    private readonly stream: TwilioMediaStream,
    private readonly onEnding: (action: EndAction) => void,
  ) {
    super();
    // The stream's frame is already the channel's (a block body: a listener's return value costs emit a check).
    stream.on('media', (frame) => {
      this.emit('audio', frame);
    });
    stream.on('mark', (name) => this.emit('played', name));
    stream.on('dtmf', (digit) => this.emit('dtmf', digit));
    stream.on('stop', () => this.finish('caller-hangup'));
    stream.on('close', () => this.finish('channel-closed'));
  }

  sendAudio(chunk: Buffer, marker: string): void {
    this.stream.sendMediaAndMark(chunk.toString('base64'), marker);
  }

  clear(): void {
    this.stream.clear();
  }

  end(reason: string, action?: EndAction): void {
    if (action) this.onEnding(action);
    this.stream.close(1000, reason);
  }

  private finish(cause: ChannelEndCause): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('end', cause);
  }
}
