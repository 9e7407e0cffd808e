import { AgentPlayout } from '../../src/conversation/agent-playout';
import type { AgentTurns } from '../../src/conversation/agent-turns';
import { PCMU_8K } from '../../src/conversation/audio-format';
import type { CallStats } from '../../src/conversation/call-stats';
import type { CallerChannel } from '../../src/conversation/channel';
import { PlaybackTracker } from '../../src/conversation/playback-tracker';
import { MAX_SPARE_RINGS, UnplayedAudio, spareRings } from '../../src/conversation/unplayed-audio';

/** A chunk of n bytes, all of value v (v identifies it). */
const chunk = (n: number, v: number) => Buffer.alloc(n, v);

describe('UnplayedAudio', () => {
  it('keeps copies, not views of the sent chunks, and gives back what still plays, oldest first', () => {
    const kept = new UnplayedAudio(1000);
    const pool = Buffer.alloc(8192, 0); // like a Buffer-pool slab the engine's audio was decoded into
    const first = pool.subarray(0, 100).fill(1);
    kept.add(first, 0, 100);
    kept.add(pool.subarray(100, 200).fill(2), 100, 200);
    kept.add(pool.subarray(200, 300).fill(3), 200, 300);
    pool.fill(9); // the slab is reused: what was kept must not change
    const all = kept.from(0);
    expect(all.map((u) => u.playAtMs)).toEqual([0, 100, 200]);
    expect(all.map((u) => [u.chunk.length, u.chunk[0], u.chunk[99]])).toEqual([
      [100, 1, 1],
      [100, 2, 2],
      [100, 3, 3],
    ]);
    expect(all[0].chunk.buffer).not.toBe(pool.buffer);
    // Call time 150: the first chunk is over, the second plays on.
    expect(kept.from(150).map((u) => u.playAtMs)).toEqual([100, 200]);
    kept.dropPlayed(200);
    expect(kept.chunks).toBe(1);
    expect(kept.from(0).map((u) => u.chunk[0])).toEqual([3]);
  });

  it('drops the oldest chunks when the ring needs their bytes, and keeps the rest intact across the wrap', () => {
    const kept = new UnplayedAudio(350);
    for (let i = 0; i < 5; i++) kept.add(chunk(100, i + 1), i * 100, (i + 1) * 100);
    // 350 bytes hold three 100-byte chunks: 4 overwrote 1 (wrap to 0), 5 overwrote 2.
    const left = kept.from(0);
    expect(left.map((u) => u.playAtMs)).toEqual([200, 300, 400]);
    for (const u of left) expect(u.chunk.equals(chunk(100, u.playAtMs / 100 + 1))).toBe(true);
  });

  it('forgets everything on clear and ignores chunks larger than the ring', () => {
    const kept = new UnplayedAudio(200);
    kept.add(chunk(150, 1), 0, 150);
    kept.add(chunk(201, 2), 150, 351);
    expect(kept.from(0).map((u) => u.chunk.length)).toEqual([150]);
    kept.clear();
    expect(kept.from(0)).toEqual([]);
    kept.add(chunk(200, 7), 1000, 1200);
    expect(kept.from(0).map((u) => [u.playAtMs, u.chunk[199]])).toEqual([[1000, 7]]);
  });

  it('keeps at most 128 chunks, the newest', () => {
    const kept = new UnplayedAudio(100_000);
    for (let i = 0; i < 200; i++) kept.add(chunk(10, i % 256), i, i + 1);
    const left = kept.from(0);
    expect(left).toHaveLength(128);
    expect(left[0].playAtMs).toBe(72);
    expect(left[127].chunk[0]).toBe(199);
  });
});

describe('UnplayedAudio rings leased while an answer plays', () => {
  // A size no other test uses, so the shared pool's counts are this test's own.
  const size = 4321;

  it('gives the ring back once everything kept has played; a ring reused by another call shows only that call audio', () => {
    const a = new UnplayedAudio(size);
    const b = new UnplayedAudio(size);
    expect(a.holdsRing).toBe(false);
    a.add(chunk(100, 1), 0, 100);
    a.add(chunk(100, 2), 100, 200);
    expect(a.holdsRing).toBe(true);
    const spareBefore = spareRings(size);
    a.dropPlayed(150);
    expect(a.holdsRing).toBe(true); // the second chunk still plays
    a.dropPlayed(200);
    expect(a.holdsRing).toBe(false);
    expect(spareRings(size)).toBe(spareBefore + 1);
    expect(a.from(0)).toEqual([]);
    b.add(chunk(50, 7), 1000, 1050);
    expect(spareRings(size)).toBe(spareBefore); // b took the ring a gave back
    expect(b.from(0).map((u) => [u.playAtMs, u.chunk.length, u.chunk.every((x) => x === 7)])).toEqual([[1000, 50, true]]);
    b.clear();
    expect(b.holdsRing).toBe(false);
  });

  it('keeps its ring while a wrap drops every older chunk, so no other call can write into it', () => {
    const a = new UnplayedAudio(200);
    a.add(chunk(150, 1), 0, 150);
    a.add(chunk(150, 2), 150, 300); // wraps: the first chunk is dropped to make room, the ring stays
    const other = new UnplayedAudio(200);
    other.add(chunk(150, 3), 0, 150);
    expect(a.from(0).map((u) => [u.playAtMs, u.chunk.every((x) => x === 2)])).toEqual([[150, true]]);
    other.clear();
    a.clear();
  });

  it('keeps at most MAX_SPARE_RINGS spare rings of a size', () => {
    const many = Array.from({ length: MAX_SPARE_RINGS + 5 }, () => new UnplayedAudio(999));
    for (const u of many) u.add(chunk(10, 1), 0, 10);
    for (const u of many) u.clear();
    expect(spareRings(999)).toBe(MAX_SPARE_RINGS);
  });
});

describe('AgentPlayout and the listeners ring', () => {
  function playout(): { p: AgentPlayout; tracker: PlaybackTracker; marks: string[] } {
    const marks: string[] = [];
    const channel = { sendAudio: (_c: Buffer, marker: string) => marks.push(marker), clear: () => undefined } as unknown as CallerChannel;
    const turns = { item: () => ({ sentMs: 0, firstPlayAtMs: undefined }) } as unknown as AgentTurns;
    const stats = { agentResponded: () => undefined, counts: { framesOut: 0 } } as unknown as CallStats;
    const tracker = new PlaybackTracker();
    return { p: new AgentPlayout(channel, PCMU_8K, tracker, turns, stats, undefined, undefined), tracker, marks };
  }

  it('keeps sent audio for a listener until the channel has played all of it, then gives the ring back', () => {
    const { p, marks } = playout();
    p.play('item1', 'resp1', Buffer.alloc(1600, 0x55), 0); // 200 ms: two chunks of 100 ms
    expect(marks).toHaveLength(2);
    expect(p.unplayedAudio(0).map((u) => [u.playAtMs, u.chunk.length])).toEqual([
      [0, 800],
      [100, 800],
    ]);
    p.acknowledge(marks[0]);
    expect(p.unplayedAudio(0)).toHaveLength(2); // the second chunk has not played yet
    p.acknowledge(marks[1]);
    expect(p.unplayedAudio(0)).toEqual([]); // all played: nothing kept, the ring is back in the pool
    p.play('item2', 'resp2', Buffer.alloc(800, 0x66), 200);
    expect(p.unplayedAudio(0).map((u) => [u.playAtMs, u.chunk[0]])).toEqual([[200, 0x66]]);
    p.close();
    expect(p.unplayedAudio(0)).toEqual([]);
  });
});
