/**
 * Take over to the supervisor's own browser softphone: `POST /api/calls/:id/take-over
 * {"action":"softphone","sdp":<offer>}` with a supervisor token. One mechanism on the call core: the
 * human becomes the call's agent engine (human-engine.ts, Conversation.replaceEngine).
 * 1. The AI sums the call up (take-over.ts; the transcript when it cannot) and the summary goes on
 *    the timeline (`supervisor.takeover`, action `softphone`) and back to the supervisor.
 * 2. The supervisor's peer connection is answered at once (the answer SDP goes back in the same
 *    response), but their microphone is not read yet.
 * 3. The agent tells the caller a colleague is taking over; once that line has played (or after
 *    HAND_OVER_MAX_WAIT_MS) and the supervisor's peer connection is up, the AI engine is closed and
 *    the supervisor's engine takes its place: they hear the caller, the caller hears them
 *    (`supervisor.joined` on the timeline).
 * A softphone that never connects (the peer's connect timeout, 15 s) or hangs up before joining
 * leaves the call with the AI: `supervisor.takeover.failed` on the timeline, the take-over claim
 * released (another may try), and the agent tells the caller the colleague could not join and goes
 * on helping. The supervisor hanging up after joining ends the call; the call ending closes their
 * softphone (`{"type":"ended"}`).
 */
import type { Conversation } from '../conversation/conversation';
import { answerOffer, type AnswerOptions } from '../channels/webrtc/peer';
import type { WebRtcChannel } from '../channels/webrtc/webrtc-channel';
import { HumanEngine } from './human-engine';
import { releaseTakeOver, summarise, type TakeOverTarget } from './take-over';
import type { Actor } from './role-guard';

/** Longest wait for the AI's "a colleague is taking over" line to be generated and played. */
export const HAND_OVER_MAX_WAIT_MS = 10_000;
const HAND_OVER_LINE =
  'A colleague is taking over this call now. In one short sentence, tell the caller a colleague joins them now. Say nothing else.';
const NOT_JOINED_LINE =
  'Your colleague could not join the call after all. In one short sentence, apologise to the caller and say you will go on helping them. Say nothing else.';

export type SoftphoneTarget = TakeOverTarget &
  Pick<Conversation, 'streaming' | 'channel' | 'playout' | 'replaceEngine' | 'close'>;

export interface SoftphoneTakeOver {
  summary: string;
  summarySource: 'ai' | 'transcript';
  /** The answer to the supervisor's offer. */
  sdp: string;
  /** Resolves once the supervisor has the call (false when it ended first). */
  joined: Promise<boolean>;
}

/** Resolves once the agent's next response has been generated and every byte of it played. */
export function afterNextLine(c: SoftphoneTarget, maxMs: number): Promise<void> {
  return new Promise((resolve) => {
    const { engine, channel } = c;
    let responseId: string | undefined | null = null;
    let generated = false;
    const check = (): void => {
      if (generated && !c.playout?.hasUnplayedAudio()) done();
    };
    const onStarted = (id: string | undefined): void => {
      if (responseId === null) responseId = id;
    };
    const onDone = (summary: { responseId: string | undefined }): void => {
      if (responseId !== null && summary.responseId !== responseId) return;
      generated = true;
      check();
    };
    const timer = setTimeout(() => done(), maxMs);
    function done(): void {
      clearTimeout(timer);
      engine.off('response-started', onStarted);
      engine.off('response-done', onDone);
      channel?.off('played', check);
      resolve();
    }
    engine.on('response-started', onStarted);
    engine.on('response-done', onDone);
    channel?.on('played', check);
  });
}

export async function takeOverSoftphone(
  c: SoftphoneTarget,
  actor: Actor,
  offerSdp: string,
  peerOptions: AnswerOptions = {},
  /** The live web calls (WEBRTC_MAX_CALLS counts the supervisor's peer while it is open). */
  slots?: Set<WebRtcChannel>,
): Promise<SoftphoneTakeOver> {
  const { summary, source } = await summarise(c);
  // Declared first: a refused offer closes the channel (onClose) before answerOffer returns.
  const opened: { peer?: WebRtcChannel } = {};
  const { channel: peer, sdp } = await answerOffer(offerSdp, {
    ...peerOptions,
    onClose: () => {
      if (opened.peer) slots?.delete(opened.peer);
    },
  });
  opened.peer = peer;
  slots?.add(peer);
  c.addEvent('supervisor.takeover', { by: actor.name, action: 'softphone', summary, summarySource: source });
  c.log.info('supervisor takes the call in their softphone', { by: actor.name });
  return { summary, summarySource: source, sdp, joined: handOver(c, actor, peer) };
}

async function handOver(c: SoftphoneTarget, actor: Actor, peer: WebRtcChannel): Promise<boolean> {
  let joined = false;
  peer.once('end', (cause) => {
    if (!joined || !c.active) return;
    c.log.info('the supervisor left the call; ending it', { by: actor.name, cause });
    c.addEvent('supervisor.left', { by: actor.name });
    void c.close('agent-hangup');
  });
  if (c.streaming) {
    c.engine.createResponse(HAND_OVER_LINE);
    await afterNextLine(c, HAND_OVER_MAX_WAIT_MS);
  }
  // The announcement has played; the AI keeps the call until the supervisor's audio can flow (or
  // the softphone is gone: its connect timeout, a hang-up).
  if (!(await peer.whenConnected())) {
    if (!c.streaming) return false;
    c.log.warn('the supervisor softphone did not connect; the agent keeps the call', { by: actor.name });
    c.addEvent('supervisor.takeover.failed', { by: actor.name, action: 'softphone', reason: 'not-connected' });
    releaseTakeOver(c);
    c.engine.createResponse(NOT_JOINED_LINE);
    return false;
  }
  if (!c.streaming) {
    peer.end('call-ended');
    return false;
  }
  // From here the supervisor leaving ends the call (also while the engines are being swapped).
  joined = true;
  try {
    await c.replaceEngine(new HumanEngine(peer));
  } catch (err) {
    c.log.warn('the supervisor could not take the call', { error: (err as Error).message });
    peer.end('call-ended');
    return false;
  }
  peer.begin();
  c.addEvent('supervisor.joined', { by: actor.name });
  return true;
}
