/**
 * The few parts of @roamhq/wrtc (libwebrtc for Node, a maintained fork of node-webrtc whose Linux,
 * macOS and Windows binaries ship as npm packages) that the WebRTC channel uses, typed here without
 * the DOM library. The native module is loaded on first use, so a server that never takes a web call
 * never loads it, and a platform without a binary fails that call with a clear error, not the start.
 */

export interface RtcSessionDescriptionInit {
  type: 'offer' | 'answer' | 'pranswer' | 'rollback';
  sdp?: string;
}

export interface RtcIceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface RtcConfiguration {
  iceServers?: RtcIceServer[];
  bundlePolicy?: 'balanced' | 'max-bundle' | 'max-compat';
}

/** PCM as libwebrtc hands it over: 10 ms of interleaved 16-bit samples. */
export interface RtcAudioData {
  samples: Int16Array;
  sampleRate: number;
  bitsPerSample?: number;
  channelCount?: number;
  numberOfFrames?: number;
}

export interface MediaStreamTrack {
  readonly kind: string;
  readonly id: string;
  stop(): void;
}

export interface RtcDataChannel {
  readonly label: string;
  readonly readyState: 'connecting' | 'open' | 'closing' | 'closed';
  send(data: string): void;
  close(): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: (() => void) | null;
  onopen: (() => void) | null;
}

export interface RtcPeerConnection {
  readonly connectionState: 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';
  readonly iceGatheringState: 'new' | 'gathering' | 'complete';
  readonly localDescription: RtcSessionDescriptionInit | null;
  setRemoteDescription(desc: RtcSessionDescriptionInit): Promise<void>;
  setLocalDescription(desc?: RtcSessionDescriptionInit): Promise<void>;
  createAnswer(): Promise<RtcSessionDescriptionInit>;
  createOffer(options?: Record<string, unknown>): Promise<RtcSessionDescriptionInit>;
  addIceCandidate(candidate: {
    candidate: string;
    sdpMid?: string | null;
    sdpMLineIndex?: number | null;
  }): Promise<void>;
  addTrack(track: MediaStreamTrack, ...streams: unknown[]): unknown;
  addTransceiver(kind: 'audio' | 'video', init?: { direction?: string }): unknown;
  createDataChannel(label: string, init?: Record<string, unknown>): RtcDataChannel;
  close(): void;
  onicecandidate:
    | ((event: {
        candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | null;
      }) => void)
    | null;
  onicegatheringstatechange: (() => void) | null;
  onconnectionstatechange: (() => void) | null;
  ontrack: ((event: { track: MediaStreamTrack }) => void) | null;
  ondatachannel: ((event: { channel: RtcDataChannel }) => void) | null;
}

export interface RtcAudioSource {
  createTrack(): MediaStreamTrack;
  onData(data: RtcAudioData): void;
}

export interface RtcAudioSink {
  stop(): void;
  ondata: ((data: RtcAudioData) => void) | null;
}

export interface Wrtc {
  RTCPeerConnection: new (config?: RtcConfiguration) => RtcPeerConnection;
  nonstandard: {
    RTCAudioSource: new () => RtcAudioSource;
    RTCAudioSink: new (track: MediaStreamTrack) => RtcAudioSink;
  };
}

let loaded: Wrtc | undefined;

/** The native WebRTC module (loaded once, on first use). Throws when no binary fits this platform. */
export function loadWrtc(): Wrtc {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require('@roamhq/wrtc') as Wrtc;
  return loaded;
}
