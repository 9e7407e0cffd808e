import { MulawFramer } from '../../src/audio/framer';

function bytes(length: number, start = 0): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (start + i) & 0xff;
  return out;
}

describe('MulawFramer', () => {
  it('holds back less than a frame and releases whole frames in order', () => {
    const framer = new MulawFramer();
    expect(framer.push(bytes(100, 0))).toBeNull();
    expect(framer.pendingBytes).toBe(100);
    const out = framer.push(bytes(100, 100));
    expect(out).not.toBeNull();
    expect(out).toEqual(bytes(160, 0));
    expect(framer.pendingBytes).toBe(40);
    const next = framer.push(bytes(400, 200));
    expect(next).toEqual(bytes(320, 160)); // 40 held + 280 new = 2 frames; 120 left
    expect(framer.pendingBytes).toBe(120);
  });

  it('returns the pushed chunk itself (no copy) when nothing is pending', () => {
    const framer = new MulawFramer();
    const chunk = bytes(480);
    expect(framer.push(chunk)).toBe(chunk);
    const longer = bytes(500);
    const out = framer.push(longer);
    expect(out?.buffer).toBe(longer.buffer); // a view on the same memory
    expect(out).toHaveLength(480);
    expect(framer.pendingBytes).toBe(20);
  });

  it('keeps its remainder safe when the caller reuses the chunk buffer', () => {
    const framer = new MulawFramer();
    const reused = bytes(170, 0);
    framer.push(reused); // 160 out, 10 held
    reused.fill(0);
    expect(framer.flush(false)).toEqual(bytes(10, 160));
  });

  it('pads the remainder with mu-law silence on flush', () => {
    const framer = new MulawFramer();
    framer.push(bytes(50));
    const padded = framer.flush();
    expect(padded).toHaveLength(160);
    expect(padded?.subarray(0, 50)).toEqual(bytes(50));
    expect(padded?.subarray(50).every((b) => b === 0xff)).toBe(true);
    expect(framer.flush()).toBeNull();
  });

  it('drops the remainder on reset (barge-in)', () => {
    const framer = new MulawFramer();
    framer.push(bytes(150));
    framer.reset();
    expect(framer.pendingBytes).toBe(0);
    expect(framer.flush()).toBeNull();
    expect(framer.push(bytes(160, 7))).toEqual(bytes(160, 7));
  });

  it('reassembles a stream cut at random sizes into the same bytes, in whole frames', () => {
    const stream = bytes(10_007);
    const framer = new MulawFramer();
    const parts: Buffer[] = [];
    let seed = 42;
    for (let offset = 0; offset < stream.length;) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const size = 1 + (seed % 700);
      const out = framer.push(stream.subarray(offset, offset + size));
      if (out) {
        expect(out.length % 160).toBe(0);
        parts.push(Buffer.from(out));
      }
      offset += size;
    }
    const tail = framer.flush(false);
    if (tail) parts.push(tail);
    expect(Buffer.concat(parts)).toEqual(stream);
  });

  it('rejects a bad frame size at construction', () => {
    expect(() => new MulawFramer(0)).toThrow(RangeError);
    expect(() => new MulawFramer(1.5)).toThrow(RangeError);
  });
});
