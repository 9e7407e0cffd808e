/**
 * TelnyxChannel: a Telnyx media stream as a CallerChannel (src/conversation/channel.ts). It only
 * translates: caller frames become `audio`, echoed marks become `played`, `dtmf`, and the end of the
 * stream becomes `end`; agent audio goes out as a media frame followed by a mark naming its marker.
 *
 * Telnyx echoes a mark once the media before it has played, at once when nothing is queued, and
 * echoes every queued mark on `clear` (media-streaming docs, "Mark message"). Marks echoed because of
 * a clear do not mean the caller heard anything, so `clear()` forgets the outstanding markers and
 * their late echoes are dropped: `played` only ever reports audio that was played out.
 */
import { EventEmitter } from 'node:events';
import type { AudioFormat } from '../../conversation/audio-format';
import {
  type CallerChannel,
  type CallerChannelEvents,
  type ChannelStart,
  type EndAction,
} from '../../conversation/channel';
import type { Logger } from '../../logging/logger';
import { audioFormatOf, type TelnyxStartMessage } from './protocol';
import type { TelnyxMediaStream } from './media-stream';

export const TELNYX_PROVIDER = 'telnyx';
/** Outstanding markers kept at most (a peer that never echoes cannot grow memory without bound). */
const MAX_OUTSTANDING_MARKERS = 4096;

/** The ChannelStart of a Telnyx start frame; undefined when its media format is not PCMU/PCMA 8 kHz mono. */
export function channelStartOf(message: TelnyxStartMessage): ChannelStart | undefined {
  const format = audioFormatOf(message.start.media_format);
  if (!format) return undefined;
  const { start } = message;
  return {
    provider: TELNYX_PROVIDER,
    streamId: message.stream_id,
    providerCallId: start.call_control_id,
    // start.user_id is the account, but its spelling (case) is not documented to match the webhook's
    // AccountSid: the single-use token and call_control_id already bind the stream to the call.
    accountId: undefined,
    from: start.from || undefined,
    to: start.to || undefined,
    parameters: start.custom_parameters,
    format,
  };
}

export interface TelnyxChannelStats {
  markersPlayed: number;
  /** Echoes of marks that were cleared (barge-in) or never sent by us: not reported as played. */
  marksIgnored: number;
  framesIn: number;
}

export class TelnyxChannel extends EventEmitter<CallerChannelEvents> implements CallerChannel {
  readonly provider = TELNYX_PROVIDER;
  readonly format: AudioFormat;
  readonly stats: TelnyxChannelStats = { markersPlayed: 0, marksIgnored: 0, framesIn: 0 };
  private readonly outstanding = new Set<string>();
  private ended = false;

  constructor(
    readonly stream: TelnyxMediaStream,
    readonly start: ChannelStart,
    /** Our side ended the call with an action (hang-up, transfer): kept for the stream-ended webhook. */
    private readonly onEnding?: (action: EndAction) => void,
  ) {
    super();
    this.format = start.format ?? { encoding: 'pcmu', sampleRateHz: 8000 };
    stream.on('media', (frame) => {
      this.stats.framesIn++;
      this.emit('audio', frame);
    });
    stream.on('mark', (name) => {
      if (!this.outstanding.delete(name)) {
        this.stats.marksIgnored++;
        return;
      }
      this.stats.markersPlayed++;
      this.emit('played', name);
    });
    stream.on('dtmf', (digit) => this.emit('dtmf', digit));
    stream.on('stop', () => this.finish('caller-hangup'));
    stream.on('close', () => this.finish('channel-closed'));
  }

  /** Logs of this stream carry the call's id from here on. */
  setLogger(logger: Logger): void {
    this.stream.setLogger(logger);
  }

  sendAudio(chunk: Buffer, marker: string): void {
    if (this.ended) return;
    if (this.stream.sendMediaAndMark(chunk.toString('base64'), marker)) {
      if (this.outstanding.size >= MAX_OUTSTANDING_MARKERS) {
        this.outstanding.delete(this.outstanding.values().next().value!);
      }
      this.outstanding.add(marker);
    }
  }

  clear(): void {
    this.outstanding.clear();
    if (!this.ended) this.stream.clear();
  }

  /**
   * Ends the stream from our side: the socket closes and Telnyx runs the TeXML after <Connect>, a
   * <Redirect> to the stream-ended webhook, which answers the action kept here (<Dial>, <Hangup/>).
   */
  end(reason: string, action?: EndAction): void {
    if (this.ended) return;
    this.ended = true;
    if (action) this.onEnding?.(action);
    this.outstanding.clear();
    this.stream.close(1000, reason);
  }

  private finish(cause: 'caller-hangup' | 'channel-closed'): void {
    if (this.ended) return;
    this.ended = true;
    this.outstanding.clear();
    this.emit('end', cause);
  }
}
