import fs from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeMulaw, encodeMulaw } from '../../src/audio/g711';
import { sineInt16 } from '../../src/audio/tone';
import { agentPages, BlockPool, recorderBlocks } from '../../src/audio/block-pool';
import { POOL_AFTER_SLOW_MS, syncWriteStats } from '../../src/audio/sync-writes';
import { StereoWavRecorder } from '../../src/audio/wav-recorder';

/** Disk writes of the recorder: coalesced into flushMs blocks, never one per 500 ms chunk. */
describe('StereoWavRecorder disk writes', () => {
  let dir: string;
  let writeSpy: jest.SpyInstance;
  /** Positions of every FileHandle.write (0 = a header patch). */
  let positions: number[];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wav-writes-'));
    const probe = await open(path.join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    const original = proto.write;
    writeSpy = jest.spyOn(proto, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      positions.push(typeof args[3] === 'number' ? args[3] : -1);
      return original.apply(this, args);
    });
  });
  afterAll(async () => {
    writeSpy.mockRestore();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    positions = [];
  });

  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));
  const tone = encodeMulaw(sineInt16(400, 8000, 1000, 0.5));
  function feed(recorder: StereoWavRecorder, fromMs: number, toMs: number): void {
    for (let ms = fromMs; ms < toMs; ms += 20)
      recorder.writeCaller(tone.subarray((ms * 8) % 8000, ((ms * 8) % 8000) + 160), ms);
  }

  it('writes 10 s of a call in 1 s blocks (10 data writes, not 20), in place and complete', async () => {
    const file = path.join(dir, 'ten.wav');
    const recorder = await StereoWavRecorder.open(file);
    positions = [];
    for (let second = 0; second < 10; second++) {
      feed(recorder, second * 1000, second * 1000 + 1000);
      recorder.writeAgent(tone.subarray(0, 800), second * 1000 + 100);
      await settle(); // the disk keeps up between seconds, as between socket events
    }
    const result = await recorder.close();
    const dataWrites = positions.filter((p) => p > 0);
    expect(dataWrites.length).toBe(10); // 9 full blocks while the call runs + the rest at close
    expect(dataWrites.slice(0, 9)).toEqual(Array.from({ length: 9 }, (_, i) => 44 + i * 32000));
    expect(result.sizeBytes).toBe(44 + 10_000 * 32);
    const bytes = await readFile(file);
    expect(bytes.length).toBe(result.sizeBytes);
    const samples = new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length));
    const decodedTone = decodeMulaw(tone);
    for (const at of [0, 7999, 8000, 40_123, 79_999]) {
      expect(samples[2 * at]).toBe(decodedTone[at % 8000]); // caller, left
    }
    expect(samples[2 * 800 + 1]).toBe(decodedTone[0]); // agent at 100 ms, right
    expect(samples[2 * 8800 + 1]).toBe(decodedTone[0]); // and at 1100 ms
    expect(samples[2 * 1600 + 1]).toBe(0);
  });

  it('drain() writes a partly filled block at once', async () => {
    const file = path.join(dir, 'drain.wav');
    const recorder = await StereoWavRecorder.open(file);
    feed(recorder, 0, 1300); // 500 ms committed (window 1 s), not a full block
    await settle();
    expect((await stat(file)).size).toBe(44); // held, not yet one write per chunk
    await recorder.drain();
    expect(recorder.stats.bytesWritten).toBe(500 * 32);
    expect((await stat(file)).size).toBe(44 + 500 * 32);
    await recorder.close();
  });

  it('a silent stretch flushes the block before it and costs no buffer', async () => {
    const file = path.join(dir, 'gap.wav');
    const recorder = await StereoWavRecorder.open(file);
    feed(recorder, 0, 600);
    feed(recorder, 60_000, 61_000); // a minute of nothing, then caller audio again
    const result = await recorder.close();
    expect(result.sizeBytes).toBe(44 + 61_000 * 32);
    const bytes = await readFile(file);
    const samples = new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length));
    expect(samples[2 * 100]).toBe(decodeMulaw(tone)[100]);
    expect(samples[2 * 30 * 8000]).toBe(0);
    expect(samples[2 * 60 * 8000 + 2 * 100]).toBe(decodeMulaw(tone)[100]);
  });

  it('reuses its written blocks without carrying their audio into later seconds', async () => {
    const file = path.join(dir, 'reuse.wav');
    const recorder = await StereoWavRecorder.open(file);
    const silence = Buffer.alloc(160, 0xff); // mu-law 0xff decodes to 0
    for (let second = 0; second < 6; second++) {
      if (second < 2) feed(recorder, second * 1000, second * 1000 + 1000);
      else for (let ms = second * 1000; ms < second * 1000 + 1000; ms += 20) recorder.writeCaller(silence, ms);
      if (second === 0) recorder.writeAgent(tone, 0); // a whole second of agent audio
      if (second === 3) recorder.writeAgent(tone.subarray(0, 80), 3500); // 10 ms of it
      await settle();
    }
    await recorder.close();
    const bytes = await readFile(file);
    const samples = new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length));
    const decodedTone = decodeMulaw(tone);
    expect(samples[2 * 4000 + 1]).toBe(decodedTone[4000]); // second 0: agent audio
    expect(samples[2 * 8100]).toBe(decodedTone[100]); // second 1: caller audio
    const stray: number[] = [];
    for (let frame = 2 * 8000; frame < 6 * 8000; frame++) {
      const inAgentBurst = frame >= 3.5 * 8000 && frame < 3.5 * 8000 + 80;
      if (samples[2 * frame] !== 0 || (!inAgentBurst && samples[2 * frame + 1] !== 0)) stray.push(frame);
    }
    expect(stray).toEqual([]);
    expect(samples[2 * (3.5 * 8000 + 10) + 1]).toBe(decodedTone[10]);
  });

  it("shares written blocks between recorders, never carrying one call's audio into another's file", async () => {
    const first = await StereoWavRecorder.open(path.join(dir, 'first.wav'));
    for (let second = 0; second < 3; second++) {
      feed(first, second * 1000, second * 1000 + 1000);
      first.writeAgent(tone, second * 1000);
      await settle();
    }
    await first.close();
    const spares = recorderBlocks.spares;
    expect(spares).toBeGreaterThanOrEqual(1); // its written blocks wait for the next recorder
    const file = path.join(dir, 'second.wav');
    const second = await StereoWavRecorder.open(file);
    const silence = Buffer.alloc(160, 0xff);
    for (let ms = 0; ms < 2000; ms += 20) second.writeCaller(silence, ms);
    expect(recorderBlocks.spares).toBeLessThan(spares); // its blocks came from the pool
    await settle();
    await second.close();
    const bytes = await readFile(file);
    const samples = new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length));
    expect(samples.length).toBe(2 * 16000);
    expect(samples.some((v) => v !== 0)).toBe(false); // silence both sides: nothing of the first call
  });

  it("holds calls' agent audio in shared pages without mixing one call's into another's file, and gives the pages back", async () => {
    const codes = [0x10, 0x30, 0x50, 0x70]; // call i's chunk k is the mu-law code codes[i] + k % 16 throughout
    const cutAtMs = [undefined, 1500, 2500, undefined];
    const recorders = await Promise.all(codes.map((_, i) => StereoWavRecorder.open(path.join(dir, `shared-${i}.wav`))));
    // Each answer (3 s in 100 ms chunks, from 200 ms on) arrives at twice its pace, so pages are freed
    // and reused while other audio in them still waits; the calls' chunks are interleaved.
    const silence = Buffer.alloc(160, 0xff);
    let chunk = 0;
    let peakPages = 0;
    for (let ms = 0; ms < 4000; ms += 20) {
      if (ms % 100 === 0) {
        for (let k = chunk; k < Math.min(30, chunk + 2); k++) {
          recorders.forEach((r, i) => {
            if (cutAtMs[i] === undefined || ms < cutAtMs[i]!)
              r.writeAgent(Buffer.alloc(800, codes[i] + (k % 16)), 200 + k * 100);
          });
        }
        chunk = Math.min(30, chunk + 2);
        peakPages = Math.max(peakPages, agentPages.stats.inUse);
      }
      recorders.forEach((r, i) => {
        if (cutAtMs[i] === ms) r.cutAgentAfter(ms); // barge-in: the rest of the answer was never heard
        r.writeCaller(silence, ms);
      });
      if (ms % 500 === 0) await settle();
    }
    expect(peakPages).toBeGreaterThanOrEqual(3);
    await Promise.all(recorders.map((r) => r.close()));
    expect(agentPages.stats.inUse).toBeLessThanOrEqual(1); // every view released: at most the current page
    for (const [i, code] of codes.entries()) {
      const bytes = await readFile(path.join(dir, `shared-${i}.wav`));
      const samples = new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length));
      const endMs = cutAtMs[i] ?? 3200;
      const wrong: number[] = [];
      for (let frame = 0; frame < samples.length / 2; frame++) {
        const ms = frame / 8;
        const k = Math.floor((ms - 200) / 100);
        const expected = ms >= 200 && ms < endMs ? decodeMulaw(Buffer.from([code + (k % 16)]))[0] : 0;
        if (samples[2 * frame + 1] !== expected || samples[2 * frame] !== 0) wrong.push(frame);
      }
      expect({ call: i, wrong: wrong.slice(0, 5) }).toEqual({ call: i, wrong: [] });
    }
  });

  it('writes silence, not noise, where caller frames are missing', async () => {
    const file = path.join(dir, 'gaps.wav');
    const recorder = await StereoWavRecorder.open(file);
    const missing = (ms: number): boolean =>
      ms < 100 || (ms >= 400 && ms < 600) || (ms >= 1700 && ms < 1900) || (ms >= 2900 && ms < 3100);
    for (let ms = 0; ms < 4000; ms += 20) {
      if (!missing(ms)) recorder.writeCaller(tone.subarray((ms * 8) % 8000, ((ms * 8) % 8000) + 160), ms);
      if (ms % 500 === 0) await settle();
    }
    await recorder.close();
    const bytes = await readFile(file);
    const samples = new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length));
    const decodedTone = decodeMulaw(tone);
    const wrong: number[] = [];
    for (let frame = 0; frame < 4000 * 8; frame++) {
      const ms = Math.floor(frame / 160) * 20;
      const expected = missing(ms) ? 0 : decodedTone[frame % 8000];
      if (samples[2 * frame] !== expected) wrong.push(frame);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('keeps a bounded number of spare blocks', () => {
    const pool = new BlockPool(2);
    const blocks = [pool.take(8), pool.take(8), pool.take(8)];
    blocks[0].fill(7);
    for (const b of blocks) pool.give(b);
    pool.give(blocks[0]);
    expect(pool.spares).toBe(2);
    const again = pool.take(8);
    expect(blocks).toContain(again);
    expect(Array.from(again)).toEqual(new Array(8).fill(0));
    expect(pool.take(16).length).toBe(16); // another size: a new block
  });

  it('with syncWrites, writes on its own thread (no pool write after the header) the same file, each block as it is committed', async () => {
    // As the live recordings' thread sets it (header patched every 2 s: no wait between two writes).
    const live = { flushMs: 500, chunkMs: 500 };
    const syncFile = path.join(dir, 'sync.wav');
    const poolFile = path.join(dir, 'pool.wav');
    const sync = await StereoWavRecorder.open(syncFile, { ...live, syncWrites: true });
    const pooled = await StereoWavRecorder.open(poolFile, live);
    positions = [];
    // 3 s in one go: four 500 ms blocks are committed within this one turn of the event loop.
    for (const recorder of [sync, pooled]) {
      recorder.writeAgent(tone.subarray(0, 2400), 300);
      feed(recorder, 0, 1200);
      feed(recorder, 2000, 3000); // a gap: silence between
    }
    // Written at once, block after block, without waiting for the next commit or for close().
    await new Promise((resolve) => setImmediate(resolve));
    expect(sync.stats.pendingWriteBytes).toBe(0);
    expect(sync.stats.bytesWritten).toBe(4 * 16_000);
    expect((await stat(syncFile)).size).toBe(44 + 4 * 16_000);
    feed(sync, 3000, 3500);
    feed(pooled, 3000, 3500);
    const [a, b] = await Promise.all([sync.close(), pooled.close()]);
    expect(a.error).toBeUndefined();
    expect(a.sizeBytes).toBe(b.sizeBytes);
    expect(await readFile(syncFile)).toEqual(await readFile(poolFile));
    // Every FileHandle.write since the opens was the pooled recorder's: its blocks and header patches.
    expect(positions.length).toBe(pooled.stats.headerPatches + positions.filter((p) => p > 0).length + 1);
    expect(positions.filter((p) => p > 0).length).toBeGreaterThanOrEqual(5);
    expect(sync.stats.droppedLateSamples).toBe(0);
  });

  it('after a synchronous write slower than 50 ms, writes through the pool for a minute, then synchronously again', async () => {
    const live = { flushMs: 500, chunkMs: 500, syncWrites: true };
    const realWriteSync = fs.writeSync.bind(fs) as (...args: unknown[]) => number;
    let slow = true;
    const syncSpy = jest.spyOn(fs, 'writeSync').mockImplementation((...args: unknown[]) => {
      if (slow) {
        slow = false;
        const until = performance.now() + 60; // a disk that stalls this write
        while (performance.now() < until);
      }
      return realWriteSync(...args);
    });
    const nowSpy = jest.spyOn(Date, 'now');
    try {
      const before = syncWriteStats.slowWrites;
      const first = await StereoWavRecorder.open(path.join(dir, 'stalled.wav'), live);
      feed(first, 0, 1100); // one block: the slow write
      await new Promise((resolve) => setImmediate(resolve));
      expect(syncWriteStats.slowWrites).toBe(before + 1);
      const syncCalls = syncSpy.mock.calls.length;

      positions = [];
      const second = await StereoWavRecorder.open(path.join(dir, 'after-stall.wav'), live);
      feed(second, 0, 2100);
      feed(first, 1100, 2100);
      const [a, b] = await Promise.all([first.close(), second.close()]);
      expect(syncSpy.mock.calls.length).toBe(syncCalls); // every write since went through the pool
      expect(positions.filter((p) => p > 0).length).toBeGreaterThanOrEqual(4);
      expect(a.sizeBytes).toBe(44 + 2100 * 32);
      expect(b.sizeBytes).toBe(44 + 2100 * 32);
      expect(a.error).toBeUndefined();

      // A minute later the thread writes synchronously again.
      const later = Date.now() + POOL_AFTER_SLOW_MS + 1;
      nowSpy.mockReturnValue(later);
      const third = await StereoWavRecorder.open(path.join(dir, 'recovered.wav'), live);
      feed(third, 0, 1100);
      await new Promise((resolve) => setImmediate(resolve));
      expect(syncSpy.mock.calls.length).toBeGreaterThan(syncCalls);
      expect((await third.close()).sizeBytes).toBe(44 + 1100 * 32);
      expect(syncWriteStats.slowWrites).toBe(before + 1);
    } finally {
      syncSpy.mockRestore();
      nowSpy.mockRestore();
    }
  });

  it('rejects a bad flushMs before any I/O', () => {
    expect(() => StereoWavRecorder.create(path.join(dir, 'bad.wav'), { flushMs: 0 })).toThrow(RangeError);
    expect(() => StereoWavRecorder.create(path.join(dir, 'bad.wav'), { flushMs: Number.NaN })).toThrow(RangeError);
  });
});
