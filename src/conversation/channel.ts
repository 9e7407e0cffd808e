/**
 * The caller channel: the person's side of a call (a Twilio or Telnyx media stream, a browser
 * peer connection, an app WebSocket, a chat). The conversation core drives every channel through
 * this one interface and never names a provider.
 *
 * Audio crosses this seam in the channel's own format (`format`), in whole frames. Agent audio is
 * sent with a playback marker; the channel emits `played` with that marker once the caller has
 * heard it (Twilio/Telnyx marks; a channel that plays in real time acknowledges at real-time pace).
 * Barge-in and the heard/unheard split are built on those acknowledgements alone.
 */
import type { EventEmitter } from 'node:events';
import type { AudioFormat } from './audio-format';
import type { TransferTarget } from '../agent/profiles';

/** Who and what a channel's call is, known when its media (or first message) starts. */
export interface ChannelStart {
  /** Provider or kind of channel: 'twilio', 'telnyx', 'webrtc', 'chat', ... */
  provider: string;
  /** The provider's id of this media stream / session (Twilio streamSid, Telnyx stream_id). */
  streamId: string;
  /** The provider's id of the call (Twilio CallSid, Telnyx call_control_id), when there is one. */
  providerCallId?: string;
  /** The provider's account the call belongs to (Twilio AccountSid), when it says so. */
  accountId?: string;
  from?: string;
  to?: string;
  /** Custom parameters carried by the stream (our callId and single-use token among them). */
  parameters: Record<string, string>;
  /** The channel's audio format; undefined for a text-only channel. */
  format: AudioFormat | undefined;
}

/** One frame of caller audio, in the channel's format. */
export interface CallerAudioFrame {
  readonly bytes: Buffer;
  /** The same bytes as base64 when the channel received them so (saves a re-encode on pass-through). */
  readonly base64?: string;
  /** Start of the frame in call time (ms since the media started), from the channel's timestamps. */
  readonly timestampMs: number;
  /** performance.now() when the frame reached the process (before parsing). */
  readonly receivedAt: number;
}

/**
 * A frame that arrived as base64 (Twilio and Telnyx media): decoded only if something asks for
 * `bytes`. On the usual path nothing does: the Realtime engine sends the base64 on as it is and the
 * recording decodes it into a buffer of its own (`frameByteLength`, RecordingTap.writeCallerFrame).
 * A decoded 20 ms frame is a slice of Node's shared 8 KB pool; at 100 calls those slices made
 * ~0.8 MB/s of ArrayBuffers, which V8 counts towards its next full GC (docs/benchmarks/bridge.md).
 */
export class Base64AudioFrame implements CallerAudioFrame {
  private decoded: Buffer | undefined;

  constructor(
    readonly base64: string,
    readonly timestampMs: number,
    readonly receivedAt: number,
  ) {}

  get bytes(): Buffer {
    return (this.decoded ??= Buffer.from(this.base64, 'base64'));
  }
}

/** The frame's length in bytes, without decoding a base64 frame. */
export function frameByteLength(frame: CallerAudioFrame): number {
  return frame.base64 !== undefined ? Buffer.byteLength(frame.base64, 'base64') : frame.bytes.length;
}

/** How the channel's side ended: the caller hung up, or its socket/peer went away. */
export type ChannelEndCause = 'caller-hangup' | 'channel-closed';

/** Our side ends the call: hang up, or hand the caller to someone else. */
export type EndAction = { kind: 'hangup' } | { kind: 'transfer'; target: TransferTarget };

export interface CallerChannelEvents {
  audio: [frame: CallerAudioFrame];
  dtmf: [digit: string];
  /** A text message from the person (chat, SMS, an app's text message). */
  text: [text: string];
  /** The caller has heard the agent audio sent with this marker. */
  played: [marker: string];
  end: [cause: ChannelEndCause];
}

export interface CallerChannel extends EventEmitter<CallerChannelEvents> {
  /** Provider or kind ('twilio', 'telnyx', ...), as stored on the call record. */
  readonly provider: string;
  /** The channel's audio format; undefined for a text-only channel. */
  readonly format: AudioFormat | undefined;
  /** Sends agent audio (whole frames, channel format); `marker` comes back as `played` once heard. */
  sendAudio(chunk: Buffer, marker: string): void;
  /** Drops agent audio queued on the caller's side (barge-in). Unacknowledged markers are not acknowledged. */
  clear(): void;
  /** Sends agent text (chat/SMS reply) or, on voice channels that show one, a live transcript line. */
  sendText?(text: string, role: 'agent' | 'caller'): void;
  /** Ends the channel from our side: hang up, or transfer the caller where the channel can. */
  end(reason: string, action?: EndAction): void;
}
