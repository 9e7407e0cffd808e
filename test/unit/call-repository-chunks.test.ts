import { MAX_CHUNK_ROWS, powerOfTwoChunks } from '../../src/db/call-repository';

describe('powerOfTwoChunks', () => {
  it('splits any batch into power-of-two chunks, in order, losing nothing', () => {
    const sizes = new Set<number>();
    for (let n = 0; n <= 1000; n++) {
      const rows = Array.from({ length: n }, (_, i) => i);
      const chunks = powerOfTwoChunks(rows);
      expect(chunks.flat()).toEqual(rows);
      for (const c of chunks) sizes.add(c.length);
    }
    // Only a handful of distinct createMany shapes, whatever the batch sizes.
    expect([...sizes].sort((a, b) => a - b)).toEqual([1, 2, 4, 8, 16, 32, MAX_CHUNK_ROWS]);
  });

  it('uses few chunks: whole 64s, then the binary digits of the rest', () => {
    expect(powerOfTwoChunks(Array.from({ length: 45 }, () => 0)).map((c) => c.length)).toEqual([32, 8, 4, 1]);
    expect(powerOfTwoChunks(Array.from({ length: 130 }, () => 0)).map((c) => c.length)).toEqual([64, 64, 2]);
  });
});
