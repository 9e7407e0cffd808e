/**
 * A base64 caller frame (Twilio, Telnyx) is decoded only when asked for: its length comes from the
 * base64, and the recording decodes it into a buffer of its own. The recording it makes is the one
 * the decoded bytes make.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeMulaw, encodeMulaw } from '../../src/audio/g711';
import { sineInt16 } from '../../src/audio/tone';
import type { CallManager } from '../../src/calls/call-manager';
import { PCMU_8K } from '../../src/conversation/audio-format';
import { Base64AudioFrame, frameByteLength } from '../../src/conversation/channel';
import { RecordingTap } from '../../src/conversation/recording-tap';
import { createLogger } from '../../src/logging/logger';

const log = createLogger({ level: 'error', json: true });

describe('Base64AudioFrame', () => {
  it('decodes on first use only, and knows its length without decoding', () => {
    const raw = Buffer.from([0x00, 0x7f, 0xff, 0x10, 0x20]); // 5 bytes: base64 with padding
    const frame = new Base64AudioFrame(raw.toString('base64'), 40, 1);
    const from = jest.spyOn(Buffer, 'from');
    try {
      expect(frameByteLength(frame)).toBe(5);
      expect(from).not.toHaveBeenCalled();
      const bytes = frame.bytes;
      expect(bytes).toEqual(raw);
      expect(frame.bytes).toBe(bytes);
      expect(from).toHaveBeenCalledTimes(1);
    } finally {
      from.mockRestore();
    }
    expect(frameByteLength({ bytes: raw, timestampMs: 0, receivedAt: 0 })).toBe(5);
  });
});

describe('RecordingTap.writeCallerFrame', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'b64-frame-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('records base64 frames without decoding them per frame, sample for sample', async () => {
    const tone = encodeMulaw(sineInt16(440, 8000, 2000, 0.5)); // 2 s
    const tap = (await RecordingTap.open(dir, 'call-b64', new Date(), PCMU_8K, log))!;
    const payloads: string[] = [];
    for (let ms = 0; ms < 2000; ms += 20)
      payloads.push(Buffer.from(tone.subarray(ms * 8, ms * 8 + 160)).toString('base64'));
    await tap.ready;
    const from = jest.spyOn(Buffer, 'from');
    // A second at a time: the recording thread reads the ring every 20 ms, and frames arrive at their
    // pace (a burst larger than the ring waits in a backlog, decoded there: live-recording.ts).
    for (let i = 0; i < payloads.length; i++) {
      tap.writeCallerFrame(new Base64AudioFrame(payloads[i], i * 20, 0));
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const decodes = from.mock.calls.filter((args) => (args as unknown[])[1] === 'base64').length;
    from.mockRestore();
    expect(decodes).toBe(0);
    const stored: { path: string }[] = [];
    const callManager = { addRecording: async (r: { path: string }) => void stored.push(r) } as unknown as CallManager;
    await tap.finish('call-b64', 2000, callManager, log);
    expect(stored).toHaveLength(1);
    const wav = await readFile(path.join(dir, stored[0].path));
    const samples = new Int16Array(wav.buffer.slice(wav.byteOffset + 44, wav.byteOffset + wav.length));
    const expected = decodeMulaw(tone);
    const mismatches: number[] = [];
    for (let i = 0; i < 16_000; i++) if (samples[2 * i] !== expected[i]) mismatches.push(i);
    expect(mismatches).toEqual([]);
  });
});
