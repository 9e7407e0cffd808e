import { SegmentPages } from '../../src/audio/block-pool';

/** The recorders' shared pages for agent look-ahead (src/audio/block-pool.ts). */
describe('SegmentPages', () => {
  const bytes = (n: number, value: number): Uint8Array => new Uint8Array(n).fill(value);

  it('copies chunks side by side into one page, each view holding exactly its own bytes', () => {
    const pages = new SegmentPages(1024, 4);
    const source = bytes(300, 7);
    const a = pages.copy(source, 100, 300);
    source.fill(9); // the caller reuses its memory (a frame ring): the copy keeps what it had
    const b = pages.copy(bytes(100, 3), 0, 100);
    expect(a.length).toBe(200);
    expect(a.every((v) => v === 7)).toBe(true);
    expect(b.every((v) => v === 3)).toBe(true);
    expect(a.buffer).toBe(b.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + 200);
    expect(pages.stats).toEqual({ inUse: 1, spare: 0 });
  });

  it('reuses a page only once every view of it is released', () => {
    const pages = new SegmentPages(256, 4);
    const first = pages.copy(bytes(200, 1), 0, 200);
    const second = pages.copy(bytes(200, 2), 0, 200); // does not fit: a second page
    expect(second.buffer).not.toBe(first.buffer);
    expect(pages.stats).toEqual({ inUse: 2, spare: 0 });
    const third = pages.copy(bytes(50, 3), 0, 50); // fits the second page
    expect(third.buffer).toBe(second.buffer);
    pages.release(first.subarray(0, 10)); // a trimmed view counts as the view
    expect(pages.stats).toEqual({ inUse: 1, spare: 1 });
    pages.release(first); // a second release of the same page does nothing
    expect(pages.stats).toEqual({ inUse: 1, spare: 1 });
    const fourth = pages.copy(bytes(100, 4), 0, 100); // the second page is full: the spare comes back
    expect(fourth.buffer).toBe(first.buffer);
    expect(third.every((v) => v === 3)).toBe(true);
    expect(second.every((v) => v === 2)).toBe(true);
  });

  it('starts the current page over when its last view is released', () => {
    const pages = new SegmentPages(256, 4);
    const a = pages.copy(bytes(200, 1), 0, 200);
    pages.release(a);
    const b = pages.copy(bytes(200, 2), 0, 200);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(0);
    expect(pages.stats).toEqual({ inUse: 1, spare: 0 });
  });

  it('keeps a bounded number of spare pages and copies an oversized chunk on its own', () => {
    const pages = new SegmentPages(64, 2);
    const views = Array.from({ length: 5 }, (_, i) => pages.copy(bytes(64, i), 0, 64));
    for (const v of views) pages.release(v);
    expect(pages.stats.spare).toBe(2);
    const big = pages.copy(bytes(100, 5), 0, 100);
    expect(big.length).toBe(100);
    expect(big.buffer.byteLength).toBe(100);
    pages.release(big); // not a page: ignored
    expect(pages.stats.spare).toBe(2);
  });
});
