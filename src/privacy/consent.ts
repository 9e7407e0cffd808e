/**
 * Consent and keypad privacy of one call, from its profile's policy (policy.ts):
 * - recording off for the profile: the call is never recorded (`consent.recording-off` on the timeline);
 * - the caller opts out of recording by a keypad digit or by saying one of the profile's phrases:
 *   the recording stops and its file is deleted (`consent.opt-out`), and, unless the profile keeps
 *   it, the transcript stops too;
 * - "sensitive entry": keypad digits are never stored nor told to the agent; the timeline and the
 *   agent learn only that a key was pressed.
 * The Conversation asks `dtmf()` for every digit and registers what stops its recording; the
 * transcript hook (call-privacy.ts) calls `heard()` with each caller turn.
 */
import type { ProfilePrivacy } from './policy';

export interface DtmfDecision {
  /** Timeline event to store instead of the digit. */
  event: { type: string; data: Record<string, unknown> };
  /** What the agent is told (undefined: nothing). */
  tellAgent?: string;
}

export const HIDDEN_KEY_TEXT = '[The caller pressed a keypad key; the digit is hidden for privacy]';

export class CallConsent {
  private optedOut = false;
  private stopRecording: (() => void) | undefined;

  constructor(
    readonly policy: ProfilePrivacy,
    private readonly timeline: (type: string, data: Record<string, unknown>) => void,
  ) {}

  /** Whether the call is recorded (the profile's setting; an opt-out stops it later). */
  get recording(): boolean {
    return this.policy.recording;
  }

  /** After an opt-out, whether transcripts are still kept. */
  get keepTranscript(): boolean {
    return !this.optedOut || (this.policy.optOut?.keepTranscript ?? true);
  }

  /** The Conversation's way to stop and delete its recording. */
  onStopRecording(fn: () => void): void {
    this.stopRecording = fn;
  }

  /** A keypad digit: undefined to handle it as usual, else what to store and say instead. */
  dtmf(digit: string): DtmfDecision | undefined {
    const optOut = this.policy.optOut;
    if (optOut?.digit !== undefined && digit === optOut.digit && this.policy.recording) {
      this.optOut('dtmf');
      return {
        event: { type: 'dtmf', data: { digit, optOut: true } },
        tellAgent: '[The caller pressed the key to opt out of recording; recording has stopped]',
      };
    }
    if (this.policy.sensitiveDtmf)
      return { event: { type: 'dtmf', data: { sensitive: true } }, tellAgent: HIDDEN_KEY_TEXT };
    return undefined;
  }

  /** A caller turn's text (already redacted): an opt-out phrase stops the recording. */
  heard(text: string): void {
    const phrases = this.policy.optOut?.phrases;
    if (!phrases?.length || this.optedOut || !this.policy.recording) return;
    const lower = text.toLowerCase();
    if (phrases.some((p) => lower.includes(p))) this.optOut('speech');
  }

  private optOut(by: 'dtmf' | 'speech'): void {
    if (this.optedOut) return;
    this.optedOut = true;
    this.timeline('consent.opt-out', { by, keepTranscript: this.keepTranscript });
    this.stopRecording?.();
  }
}

/**
 * The profile with the recording announcement put first in the agent's greeting (the agent speaks it
 * before anything else; the greeting is then said as usual).
 */
export function withAnnouncement<P extends { greeting: string; greetsFirst: boolean }>(
  profile: P,
  policy: ProfilePrivacy,
): P {
  if (!policy.announcement) return profile;
  return {
    ...profile,
    greetsFirst: true,
    greeting: `Before anything else, say exactly: "${policy.announcement}" Then: ${profile.greeting}`,
  };
}
