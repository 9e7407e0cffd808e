/**
 * Handing a call between instances (issue 16: a webhook on instance A, its media stream on B). The
 * CallBridge uses these steps; the first three live apart because each reaches into another module's
 * state that has no public way in yet:
 * - `dropPrepared` (A): the conversation A prepared (its AI session greeting early) is let go of
 *   without ending the call: no status, no analytics, no recording, and its stream timeout cleared.
 * - `forgetCall` (A): A's CallManager stops tracking the call as live here, writing nothing.
 * - `adoptCall` (B): B's CallManager tracks a call another instance created (live list, per-profile
 *   redaction of its transcripts, status changes cached).
 * - `holdEarlyEvents`: what the caller sends while a start is checked (a claim, a database read)
 *   is kept and handed to the conversation once it attaches.
 *
 * The first three use TypeScript's bracket access to private members, which the compiler still
 * type-checks (a rename there breaks the build, never silently this code). Their proper homes are
 * `Conversation.release()` and `CallManager.adopt()/forget()` (proposed in the cross-instance note).
 */
import type { Call } from '../generated/prisma/client';
import type { Conversation } from '../conversation/conversation';
import type { CallerAudioFrame, CallerChannel, ChannelEndCause } from '../conversation/channel';
import type { CallManager } from './call-manager';

/**
 * Lets go of a conversation still waiting for its channel, as if it had never been prepared here:
 * its timers (the stream timeout among them) never fire, its tools and pending endings stop, its
 * engine (the early AI session) closes. Nothing is written. False when it was no longer waiting.
 */
export function dropPrepared(conversation: Conversation): boolean {
  if (!conversation.awaitingChannel) return false;
  const timers = conversation['timers'];
  for (const timer of timers) clearTimeout(timer);
  timers.clear();
  conversation.tools?.close();
  conversation.endings.cancel();
  // A conversation whose engine closes on purpose is never told it failed (the engine's own rule).
  conversation.engine.close();
  // Nothing scheduled through `later` runs, and a late close (e.g. an engine event) writes nothing.
  conversation['state'] = 'closed';
  conversation['closePromise'] = Promise.resolve();
  return true;
}

/** This instance's CallManager treats the call as live here (it was created on another instance). */
export function adoptCall(callManager: CallManager, call: Call): void {
  callManager['track'](call);
}

/** This instance's CallManager stops treating the call as live here; nothing is written. */
export function forgetCall(callManager: CallManager, callId: string): void {
  const call = callManager.getActive(callId);
  if (call) callManager['untrack'](call);
}

/** At most this many caller frames (20 ms each) are kept while a start is being checked. */
const MAX_EARLY_FRAMES = 100;

/** A channel's events kept while its start is checked (a claim, a database read): replayed once attached. */
export interface EarlyEvents {
  stop(): void;
  replay(): void;
}

/** Keeps the channel's caller frames (bounded) and its end until `replay`; `stop` stops listening. */
export function holdEarlyEvents(channel: CallerChannel): EarlyEvents {
  const frames: CallerAudioFrame[] = [];
  let ended: ChannelEndCause | undefined;
  const onAudio = (frame: CallerAudioFrame): void => {
    if (frames.length < MAX_EARLY_FRAMES) frames.push(frame);
  };
  const onEnd = (cause: ChannelEndCause): void => {
    ended ??= cause;
  };
  channel.on('audio', onAudio);
  channel.on('end', onEnd);
  return {
    stop() {
      channel.off('audio', onAudio);
      channel.off('end', onEnd);
    },
    replay() {
      for (const frame of frames.splice(0)) channel.emit('audio', frame);
      if (ended) channel.emit('end', ended);
    },
  };
}
