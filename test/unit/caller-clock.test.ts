/** CallerClock (src/conversation/caller-clock.ts): where a real-time caller's channel is while its frames are late. */
import { CallerClock, MAX_STALE_CLOCK_MS, STALE_CLOCK_MS } from '../../src/conversation/caller-clock';

/** Feeds `ms` of 20 ms frames arriving in real time from call time `from` (performance.now() = at). */
function realtime(clock: CallerClock, from: number, ms: number, at: number): { endMs: number; at: number } {
  let end = from;
  for (let t = 0; t < ms; t += 20) {
    end = from + t + 20;
    clock.frame(end, at + t + 20);
  }
  return { endMs: end, at: at + ms };
}

describe('CallerClock', () => {
  it('is the call clock while frames are on time or a little late', () => {
    const clock = new CallerClock();
    const { endMs, at } = realtime(clock, 0, 2000, 1000);
    expect(clock.nowMs(endMs, at)).toBe(endMs);
    expect(clock.nowMs(endMs, at + STALE_CLOCK_MS)).toBe(endMs);
  });

  it('runs on in real time while a real-time caller’s frames are late, up to the cap', () => {
    const clock = new CallerClock();
    const { endMs, at } = realtime(clock, 0, 2000, 1000);
    expect(clock.nowMs(endMs, at + 525)).toBe(endMs + 525);
    expect(clock.nowMs(endMs, at + 10_000)).toBe(endMs + MAX_STALE_CLOCK_MS);
    // Once the late frames are handled, the call clock is right again.
    clock.frame(endMs + 540, at + 530);
    expect(clock.nowMs(endMs + 540, at + 530)).toBe(endMs + 540);
  });

  it('takes a caller whose media does not follow real time (a whole utterance at once) at its clock', () => {
    const clock = new CallerClock();
    for (let t = 20; t <= 3000; t += 20) clock.frame(t, 1000); // 3 s of audio in one instant
    expect(clock.nowMs(3000, 1600)).toBe(3000);
  });
});
