import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WaveFile } from 'wavefile';
import { decodeMulaw, encodeMulaw, MULAW_SILENCE } from '../../src/audio/g711';
import { sineInt16, toneAmplitude } from '../../src/audio/tone';
import { parseWavHeader } from '../../src/audio/wav-header';
import { StereoWavRecorder } from '../../src/audio/wav-recorder';

const FRAME = 160;
const CALLER_HZ = 400;
const AGENT_HZ = 1000;

/** `durationMs` of a tone as mu-law. */
function mulawTone(frequencyHz: number, durationMs: number): Uint8Array {
  return encodeMulaw(sineInt16(frequencyHz, 8000, durationMs, 0.5));
}

/** Writes caller audio frame by frame (20 ms, Twilio-style) from fromMs to toMs. */
function writeCallerFrames(recorder: StereoWavRecorder, audio: Uint8Array, fromMs: number, toMs: number): void {
  for (let ms = fromMs; ms < toMs; ms += 20) {
    const offset = ((ms - fromMs) * 8) % audio.length;
    recorder.writeCaller(audio.subarray(offset, offset + FRAME), ms);
  }
}

const SILENT_FRAME = new Uint8Array(FRAME).fill(MULAW_SILENCE);

async function readChannels(file: string): Promise<{ left: Float64Array; right: Float64Array }> {
  const wav = new WaveFile();
  wav.fromBuffer(await readFile(file));
  expect(wav.fmt).toMatchObject({ numChannels: 2, sampleRate: 8000, bitsPerSample: 16, audioFormat: 1 });
  const [left, right] = wav.getSamples(false) as unknown as Float64Array[];
  return { left, right };
}

function allZero(samples: Float64Array): boolean {
  return samples.every((s) => s === 0);
}

