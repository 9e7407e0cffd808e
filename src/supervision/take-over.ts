/**
 * Take over: a supervisor ends the AI's part of a live call.
 * - `transfer`: the AI sums up the call so far (out of band, text only, never heard by the caller;
 *   the conversation's last turns when the engine cannot answer), the summary goes on the timeline
 *   and back to the supervisor for whoever picks up, then the agent tells the caller they are being
 *   transferred and the call is handed to a configured destination (TRANSFER_NUMBER or the profile
 *   file's transferTargets: a number, SIP address or queue) once those words have played.
 * - `end`: the agent says a short, polite goodbye and the call ends once it has played.
 */
import type { Conversation } from '../conversation/conversation';
import type { TransferTarget } from '../agent/profiles';
import type { Actor } from './role-guard';

export const SUMMARY_TIMEOUT_MS = 5000;
const SUMMARY_INSTRUCTIONS =
  'Summarise this call so far for the human colleague who takes it over now, in at most three short ' +
  'sentences: who is calling, what they want, what has been done. Plain text only.';
const TRANSFER_LINE =
  'A colleague is taking over now. In one short sentence, tell the caller you are transferring them to a colleague. Say nothing else.';
const GOODBYE_LINE =
  'The call has to end now. In one short sentence, thank the caller politely and say goodbye. Say nothing else.';

export type TakeOverTarget = Pick<
  Conversation,
  'callId' | 'active' | 'engine' | 'context' | 'endings' | 'addEvent' | 'log' | 'deps'
>;

/** Calls already taken over (by any action): a second take-over is refused (409). */
const takenOver = new WeakMap<object, { by: string; action: string }>();

/** Marks the call taken over; the earlier take-over when there was one (then nothing is marked). */
export function claimTakeOver(c: object, actor: Actor, action: string): { by: string; action: string } | undefined {
  const earlier = takenOver.get(c);
  if (earlier) return earlier;
  takenOver.set(c, { by: actor.name, action });
  return undefined;
}

/** Frees the claim of a take-over that could not be done (a bad offer): another may try. */
export function releaseTakeOver(c: object): void {
  takenOver.delete(c);
}

/** The conversation's last turns, as a fallback summary. */
export function contextDigest(c: Pick<Conversation, 'context'>, turns = 6): string {
  return c.context
    .slice(-turns)
    .map((t) => `${t.role === 'user' ? 'Caller' : 'Agent'}: ${t.text}`)
    .join('\n');
}

export async function summarise(c: TakeOverTarget): Promise<{ summary: string; source: 'ai' | 'transcript' }> {
  try {
    const answer = (await c.engine.ask?.(SUMMARY_INSTRUCTIONS, SUMMARY_TIMEOUT_MS))?.trim();
    if (answer) return { summary: answer.slice(0, 2000), source: 'ai' };
  } catch (err) {
    c.log.warn('the agent could not sum up the call', { error: (err as Error).message });
  }
  return { summary: contextDigest(c) || '(nothing said yet)', source: 'transcript' };
}

/** The transfer destination of a call: `name`, else the default one; undefined when not configured. */
export function transferTarget(c: TakeOverTarget, name: string | undefined): TransferTarget | undefined {
  const targets = c.deps.agent?.settings.transferTargets ?? {};
  const key = name ?? c.deps.profile.defaultTransferTarget ?? 'default';
  return Object.prototype.hasOwnProperty.call(targets, key) ? targets[key] : undefined;
}

export async function takeOverTransfer(
  c: TakeOverTarget,
  actor: Actor,
  destination: string,
  target: TransferTarget,
): Promise<{ summary: string; source: 'ai' | 'transcript' }> {
  const result = await summarise(c);
  c.addEvent('supervisor.takeover', {
    by: actor.name,
    action: 'transfer',
    destination,
    summary: result.summary,
    summarySource: result.source,
  });
  c.log.info('supervisor transfers the call', { by: actor.name, destination });
  if (!c.active) return result;
  c.engine.createResponse(TRANSFER_LINE);
  c.endings.endAfterSpeech({ kind: 'transfer', target }, true);
  return result;
}

export function takeOverEnd(c: TakeOverTarget, actor: Actor): void {
  c.addEvent('supervisor.takeover', { by: actor.name, action: 'end' });
  c.log.info('supervisor ends the call', { by: actor.name });
  c.engine.createResponse(GOODBYE_LINE);
  c.endings.endAfterSpeech({ kind: 'hangup' }, true);
}
