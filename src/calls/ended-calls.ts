/**
 * The calls this process ended lately, by provider call id: what a status callback that arrives
 * after the end needs without reading the call back from the database.
 *
 * Twilio's final status callback (`completed`, with the billed CallDuration) usually comes after the
 * media stream has stopped and the call has been ended here: before, answering it cost two reads
 * through the writer thread (by CallSid, then by id) before its one write. Only facts that cannot
 * change are kept (the call's id and its final status: no status ever leaves a final one), so an
 * entry is right on every instance of a cluster and after any other change to the row (an erasure,
 * metadata): nothing here is ever served as the call itself.
 *
 * Bounded: entries older than `ttlMs` or beyond `max` (the oldest first) are forgotten; a callback
 * that comes later reads the database as before.
 */
import type { CallStatus } from './call-status';

export const ENDED_CALLS_TTL_MS = 10 * 60 * 1000;
export const ENDED_CALLS_MAX = 5000;

export interface EndedCall {
  id: string;
  /** The final status the call ended with. */
  status: CallStatus;
}

interface Entry extends EndedCall {
  at: number;
}

export class EndedCalls {
  /** By provider call id, oldest first (a Map keeps insertion order). */
  private readonly bySid = new Map<string, Entry>();

  constructor(
    private readonly ttlMs = ENDED_CALLS_TTL_MS,
    private readonly max = ENDED_CALLS_MAX,
    private readonly now: () => number = Date.now,
  ) {}

  remember(callSid: string, call: EndedCall): void {
    const at = this.now();
    this.bySid.delete(callSid);
    this.bySid.set(callSid, { id: call.id, status: call.status, at });
    this.evict(at);
  }

  get(callSid: string): EndedCall | undefined {
    const entry = this.bySid.get(callSid);
    if (!entry) return undefined;
    if (this.now() - entry.at > this.ttlMs) {
      this.bySid.delete(callSid);
      return undefined;
    }
    return { id: entry.id, status: entry.status };
  }

  get size(): number {
    return this.bySid.size;
  }

  private evict(now: number): void {
    for (const [sid, entry] of this.bySid) {
      if (this.bySid.size <= this.max && now - entry.at <= this.ttlMs) break;
      this.bySid.delete(sid);
    }
  }
}
