/**
 * Answers a browser's SDP offer: a peer connection with one audio track each way, the answer
 * returned with its complete ICE candidates (no trickle: the browser gathers its own before it
 * posts the offer, we gather ours before we answer; host candidates suffice on one machine or a
 * LAN, STUN servers from the configuration add server-reflexive ones for deployments).
 */
import { loadWrtc, type RtcIceServer, type RtcPeerConnection } from './wrtc';
import { WebRtcChannel, type WebRtcChannelOptions } from './webrtc-channel';

/** Largest SDP offer accepted (a browser's audio offer with a data channel is ~3-6 KB). */
export const MAX_SDP_CHARS = 16 * 1024;
/** How long we gather our own ICE candidates before answering with what we have. */
export const DEFAULT_GATHER_TIMEOUT_MS = 2_000;
/** How long the browser has to connect after the answer before the call is given up. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;

export class OfferError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OfferError';
  }
}

/** Why an offer is unusable, or undefined when it looks like an SDP offer with audio. */
export function offerProblem(sdp: unknown): string | undefined {
  if (typeof sdp !== 'string' || sdp.length === 0) return 'must be a non-empty string';
  if (sdp.length > MAX_SDP_CHARS) return `must be at most ${MAX_SDP_CHARS} characters`;
  if (!sdp.startsWith('v=0')) return 'is not an SDP session description (must start with v=0)';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(sdp)) return 'contains control characters';
  const media: string[] = sdp.match(/^m=\S+/gm) ?? [];
  if (!media.includes('m=audio')) return 'has no audio media section (m=audio)';
  if (media.length > 4) return 'has too many media sections';
  if (!/^a=fingerprint:/m.test(sdp)) return 'has no DTLS fingerprint';
  return undefined;
}

export interface AnswerOptions extends WebRtcChannelOptions {
  iceServers?: RtcIceServer[];
  gatherTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export interface AnsweredOffer {
  channel: WebRtcChannel;
  sdp: string;
}

function waitForGathering(pc: RtcPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pc.onicegatheringstatechange = null;
      pc.onicecandidate = null;
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    pc.onicecandidate = (event) => {
      if (!event.candidate) done();
    };
  });
}

/**
 * Sets up the peer connection for `offerSdp` and returns the channel (audio flows once the browser
 * connects) and the answer SDP. Throws OfferError when libwebrtc refuses the offer.
 */
export async function answerOffer(offerSdp: string, options: AnswerOptions = {}): Promise<AnsweredOffer> {
  const problem = offerProblem(offerSdp);
  if (problem) throw new OfferError(`sdp ${problem}`);
  const wrtc = loadWrtc();
  const pc = new wrtc.RTCPeerConnection({ iceServers: options.iceServers ?? [], bundlePolicy: 'max-bundle' });
  const source = new wrtc.nonstandard.RTCAudioSource();
  const channel = new WebRtcChannel(pc, source, options);
  const ownTrack = source.createTrack();
  let gotTrack = false;
  pc.ontrack = (event) => {
    if (event.track.kind !== 'audio' || gotTrack) return;
    gotTrack = true;
    channel.start(new wrtc.nonstandard.RTCAudioSink(event.track), [event.track, ownTrack]);
  };
  try {
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    } catch (err) {
      throw new OfferError(`sdp was refused: ${(err as Error).message.slice(0, 200)}`);
    }
    if (!gotTrack) throw new OfferError('sdp offers no audio the browser sends (m=audio must be sendrecv or sendonly)');
    pc.addTrack(ownTrack);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await waitForGathering(pc, options.gatherTimeoutMs ?? DEFAULT_GATHER_TIMEOUT_MS);
    const sdp = pc.localDescription?.sdp;
    if (!sdp) throw new OfferError('no answer could be made for this offer');
    channel.expectConnection(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    return { channel, sdp };
  } catch (err) {
    if (!gotTrack) ownTrack.stop();
    channel.end('offer-failed');
    throw err;
  }
}
