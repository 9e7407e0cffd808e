/**
 * Our side ends a call on the agent's word (end_call, transfer_call): once its last words have
 * played (the channel's acknowledgements), never cutting them off, or after a safety delay.
 */
import type { StreamEndAction } from '../agent/tool-calls';
import type { Conversation } from './conversation';

/** Longest wait for the agent's goodbye / transfer announcement to play before the call is ended anyway. */
export const END_AFTER_SPEECH_MAX_MS = 15_000;

export class AgentEndings {
  /** A hang-up or transfer waiting for the agent's last words to play. */
  private pending: { action: StreamEndAction; awaitingSpeech: boolean; responseId?: string } | undefined;

  constructor(private readonly c: Conversation) {}

  /** `expectSpeech`: a response with the goodbye is coming; wait for it to end and play. */
  endAfterSpeech(action: StreamEndAction, expectSpeech: boolean): void {
    if (!this.c.active || this.pending) return;
    this.pending = { action, awaitingSpeech: expectSpeech };
    this.c.later(END_AFTER_SPEECH_MAX_MS, 'end after speech', () => {
      this.c.log.warn('the agent did not finish speaking in time; ending the stream anyway', { action: action.kind });
      this.execute();
    });
    this.maybeEnd();
  }

  responseStarted(responseId: string | undefined): void {
    if (this.pending?.awaitingSpeech && !this.pending.responseId) this.pending.responseId = responseId;
  }

  responseDone(responseId: string | undefined): void {
    if (this.pending?.awaitingSpeech && this.pending.responseId === responseId) this.pending.awaitingSpeech = false;
    this.maybeEnd();
  }

  maybeEnd(): void {
    const pending = this.pending;
    if (!pending || pending.awaitingSpeech) return;
    if (this.c.responseActive || this.c.playout?.hasUnplayedAudio()) return;
    this.execute();
  }

  cancel(): void {
    this.pending = undefined;
  }

  private execute(): void {
    const pending = this.pending;
    if (!pending || !this.c.active) return;
    this.pending = undefined;
    this.c.endAction = pending.action;
    this.c.log.info(pending.action.kind === 'transfer' ? 'transferring the call' : 'agent hangs up');
    void this.c.close(pending.action.kind === 'transfer' ? 'transferred' : 'agent-hangup');
  }
}
