/**
 * Handing a call between instances (issue 16: a webhook on instance A, its media stream on B). The
 * CallBridge uses these three steps; they live apart because each reaches into another module's
 * state that has no public way in yet:
 * - `dropPrepared` (A): the conversation A prepared (its AI session greeting early) is let go of
 *   without ending the call: no status, no analytics, no recording, and its stream timeout cleared.
 * - `forgetCall` (A): A's CallManager stops tracking the call as live here, writing nothing.
 * - `adoptCall` (B): B's CallManager tracks a call another instance created (live list, per-profile
 *   redaction of its transcripts, status changes cached).
 *
 * They use TypeScript's bracket access to private members, which the compiler still type-checks (a
 * rename there breaks the build, never silently this code). The proper homes are
 * `Conversation.release()` and `CallManager.adopt()/forget()`: docs in /work/notes/cross-instance.md.
 */
import type { Call } from '../generated/prisma/client';
import type { Conversation } from '../conversation/conversation';
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
