import { UnplayedAudio } from '../../src/conversation/unplayed-audio';

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
