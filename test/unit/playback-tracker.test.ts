import { PlaybackTracker } from '../../src/conversation/playback-tracker';

describe('PlaybackTracker', () => {
  it('advances the heard position of an item only as its marks are echoed', () => {
    const t = new PlaybackTracker();
    const m1 = t.sent('item_a', 100);
    const m2 = t.sent('item_a', 100);
    expect(t.hasUnplayedAudio()).toBe(true);
    expect(t.unplayedMs()).toBe(200);
    expect(t.acknowledge(m1)).toEqual({ itemId: 'item_a', msPlayed: 100, itemFinished: false });
    expect(t.unplayedMs()).toBe(100);
    expect(t.acknowledge(m2)).toEqual({ itemId: 'item_a', msPlayed: 200, itemFinished: true });
    expect(t.hasUnplayedAudio()).toBe(false);
  });

  it('treats an echoed mark as proof that every earlier mark played too', () => {
    const t = new PlaybackTracker();
    t.sent('item_a', 60);
    t.sent('item_a', 60);
    const m3 = t.sent('item_a', 60);
    expect(t.acknowledge(m3)?.msPlayed).toBe(180);
    expect(t.hasUnplayedAudio()).toBe(false);
  });

  it('truncates one item at its last acknowledged playback position on a barge-in', () => {
    const t = new PlaybackTracker();
    const m1 = t.sent('item_a', 100);
    t.sent('item_a', 100);
    t.sent('item_a', 100);
    t.acknowledge(m1);
    expect(t.cut()).toEqual({ itemId: 'item_a', audioEndMs: 100, msSent: 300 });
    expect(t.hasUnplayedAudio()).toBe(false);
  });

  it('truncates at 0 when nothing of the item was acknowledged yet', () => {
    const t = new PlaybackTracker();
    t.sent('item_b', 100);
    expect(t.cut()).toEqual({ itemId: 'item_b', audioEndMs: 0, msSent: 100 });
  });

  it('ignores marks of an earlier generation (echoed by Twilio after a clear)', () => {
    const t = new PlaybackTracker();
    const old1 = t.sent('item_a', 100);
    const old2 = t.sent('item_a', 100);
    t.cut();
    const fresh = t.sent('item_c', 100);
    expect(t.acknowledge(old1)).toBeUndefined();
    expect(t.acknowledge(old2)).toBeUndefined();
    expect(t.staleMarks).toBe(2);
    expect(t.item('item_a')?.msPlayed).toBe(0);
    expect(t.acknowledge(fresh)?.msPlayed).toBe(100);
  });

  it('returns nothing to truncate when all sent audio was heard', () => {
    const t = new PlaybackTracker();
    const m = t.sent('item_a', 100);
    t.acknowledge(m);
    expect(t.cut()).toBeUndefined();
  });

  it('counts unknown mark names without throwing', () => {
    const t = new PlaybackTracker();
    expect(t.acknowledge('garbage')).toBeUndefined();
    expect(t.acknowledge('0.999')).toBeUndefined();
    expect(t.unknownMarks).toBe(2);
  });

  it('keeps memory bounded over thousands of chunks', () => {
    const t = new PlaybackTracker();
    for (let i = 0; i < 10000; i++) t.acknowledge(t.sent('item_long', 20));
    expect((t as unknown as { pending: unknown[] }).pending.length).toBeLessThan(600);
    expect(t.item('item_long')?.msPlayed).toBe(200000);
  });
});
