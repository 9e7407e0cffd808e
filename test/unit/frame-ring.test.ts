import { Worker } from 'node:worker_threads';
import { FrameRingReader, FrameRingWriter, RecordKind } from '../../src/recordings/live/frame-ring';

type Rec = [RecordKind, number[], number];

function readAll(reader: FrameRingReader): Rec[] {
  const out: Rec[] = [];
  reader.read((kind, payload, atMs) => out.push([kind, [...payload], atMs]));
  return out;
}

describe('FrameRing', () => {
  it('hands records over in order, across the end of the ring, and refuses what does not fit', () => {
    const sab = FrameRingWriter.allocate(256); // 16 records of no payload, 8 of 16 bytes
    const writer = new FrameRingWriter(sab);
    const reader = new FrameRingReader(sab);
    expect(writer.maxPayload).toBe(64);
    const seen: Rec[] = [];
    // 40 rounds of 3 records of different sizes: the ring wraps many times, at every offset.
    for (let round = 0; round < 40; round++) {
      const caller = Uint8Array.from({ length: 1 + (round % 20) }, (_, i) => (round + i) & 0xff);
      expect(writer.audio(RecordKind.Caller, caller, round * 20)).toBe(caller.length);
      expect(writer.cut(round * 20 + 5)).toBe(true);
      const agent = Buffer.from([round, 255 - round]).toString('base64');
      expect(writer.base64(RecordKind.Agent, agent, 2, round * 20 + 10)).toBe(true);
      seen.push(...readAll(reader));
    }
    expect(seen).toHaveLength(120);
    for (let round = 0; round < 40; round++) {
      const [caller, cut, agent] = seen.slice(round * 3, round * 3 + 3);
      expect(caller).toEqual([
        RecordKind.Caller,
        Array.from({ length: 1 + (round % 20) }, (_, i) => (round + i) & 0xff),
        round * 20,
      ]);
      expect(cut).toEqual([RecordKind.Cut, [], round * 20 + 5]);
      expect(agent).toEqual([RecordKind.Agent, [round, 255 - round], round * 20 + 10]);
    }
    // Nobody reads: the ring fills; later writes are refused, never overwrite what is unread.
    const accepted = Array.from({ length: 20 }, (_, i) =>
      writer.audio(RecordKind.Caller, new Uint8Array(16).fill(i), i),
    );
    expect(accepted.filter((n) => n === 0).length).toBeGreaterThan(0);
    let cuts = 0;
    while (writer.cut(99)) cuts++; // a cut has no payload: there may be room for one or two more
    expect(cuts).toBeLessThan(3);
    expect(writer.base64(RecordKind.Caller, 'AAAA', 3, 99)).toBe(false);
    const kept = readAll(reader).filter((r) => r[0] === RecordKind.Caller);
    expect(kept.length).toBe(accepted.filter((n) => n === 16).length);
    expect(kept.map((r) => r[2])).toEqual(kept.map((_, i) => i)); // the first ones, in order
    expect(kept.map((r) => r[1][0])).toEqual(kept.map((_, i) => i));
    // Once read, the space is free again.
    expect(writer.audio(RecordKind.Caller, new Uint8Array(16), 0)).toBe(16);
  });

  it('splits audio longer than one record, each piece at its own time', () => {
    const sab = FrameRingWriter.allocate(1024);
    const writer = new FrameRingWriter(sab);
    const audio = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
    expect(writer.audio(RecordKind.Agent, audio, 100)).toBe(600);
    const got = readAll(new FrameRingReader(sab));
    expect(got.map((r) => r[1].length)).toEqual([256, 256, 88]);
    expect(writer.maxPayload).toBe(256);
    expect(got.map((r) => r[2])).toEqual([100, 132, 164]);
    expect(got.flatMap((r) => r[1])).toEqual([...audio]);
  });

  it('carries every record intact to a reader on another thread while both run', async () => {
    const sab = FrameRingWriter.allocate(4096);
    const writer = new FrameRingWriter(sab);
    const total = 20_000;
    // The reader thread sums what it reads and checks each payload against its time.
    const worker = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const { FrameRingReader } = require(workerData.module);
      const reader = new FrameRingReader(workerData.sab);
      let count = 0, bad = 0;
      const tick = () => {
        reader.read((kind, payload, atMs) => {
          count++;
          const n = atMs % 251;
          if (payload.length !== 1 + (atMs % 40)) bad++;
          for (const b of payload) if (b !== n) bad++;
        });
        if (count >= workerData.total) parentPort.postMessage({ count, bad });
        else setImmediate(tick);
      };
      tick();
      `,
      {
        eval: true,
        workerData: { sab, total, module: require.resolve('../../src/recordings/live/frame-ring') },
        execArgv: ['--require', require.resolve('tsx/cjs')],
      },
    );
    const result = new Promise<{ count: number; bad: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    let sent = 0;
    let refused = 0;
    const deadline = Date.now() + 20_000; // a writer that never sees the reader's progress fails, not hangs
    while (sent < total) {
      if (writer.audio(RecordKind.Caller, new Uint8Array(1 + (sent % 40)).fill(sent % 251), sent) > 0) sent++;
      else {
        if (Date.now() > deadline) {
          await worker.terminate();
          throw new Error(`the writer stopped finding room after ${sent} records`);
        }
        refused++;
        await new Promise((r) => setImmediate(r)); // full: let the reader catch up, then retry
      }
    }
    await expect(result).resolves.toEqual({ count: total, bad: 0 });
    expect(refused).toBeGreaterThan(0); // the writer did run into the reader
    await worker.terminate();
  });
});
