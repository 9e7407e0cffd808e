/**
 * Pure scheduling rules of the dialler: is it calling time for a contact (its local time zone),
 * what a finished call's status means as an outcome, and when (whether) to try again.
 */
import type { CampaignSettings } from './model';

const formatters = new Map<string, Intl.DateTimeFormat>();

function localParts(at: Date, timeZone: string): { weekday: number; hhmm: string } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    if (formatters.size < 500) formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday) + 1;
  return { weekday, hhmm: `${parts.hour}:${parts.minute}` };
}

/** Whether `at` is within the campaign's calling hours in the contact's time zone. */
export function withinHours(settings: CampaignSettings, timeZone: string | null | undefined, at: Date): boolean {
  const { weekday, hhmm } = localParts(at, timeZone || settings.timeZone);
  return settings.hours.days.includes(weekday) && hhmm >= settings.hours.start && hhmm < settings.hours.end;
}

export type Outcome =
  | 'answered'
  | 'completed'
  | 'voicemail'
  | 'busy'
  | 'no-answer'
  | 'failed'
  | 'do-not-call'
  | 'cancelled'
  | 'interrupted'
  | 'unknown';

/** The outcome of a finished call from its final status (and what the call told us). */
export function outcomeOf(status: string, facts: { voicemail?: boolean; disposition?: string | null }): Outcome {
  if (facts.voicemail) return 'voicemail';
  switch (status) {
    case 'completed':
      return facts.disposition ? 'completed' : 'answered';
    case 'busy':
      return 'busy';
    case 'no-answer':
      return 'no-answer';
    case 'interrupted':
      return 'interrupted';
    default:
      return 'failed';
  }
}

/** When to dial again after this outcome on attempt `attempts` (1-based), or null for never. */
export function retryAt(settings: CampaignSettings, outcome: Outcome, attempts: number, now: Date): Date | null {
  const rule =
    outcome === 'busy'
      ? settings.retries.busy
      : outcome === 'no-answer'
        ? settings.retries.noAnswer
        : outcome === 'failed'
          ? settings.retries.failed
          : null;
  if (!rule || attempts > rule.attempts) return null;
  return new Date(now.getTime() + rule.delaySec * 1000);
}
