/**
 * Daily send_sms counters, kept in memory per process over a rolling 24-hour window: messages to one
 * destination number (over all profiles) and messages of one profile. A restart forgets them, and
 * several processes count separately (documented in docs/skills.md). Memory stays bounded: entries
 * older than the window are dropped when read, and from every key at most once a minute.
 */
import type { SmsSettings } from '../profiles';

export const SMS_WINDOW_MS = 24 * 60 * 60 * 1000;

export type SmsLimitRefusal = { code: 'limit_reached'; message: string };

export class SmsLimiter {
  private readonly sent = new Map<string, number[]>();
  private lastSweep: number;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly windowMs = SMS_WINDOW_MS,
  ) {
    this.lastSweep = now();
  }

  /** Refusal when one more message to `to` from `profile` would pass a limit; else reserves it. */
  reserve(profile: string, to: string, limits: Pick<SmsSettings, 'maxPerNumberPerDay' | 'maxPerDay'>) {
    const t = this.now();
    if (t - this.lastSweep >= 60_000) this.sweep(t);
    const toKey = `n:${to}`;
    const profileKey = `p:${profile}`;
    if (this.count(toKey, t) >= limits.maxPerNumberPerDay) {
      return refusal(`at most ${limits.maxPerNumberPerDay} text messages to this number per day`);
    }
    if (this.count(profileKey, t) >= limits.maxPerDay) {
      return refusal('the daily limit of text messages is reached');
    }
    this.push(toKey, t);
    this.push(profileKey, t);
    return undefined;
  }

  /** Gives back a reservation whose message was certainly not sent (the provider refused it). */
  release(profile: string, to: string): void {
    for (const key of [`n:${to}`, `p:${profile}`]) {
      const list = this.sent.get(key);
      list?.pop();
      if (list && !list.length) this.sent.delete(key);
    }
  }

  /** Number of keys held (for tests). */
  get size(): number {
    return this.sent.size;
  }

  private count(key: string, t: number): number {
    const list = this.sent.get(key);
    if (!list) return 0;
    while (list.length && list[0] <= t - this.windowMs) list.shift();
    if (!list.length) this.sent.delete(key);
    return list.length;
  }

  private push(key: string, t: number): void {
    const list = this.sent.get(key);
    if (list) list.push(t);
    else this.sent.set(key, [t]);
  }

  private sweep(t: number): void {
    this.lastSweep = t;
    for (const key of [...this.sent.keys()]) this.count(key, t);
  }
}

function refusal(message: string): SmsLimitRefusal {
  return { code: 'limit_reached', message };
}

/** The process-wide counters used when SkillServices.smsLimiter is not given. */
export const defaultSmsLimiter = new SmsLimiter();
