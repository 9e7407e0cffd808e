import { EchoEngine } from '../../src/engines/echo/echo-engine';

function frame(tag: number): Buffer {
  const b = Buffer.alloc(160, 0xff);
  b.writeUInt16BE(tag, 0);
  return b;
}

/** Sends frames at real pace, each stamped with the call time it ends at (as a channel does). */
async function sendFrames(engine: EchoEngine, count: number): Promise<number[]> {
  const sentAt: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const now = performance.now();
    sentAt.push(now);
    engine.appendAudio(frame(i), undefined, now - t0 + 20);
    await new Promise((r) => setTimeout(r, 20));
  }
  return sentAt;
}

/** A quiet mu-law frame (samples near zero) carrying `tag` in its first two bytes. */
function quietFrame(tag: number): Buffer {
  const b = Buffer.alloc(160, 0xff);
  b[0] = 0xe0 | (tag >> 5);
  b[1] = 0xe0 | (tag & 31);
  return b;
}
const quietTag = (b: Buffer): number => ((b[0] & 31) << 5) | (b[1] & 31);

/**
 * When a real-time player (the channel's pacer: one 20 ms frame after another, never two at once)
 * would start playing each emitted frame, in ms after `t0`.
 */
function pacedStarts(emittedAt: number[], t0: number): number[] {
  let free = 0;
  return emittedAt.map((at) => {
    const start = Math.max(free, at - t0);
    free = start + 20;
    return start;
  });
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

  it('a set-up stall does not become lasting delay: late frames are scheduled by their call time', async () => {
    const delayMs = 200;
    const engine = new EchoEngine({ delayMs });
    const got: { tag: number; at: number }[] = [];
    engine.on('agent-audio', (_i, _r, bytes, at) => got.push({ tag: quietTag(bytes), at }));
    const t0 = performance.now();
    // The first 400 ms of audio is held up and arrives at once (a stall while the call was set up)...
    await new Promise((r) => setTimeout(r, 400));
    for (let i = 0; i < 20; i++) engine.appendAudio(quietFrame(i), undefined, (i + 1) * 20);
    // ...then the audio flows at real pace, on time: frame i at call time (i + 1) * 20.
    const sentAt = new Map<number, number>();
    for (let i = 20; i < 60; i++) {
      const wait = t0 + i * 20 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      sentAt.set(i, performance.now());
      engine.appendAudio(quietFrame(i), undefined, (i + 1) * 20);
    }
    await new Promise((r) => setTimeout(r, delayMs + 300));
    engine.close();
    // Played in order; the frames too late to play on time were silence and were dropped.
    const tags = got.map((g) => g.tag);
    expect(tags).toEqual([...tags].sort((a, b) => a - b));
    expect(engine.lateDropped).toBeGreaterThan(0);
    // Every frame sent on time is played (a timer late by over 100 ms on a loaded machine may cost
    // one or two silent frames).
    const onTime = [...Array(40).keys()].map((i) => i + 20);
    expect(onTime.filter((tag) => !tags.includes(tag)).length).toBeLessThanOrEqual(2);
    // A paced player hears the on-time frames the echo delay after they were sent, not the stall
    // on top (arrival-time scheduling: about delay + 400 ms for every later frame).
    const starts = pacedStarts(
      got.map((g) => g.at),
      t0,
    );
    const heardDelays = got.flatMap((g, k) => (g.tag >= 30 ? [t0 + starts[k] - sentAt.get(g.tag)!] : []));
    expect(heardDelays.length).toBeGreaterThanOrEqual(28);
    expect(Math.min(...heardDelays)).toBeGreaterThanOrEqual(delayMs - 25);
    expect(Math.max(...heardDelays)).toBeLessThan(delayMs + 250); // generous: a loaded machine; the stall was 400
  });

  it('a late frame with sound is still played (only late silence is dropped)', async () => {
    const engine = new EchoEngine({ delayMs: 50 });
    const got: number[] = [];
    engine.on('agent-audio', (_i, _r, bytes) => got.push(bytes.readUInt16BE(0)));
    engine.appendAudio(frame(0), undefined, 20); // on time: sets the call-time → clock mapping
    await new Promise((r) => setTimeout(r, 300));
    // 250 ms of audio held up by a stall, all of it late by the time it arrives: loud, so played.
    for (let i = 1; i <= 12; i++) engine.appendAudio(frame(i), undefined, (i + 1) * 20);
    await new Promise((r) => setTimeout(r, 200));
    engine.close();
    expect(got).toEqual([...Array(13).keys()]);
    expect(engine.lateDropped).toBe(0);
  });

  it('bounds the audio it holds (a flood is dropped and counted, not buffered without end)', () => {
    const engine = new EchoEngine({ delayMs: 10_000 });
    for (let i = 0; i < 1500; i++) engine.appendAudio(frame(i), undefined, i * 20);
    expect(engine.dropped).toBe(500);
    engine.close();
  });
});
