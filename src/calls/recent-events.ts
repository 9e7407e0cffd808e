/** Times of recent timeline events by type (the ai.* ones, for /health): the last 10 minutes, at most 1000 per type. */
const KEPT_MS = 10 * 60 * 1000;
const KEPT_MAX = 1000;

export class RecentEvents {
  private readonly times = new Map<string, number[]>();

  note(type: string): void {
    let times = this.times.get(type);
    if (!times) this.times.set(type, (times = []));
    const now = Date.now();
    times.push(now);
    while (times.length > KEPT_MAX || (times.length > 0 && times[0] < now - KEPT_MS)) times.shift();
  }

  /** How many of this type in the last `windowMs`. */
  count(type: string, windowMs: number): number {
    const times = this.times.get(type);
    if (!times) return 0;
    const since = Date.now() - windowMs;
    let n = 0;
    for (const t of times) if (t >= since) n++;
    return n;
  }
}
