import { EchoEngine } from '../../src/engines/echo/echo-engine';

function frame(tag: number): Buffer {
  const b = Buffer.alloc(160, 0xff);
  b.writeUInt16BE(tag, 0);
  return b;
}

async function sendFrames(engine: EchoEngine, count: number): Promise<number[]> {
  const sentAt: number[] = [];
  for (let i = 0; i < count; i++) {
    sentAt.push(performance.now());
    engine.appendAudio(frame(i), undefined, (i + 1) * 20);
    await new Promise((r) => setTimeout(r, 20));
  }
  return sentAt;
}

describe('echo engine', () => {
  it('plays every caller frame back, unchanged and in order, after the configured delay', async () => {
    const engine = new EchoEngine({ delayMs: 200 });
    const got: { tag: number; at: number; item: string }[] = [];
    const done: string[] = [];
    engine.on('agent-audio', (itemId, _r, bytes, at) => got.push({ tag: bytes.readUInt16BE(0), at, item: itemId }));
    engine.on('response-done', (s) => done.push(s.status));
    await engine.start();
    const sentAt = await sendFrames(engine, 20);
    await new Promise((r) => setTimeout(r, 400));
    expect(got.map((g) => g.tag)).toEqual([...Array(20).keys()]);
    const delays = got.map((g, i) => g.at - sentAt[i]);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(195);
    expect(Math.max(...delays)).toBeLessThan(200 + 400); // generous: a loaded machine delays timers
    expect(new Set(got.map((g) => g.item)).size).toBe(1);
    expect(done).toEqual(['completed']);
    engine.close();
  });

  it('keeps a copy: a channel reusing its buffer does not change what is played back', async () => {
    const engine = new EchoEngine({ delayMs: 30 });
    const got: Buffer[] = [];
    engine.on('agent-audio', (_i, _r, bytes) => got.push(bytes));
    const shared = frame(7);
    engine.appendAudio(shared, undefined, 20);
    shared.fill(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(got[0].readUInt16BE(0)).toBe(7);
    engine.close();
  });

  it('truncate drops the audio not yet played and ends the item as cancelled', async () => {
    const engine = new EchoEngine({ delayMs: 100 });
    const got: string[] = [];
    const done: string[] = [];
    engine.on('agent-audio', (itemId) => got.push(itemId));
    engine.on('response-done', (s) => done.push(s.status));
    await sendFrames(engine, 10);
    expect(got.length).toBeGreaterThan(0);
    const played = got.length;
    engine.truncate(got[0], 20);
    await new Promise((r) => setTimeout(r, 200));
    expect(got.length).toBe(played);
    expect(done).toEqual(['cancelled']);
    engine.close();
  });

  it('bounds the audio it holds (a flood is dropped and counted, not buffered without end)', () => {
    const engine = new EchoEngine({ delayMs: 10_000 });
    for (let i = 0; i < 1500; i++) engine.appendAudio(frame(i), undefined, i * 20);
    expect(engine.dropped).toBe(500);
    engine.close();
  });
});
