/** The WebRTC channel's pure audio pieces: caller framing (mono, 48 kHz, 20 ms) and the real-time pacer. */
import { CallerFramer } from '../../src/channels/webrtc/caller-framer';
import { AudioPacer } from '../../src/channels/webrtc/audio-pacer';

function collect(): { framer: CallerFramer; frames: { bytes: Buffer; timestampMs: number }[] } {
  const frames: { bytes: Buffer; timestampMs: number }[] = [];
  return { framer: new CallerFramer((bytes, timestampMs) => frames.push({ bytes, timestampMs })), frames };
}

describe('CallerFramer', () => {
  it('emits 20 ms PCM16 frames from 10 ms of 48 kHz mono, each its own buffer', () => {
    const { framer, frames } = collect();
    const samples = new Int16Array(480);
    for (let k = 0; k < 4; k++) {
      samples.fill(k * 100 + 1);
      framer.push({ samples, sampleRate: 48000, channelCount: 1, numberOfFrames: 480 });
    }
    expect(frames.map((f) => f.timestampMs)).toEqual([0, 20]);
    expect(frames.every((f) => f.bytes.length === 1920)).toBe(true);
    expect(frames[0].bytes.readInt16LE(0)).toBe(1);
    expect(frames[0].bytes.readInt16LE(1918)).toBe(101);
    expect(frames[1].bytes.readInt16LE(0)).toBe(201);
    expect(
      frames[0].bytes.buffer === frames[1].bytes.buffer && frames[0].bytes.byteOffset === frames[1].bytes.byteOffset,
    ).toBe(false);
  });

  it('averages stereo to mono', () => {
    const { framer, frames } = collect();
    const stereo = new Int16Array(960 * 2);
    for (let i = 0; i < 960; i++) {
      stereo[2 * i] = 1000;
      stereo[2 * i + 1] = 3000;
    }
    framer.push({ samples: stereo, sampleRate: 48000, channelCount: 2, numberOfFrames: 960 });
    expect(frames).toHaveLength(1);
    expect(frames[0].bytes.readInt16LE(100)).toBe(2000);
  });

  it('brings 16 kHz to 48 kHz: 10 ms stays 10 ms and a ramp stays a ramp', () => {
    const { framer, frames } = collect();
    const ramp = new Int16Array(160).map((_, i) => i * 10);
    framer.push({ samples: ramp, sampleRate: 16000, channelCount: 1, numberOfFrames: 160 });
    framer.push({ samples: ramp, sampleRate: 16000, channelCount: 1, numberOfFrames: 160 });
    expect(frames).toHaveLength(1);
    expect(framer.resampled).toBe(2);
    const first = frames[0].bytes;
    expect(first.readInt16LE(0)).toBe(0);
    expect(first.readInt16LE(2 * 3)).toBe(10); // every third output sample is an input sample
    expect(first.readInt16LE(2 * 4)).toBe(13); // interpolated between 10 and 20
  });

  it('ignores empty data and a nonsensical rate', () => {
    const { framer, frames } = collect();
    framer.push({ samples: new Int16Array(0), sampleRate: 48000, numberOfFrames: 0 });
    framer.push({ samples: new Int16Array(160), sampleRate: 0, numberOfFrames: 160 });
    framer.push({ samples: new Int16Array(160), sampleRate: Number.NaN, numberOfFrames: 160 });
    expect(frames).toHaveLength(0);
  });
});

describe('AudioPacer', () => {
  it('feeds frames by the clock, catches up a late tick, and skips (and reports) a long stall', async () => {
    let now = 0;
    const pacer = new AudioPacer(() => now);
    let pumped = 0;
    let skipped = 0;
    const output = { pump: () => pumped++, skipped: (n: number) => (skipped += n) };
    pacer.add(output);
    expect(pumped).toBe(1);
    now = 35; // 3.5 frames late: the next tick catches up to frame 4
    await new Promise((r) => setTimeout(r, 30));
    expect(pumped).toBe(4);
    now = 1035; // a 1 s stall: at most 6 frames caught up, the rest skipped and reported
    await new Promise((r) => setTimeout(r, 30));
    expect(pumped).toBe(10);
    expect(skipped).toBe(94);
    expect(pacer.skippedFrames).toBe(94);
    pacer.remove(output);
    expect(pacer.size).toBe(0);
  });
});