describe('StereoWavRecorder', () => {
  let dir: string;
  let fileIndex = 0;
  const open: StereoWavRecorder[] = [];
  const nextFile = (): string => path.join(dir, `call-${++fileIndex}.wav`);
  async function openRecorder(opts?: Parameters<typeof StereoWavRecorder.open>[1]): Promise<StereoWavRecorder> {
    const recorder = await StereoWavRecorder.open(nextFile(), opts);
    open.push(recorder);
    return recorder;
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'switchboard-recorder-'));
  });
  afterAll(async () => {
    await Promise.all(open.map((r) => r.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('starts the file with a valid 8 kHz stereo PCM16 header and no data', async () => {
    const recorder = await openRecorder();
    const bytes = await readFile(recorder.path);
    expect(bytes).toHaveLength(44);
    expect(parseWavHeader(bytes)).toMatchObject({
      audioFormat: 1,
      channels: 2,
      sampleRateHz: 8000,
      bitsPerSample: 16,
      blockAlign: 4,
      byteRate: 32000,
      dataBytes: 0,
      riffSize: 36,
    });
    expect(await recorder.close(0)).toEqual({
      created: true,
      durationMs: 0,
      sizeBytes: 44,
      path: recorder.path,
      sampleRateHz: 8000,
      channels: 2,
    });
  });

  it('puts caller audio left and agent audio right, at their sample offsets', async () => {
    const recorder = await openRecorder();
    const callerTone = mulawTone(CALLER_HZ, 1000);
    const agentTone = mulawTone(AGENT_HZ, 1000);
    writeCallerFrames(recorder, callerTone, 0, 100);
    // The model is fast: the whole agent turn arrives early, scheduled to play at 1.5 s.
    for (let i = 0; i < agentTone.length; i += 800) recorder.writeAgent(agentTone.subarray(i, i + 800), 1500 + i / 8);
    writeCallerFrames(recorder, callerTone.subarray(800), 100, 1000);
    for (let ms = 1000; ms < 3000; ms += 20) recorder.writeCaller(SILENT_FRAME, ms);
    const result = await recorder.close(3000);
    expect(result).toMatchObject({ durationMs: 3000, sizeBytes: 44 + 3000 * 32, path: recorder.path });
    expect(result.error).toBeUndefined();

    const { left, right } = await readChannels(recorder.path);
    expect(left).toHaveLength(24000);
    expect(Array.from(left.subarray(0, 8000))).toEqual(Array.from(decodeMulaw(callerTone)));
    expect(allZero(left.subarray(8000))).toBe(true);
    expect(allZero(right.subarray(0, 12000))).toBe(true);
    expect(Array.from(right.subarray(12000, 20000))).toEqual(Array.from(decodeMulaw(agentTone)));
    expect(allZero(right.subarray(20000))).toBe(true);
    expect(toneAmplitude(left.subarray(0, 8000), CALLER_HZ, 8000)).toBeCloseTo(0.5, 1);
    expect(toneAmplitude(right.subarray(12000, 20000), AGENT_HZ, 8000)).toBeCloseTo(0.5, 1);
    expect(toneAmplitude(right.subarray(12000, 20000), CALLER_HZ, 8000)).toBeLessThan(0.01);
    expect(recorder.stats).toMatchObject({ droppedLateFrames: 0, pendingAgentBytes: 0, pendingWriteBytes: 0 });
  });

  it('keeps its own copy of agent audio, even of a Buffer whose memory the writer reuses', async () => {
    const recorder = await openRecorder();
    const agentTone = mulawTone(AGENT_HZ, 1000);
    const shared = Buffer.from(agentTone); // Buffer#slice is a view: the recorder must not keep one
    recorder.writeAgent(shared, 200);
    shared.fill(MULAW_SILENCE); // the writer's memory is reused (a frame ring) before the audio is due
    writeCallerFrames(recorder, SILENT_FRAME, 0, 1200);
    await recorder.close(1200);
    const { right } = await readChannels(recorder.path);
    expect(Array.from(right.subarray(1600, 9600))).toEqual(Array.from(decodeMulaw(agentTone)));
  });

  it('drops the agent audio scheduled after a barge-in cut', async () => {
    const recorder = await openRecorder();
    const agentTone = mulawTone(AGENT_HZ, 3000);
    recorder.writeAgent(agentTone, 1000); // 1.0 .. 4.0 s
    writeCallerFrames(recorder, SILENT_FRAME, 0, 2000);
    recorder.cutAgentAfter(2000); // the caller spoke at 2.0 s
    expect(recorder.stats.cutAgentSamples).toBe(16000);
    writeCallerFrames(recorder, SILENT_FRAME, 2000, 5000);
    await recorder.close(5000);

    const { right } = await readChannels(recorder.path);
    expect(right).toHaveLength(40000);
    expect(allZero(right.subarray(0, 8000))).toBe(true);
    expect(Array.from(right.subarray(8000, 16000))).toEqual(Array.from(decodeMulaw(agentTone.subarray(0, 8000))));
    expect(allZero(right.subarray(16000))).toBe(true);
  });

  it('pads the file to the end of the call, and keeps agent audio that started before it', async () => {
    const padded = await openRecorder();
    writeCallerFrames(padded, mulawTone(CALLER_HZ, 1000), 0, 1000);
    const result = await padded.close(5000);
    expect(result.durationMs).toBe(5000);
    expect((await stat(padded.path)).size).toBe(44 + 5000 * 32);
    expect(parseWavHeader(await readFile(padded.path)).dataBytes).toBe(5000 * 32);

    // Agent audio scheduled 0.5..2.5 s while the caller's audio only reached 1 s (it stopped): close() without
    // endMs writes the agent turn that had started, and close(endMs) cuts what comes after endMs.
    const open = await openRecorder();
    open.writeAgent(mulawTone(AGENT_HZ, 2000), 500);
    writeCallerFrames(open, SILENT_FRAME, 0, 1000);
    expect((await open.close()).durationMs).toBe(2500);
    const cut = await openRecorder();
    cut.writeAgent(mulawTone(AGENT_HZ, 2000), 500);
    writeCallerFrames(cut, SILENT_FRAME, 0, 1000);
    expect((await cut.close(1500)).durationMs).toBe(1500);
    const { right } = await readChannels(cut.path);
    expect(toneAmplitude(right.subarray(4000, 12000), AGENT_HZ, 8000)).toBeCloseTo(0.5, 1);
  });

  it('leaves a parseable, consistent file on disk mid-call after a header patch', async () => {
    const recorder = await openRecorder({ headerPatchIntervalMs: 0 });
    writeCallerFrames(recorder, mulawTone(CALLER_HZ, 1000), 0, 4000);
    await recorder.drain();
    const bytes = await readFile(recorder.path);
    const header = parseWavHeader(bytes);
    expect(header.dataBytes).toBeGreaterThan(0);
    expect(header.dataBytes).toBe(bytes.length - 44);
    expect(header.riffSize).toBe(bytes.length - 8);
    expect(header.dataBytes).toBe(recorder.stats.bytesWritten);
    expect(recorder.stats.headerPatches).toBeGreaterThan(0);
    const { left } = await readChannels(recorder.path);
    expect(toneAmplitude(left.subarray(0, 8000), CALLER_HZ, 8000)).toBeCloseTo(0.5, 1);
    // Only the jitter window (plus one write chunk at most) is still in memory.
    expect(4000 - recorder.stats.committedMs).toBeLessThanOrEqual(1000);
    await recorder.close();
  });

  it('keeps memory bounded over 10 minutes of audio with agent turns', async () => {
    const recorder = await openRecorder();
    const callerTone = mulawTone(CALLER_HZ, 1000);
    const agentTurn = mulawTone(AGENT_HZ, 4000);
    for (let second = 0; second < 600; second++) {
      if (second % 10 === 0) {
        // Every 10 s the model sends a 4 s turn at once, scheduled 1 s ahead; every other turn is interrupted.
        for (let i = 0; i < agentTurn.length; i += 480) {
          recorder.writeAgent(agentTurn.subarray(i, i + 480), second * 1000 + 1000 + i / 8);
        }
      }
      if (second % 20 === 3) recorder.cutAgentAfter(second * 1000 + 500);
      writeCallerFrames(recorder, callerTone, second * 1000, second * 1000 + 1000);
      if (second % 5 === 4) await recorder.drain(); // the disk keeps up, as it does between socket events
    }
    const stats = recorder.stats;
    expect(stats.windowBytes).toBe(1 * 8000); // caller staging window: 1 s of mu-law
    expect(stats.peakPendingAgentBytes).toBeLessThanOrEqual(4 * 8000); // one turn of look-ahead
    expect(stats.peakPendingWriteBytes).toBeLessThanOrEqual(6 * 32000); // ~5 s of stereo between drains
    expect(stats.overflowSamples).toBe(0);
    const result = await recorder.close(600_000);
    expect(result.durationMs).toBe(600_000);
    expect(result.sizeBytes).toBe(44 + 600_000 * 32);
    expect(recorder.stats.cutAgentSamples).toBe(30 * 1.5 * 8000); // each cut at +3.5 s drops 1.5 s of its turn
  });

  it('caps what waits for the disk when audio comes faster than it can be written', async () => {
    const recorder = await openRecorder({ maxPendingWriteBytes: 256 * 1024 });
    writeCallerFrames(recorder, mulawTone(CALLER_HZ, 1000), 0, 60_000); // one minute with no chance to write
    const stats = recorder.stats;
    expect(stats.peakPendingWriteBytes).toBeLessThanOrEqual(256 * 1024);
    expect(stats.overflowSamples).toBeGreaterThan(0);
    const result = await recorder.close(60_000);
    expect(result.durationMs).toBe(60_000); // still time-aligned: the overflow became silence
    expect(result.error).toBeUndefined();
  });

  it('places late and out-of-order caller frames inside the jitter window, and counts the ones too late', async () => {
    const recorder = await openRecorder({ jitterMs: 1000, chunkMs: 500 });
    const tone = mulawTone(CALLER_HZ, 1000);
    writeCallerFrames(recorder, tone, 0, 500);
    writeCallerFrames(recorder, tone.subarray(8 * 600), 600, 1000);
    recorder.writeCaller(tone.subarray(8 * 500, 8 * 600), 500); // arrives late, still in the window
    writeCallerFrames(recorder, SILENT_FRAME, 1000, 4000);
    recorder.writeCaller(tone.subarray(0, FRAME), 100); // far too late: that time is on disk
    await recorder.close(4000);
    expect(recorder.stats.droppedLateFrames).toBe(1);
    expect(recorder.stats.droppedLateSamples).toBe(FRAME);
    const { left } = await readChannels(recorder.path);
    expect(Array.from(left.subarray(0, 8000))).toEqual(Array.from(decodeMulaw(tone)));
  });

  it('ignores bad arguments and writes after close without throwing, and closes once', async () => {
    const recorder = await openRecorder();
    recorder.writeCaller(SILENT_FRAME, Number.NaN);
    recorder.writeAgent(SILENT_FRAME, -5);
    recorder.cutAgentAfter(Number.POSITIVE_INFINITY);
    recorder.writeCaller('nope' as unknown as Uint8Array, 0);
    recorder.writeCaller(SILENT_FRAME, 1e12); // ~31 years: beyond what a WAV file can hold
    recorder.writeAgent(SILENT_FRAME, 1e12);
    expect(recorder.stats.invalidWrites).toBe(6);
    const first = recorder.close(100);
    expect(recorder.close(999)).toBe(first);
    await first;
    recorder.writeCaller(SILENT_FRAME, 200);
    recorder.writeAgent(SILENT_FRAME, 200);
    expect((await recorder.close()).durationMs).toBe(100);
  });

  it('refuses bad options before creating a file, and never overwrites a recording', async () => {
    const file = nextFile();
    await expect(StereoWavRecorder.open(file, { sampleRateHz: 16000 as 8000 })).rejects.toThrow('only 8000 Hz');
    await expect(StereoWavRecorder.open(file, { headerPatchIntervalMs: -1 })).rejects.toThrow(RangeError);
    await expect(stat(file)).rejects.toThrow('ENOENT');
    const recorder = await StereoWavRecorder.open(file);
    open.push(recorder);
    await expect(StereoWavRecorder.open(file)).rejects.toThrow('EEXIST');
  });

  it('keeps audio written before the file exists (create returns at once), owner-only permissions', async () => {
    const file = path.join(dir, 'fresh', 'early.wav');
    const recorder = StereoWavRecorder.create(file);
    open.push(recorder);
    // Written synchronously, before the directory or the file can exist.
    recorder.writeAgent(mulawTone(AGENT_HZ, 1000), 0);
    writeCallerFrames(recorder, mulawTone(CALLER_HZ, 1000), 0, 1000);
    const result = await recorder.close(1000);
    expect(result).toMatchObject({ created: true, durationMs: 1000 });
    expect(result.error).toBeUndefined();
    const { left, right } = await readChannels(file);
    expect(toneAmplitude(right.subarray(0, 8000), AGENT_HZ, 8000)).toBeGreaterThan(0.3);
    expect(toneAmplitude(left.subarray(0, 8000), CALLER_HZ, 8000)).toBeGreaterThan(0.3);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
  });

  it('a recording that cannot be created reports it and leaves the existing file untouched', async () => {
    const file = nextFile();
    const first = await StereoWavRecorder.open(file);
    open.push(first);
    writeCallerFrames(first, mulawTone(CALLER_HZ, 200), 0, 200);
    await first.close(200);
    const before = await readFile(file);
    const second = StereoWavRecorder.create(file);
    second.writeCaller(SILENT_FRAME, 0);
    await expect(second.ready()).rejects.toThrow('EEXIST');
    const result = await second.close();
    expect(result.created).toBe(false);
    expect(result.error?.message).toMatch('EEXIST');
    expect(await readFile(file)).toEqual(before);
  });

  it('creates missing directories under the storage path', async () => {
    const file = path.join(dir, 'nested', '2026', 'call.wav');
    const recorder = await StereoWavRecorder.open(file);
    open.push(recorder);
    expect((await recorder.close(20)).sizeBytes).toBe(44 + 20 * 32);
  });
});
