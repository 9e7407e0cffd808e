/**
 * CallerClock: where a caller's channel is now, in call time, when its frames are late (see the
 * class). AgentPlayout places agent audio, and cuts it at a barge-in, at this position, so the
 * recording and supervisors listening in hear the agent where the caller did.
 */
/** Caller frames this much later than due (a missed frame or two is jitter) mean the call's clock is stale. */
export const STALE_CLOCK_MS = 60;
/** At most this much is added to a stale clock (a caller whose frames stop for longer is not followed). */
export const MAX_STALE_CLOCK_MS = 2000;
/** The caller's media time is checked against real time over this much of it. */
const REALTIME_WINDOW_MS = 1000;

/**
 * Where the caller's channel is now, in call time. The call's clock is the end of the caller's
 * latest frame. A channel that streams in real time (a phone call, a browser) goes on playing
 * while its next frames are late (this thread stalled and handles the engine's audio before the
 * caller frames that queued meanwhile, or they are late on the network): the caller is then
 * further on by the time since that frame came, and agent audio sent now starts playing there. A
 * channel whose media time does not follow real time (a whole utterance at once, a simulated
 * caller's flood) is taken at its clock.
 */
export class CallerClock {
  private endMs = 0;
  private at: number | undefined;
  /** Start of the current check window (call time and performance.now()). */
  private windowMs = 0;
  private windowAt: number | undefined;
  /** The last whole window of caller media took at least half as long to arrive (real time). */
  private realtime = false;

  /** A caller frame ending at call time endMs arrived at receivedAt (performance.now()). */
  frame(endMs: number, receivedAt: number): void {
    this.endMs = endMs;
    this.at = receivedAt;
    if (this.windowAt === undefined) {
      this.windowMs = endMs;
      this.windowAt = receivedAt;
      return;
    }
    const mediaMs = endMs - this.windowMs;
    if (mediaMs < REALTIME_WINDOW_MS) return;
    this.realtime = receivedAt - this.windowAt >= mediaMs / 2;
    this.windowMs = endMs;
    this.windowAt = receivedAt;
  }

  /** The caller's call time now, given the call's clock (clockMs, the end of its latest frame). */
  nowMs(clockMs: number, now = performance.now()): number {
    if (!this.realtime || this.at === undefined) return clockMs;
    const lateMs = now - this.at;
    if (lateMs <= STALE_CLOCK_MS) return clockMs;
    return Math.max(clockMs, this.endMs + Math.round(Math.min(lateMs, MAX_STALE_CLOCK_MS)));
  }
}
