/**
 * Callees for campaign tests, behind the fake Twilio REST API: each created call is answered the
 * way Twilio would, per number, with signed webhooks to our server: `answer` (status callbacks
 * in-progress then completed after `holdMs`), `busy` / `no-answer` (one final status callback),
 * `machine` (the answer webhook with AnsweredBy=machine_end_beep, its TwiML kept, then completed).
 * Tracks how many calls are up at once and every dial's time.
 */
import twilio from 'twilio';
import type { FakeTwilioRest } from './fake-twilio-rest';

export type CalleeBehaviour = 'answer' | 'busy' | 'no-answer' | 'machine';

export interface Dial {
  to: string;
  sid: string;
  at: number;
  params: Record<string, string | string[]>;
}

export interface CampaignCallees {
  dials: Dial[];
  /** Largest number of calls up at once. */
  maxConcurrent: number;
  /** TwiML our server answered to machine-answered calls, by number. */
  machineTwiml: Map<string, string>;
  /** Webhooks that failed (status, path). */
  errors: string[];
  /** Waits for every call in progress to finish its webhooks. */
  settled(): Promise<void>;
}

export function attachCallees(
  fake: FakeTwilioRest,
  opts: {
    baseUrl: () => string;
    publicUrl: string;
    authToken: string;
    accountSid: string;
    behaviour: (to: string, attempt: number) => CalleeBehaviour;
    holdMs?: number;
  },
): CampaignCallees {
  let up = 0;
  const pending = new Set<Promise<void>>();
  const attempts = new Map<string, number>();
  const out: CampaignCallees = {
    dials: [],
    maxConcurrent: 0,
    machineTwiml: new Map(),
    errors: [],
    settled: async () => {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };

  const post = async (url: string, params: Record<string, string>): Promise<{ status: number; text: string }> => {
    const u = new URL(url);
    const signature = twilio.getExpectedTwilioSignature(opts.authToken, url, params);
    const res = await fetch(`${opts.baseUrl()}${u.pathname}${u.search}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params).toString(),
    });
    const text = await res.text();
    if (res.status >= 400) out.errors.push(`${res.status} ${u.pathname}`);
    return { status: res.status, text };
  };

  const run = async (sid: string, params: Record<string, string | string[]>): Promise<void> => {
    const to = String(params.To);
    const attempt = (attempts.get(to) ?? 0) + 1;
    attempts.set(to, attempt);
    const base = {
      CallSid: sid,
      AccountSid: opts.accountSid,
      From: String(params.From),
      To: to,
      Direction: 'outbound-api',
    };
    const statusUrl = String(params.StatusCallback);
    const behaviour = opts.behaviour(to, attempt);
    await new Promise((r) => setTimeout(r, 20));
    if (behaviour === 'busy' || behaviour === 'no-answer') {
      await post(statusUrl, { ...base, CallStatus: behaviour, CallDuration: '0' });
      return;
    }
    up++;
    out.maxConcurrent = Math.max(out.maxConcurrent, up);
    try {
      if (behaviour === 'machine') {
        const answer = await post(String(params.Url), {
          ...base,
          CallStatus: 'in-progress',
          AnsweredBy: 'machine_end_beep',
        });
        out.machineTwiml.set(to, answer.text);
      } else {
        await post(statusUrl, { ...base, CallStatus: 'in-progress' });
      }
      await new Promise((r) => setTimeout(r, opts.holdMs ?? 150));
    } finally {
      up--;
    }
    await post(statusUrl, { ...base, CallStatus: 'completed', CallDuration: '3' });
  };

  fake.onCallCreated = ({ sid, params }) => {
    out.dials.push({ to: String(params.To), sid, at: Date.now(), params });
    const p = run(sid, params).catch((err: unknown) => {
      out.errors.push((err as Error).message);
    });
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  return out;
}

/** An Etc/GMT zone whose local hour is now `hour` (±0..59 minutes). */
export function zoneWithLocalHour(hour: number, now = new Date()): string {
  let offset = (((hour - now.getUTCHours()) % 24) + 24) % 24;
  if (offset > 14) offset -= 24;
  if (offset === 0) return 'Etc/GMT';
  // Etc/GMT-N is UTC+N.
  return offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}
