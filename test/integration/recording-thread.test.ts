import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { decodeMulaw, encodeMulaw } from '../../src/audio/g711';
import { RecordingThread } from '../../src/recordings/live/recording-thread';
import { readStereoWav } from '../helpers/wav-read';

const ROOT = path.resolve(__dirname, '../..');

/** Runs `body` in a fresh node process that has `thread` (the process's recording thread) and `path`. */
function runChild(body: string): Promise<{ code: number | null; out: string; ms: number }> {
  const script = `const { recordingThread } = require(${JSON.stringify(path.join(ROOT, 'src/recordings/live/recording-thread.ts'))});
const thread = recordingThread();
${body}`;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const proc = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    proc.on('error', reject);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: Date.now() - started });
    });
  });
}

function tone(ms: number, amplitude: number, hz = 440): Uint8Array {
  const pcm = new Int16Array(ms * 8);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * hz * i) / 8000));
  return encodeMulaw(pcm);
}

describe('RecordingThread (recordings written on their own thread)', () => {
  let dir: string;
  const thread = new RecordingThread();
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rec-thread-'));
  });
  afterAll(async () => {
    await thread.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes both sides sample for sample, and a cut lands between what was written before and after it', async () => {
    const caller = tone(3000, 0.3);
    const agent = tone(2000, 0.5, 880);
    const file = path.join(dir, 'call-1.wav');
    const rec = thread.open(file);
    // The agent's 2 s answer is scheduled from 1000 ms; the caller barges in at 1500 ms.
    rec.writeAgent(agent, 1000);
    for (let ms = 0; ms < 3000; ms += 20) {
      const frame = caller.subarray(ms * 8, ms * 8 + 160);
      if (ms % 40 === 0) rec.writeCaller(frame, ms);
      else rec.writeCallerBase64(Buffer.from(frame).toString('base64'), 160, ms);
      if (ms === 1500) rec.cutAgentAfter(1500);
    }
    await rec.ready;
    const result = await rec.close(3000);
    expect(result).toMatchObject({ created: true, durationMs: 3000, sizeBytes: 44 + 3000 * 8 * 4 });
    expect(rec.droppedBytes).toBe(0);
    const wav = readStereoWav(file);
    expect([...wav.left]).toEqual([...decodeMulaw(caller)]);
    const heard = decodeMulaw(agent.subarray(0, 500 * 8));
    expect([...wav.right.subarray(8000, 12000)]).toEqual([...heard]);
    expect(wav.right.subarray(0, 8000).every((s) => s === 0)).toBe(true);
    expect(wav.right.subarray(12000).every((s) => s === 0)).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('keeps many calls apart', async () => {
    const calls = Array.from({ length: 20 }, (_, i) => ({
      file: path.join(dir, `many-${i}.wav`),
      audio: tone(1000, 0.05 + i * 0.04, 200 + i * 50),
    }));
    const recs = calls.map((c) => thread.open(c.file));
    for (let ms = 0; ms < 1000; ms += 20) {
      calls.forEach((c, i) => recs[i].writeCaller(c.audio.subarray(ms * 8, ms * 8 + 160), ms));
    }
    const results = await Promise.all(recs.map((r) => r.close()));
    results.forEach((r) => expect(r).toMatchObject({ created: true, durationMs: 1000 }));
    calls.forEach((c) => expect([...readStereoWav(c.file).left]).toEqual([...decodeMulaw(c.audio)]));
  });

  it('writes each 500 ms chunk as it is committed: no second of audio staged per call', async () => {
    const file = path.join(dir, 'chunks.wav');
    const rec = thread.open(file);
    await rec.ready;
    const audio = tone(1300, 0.3);
    // 1.3 s of caller audio: the recorder's 1 s window holds the last 800 ms, the first 500 ms is committed.
    for (let ms = 0; ms < 1300; ms += 20) rec.writeCaller(audio.subarray(ms * 8, ms * 8 + 160), ms);
    const deadline = Date.now() + 5000;
    while ((await stat(file)).size < 44 + 500 * 32 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100)); // and nothing more than that
    expect((await stat(file)).size).toBe(44 + 500 * 32); // on disk without waiting for a full second
    await rec.close();
    expect([...readStereoWav(file).left]).toEqual([...decodeMulaw(audio)]);
  });

  it('reports a file it cannot create (never overwrites one), and the thread goes on', async () => {
    const file = path.join(dir, 'exists.wav');
    await writeFile(file, 'not a recording');
    const rec = thread.open(file);
    rec.writeCaller(tone(100, 0.3), 0);
    await expect(rec.ready).rejects.toThrow(/EEXIST/);
    await expect(rec.close()).resolves.toMatchObject({ created: false, error: expect.stringMatching(/EEXIST/) });
    const next = thread.open(path.join(dir, 'after-exists.wav'));
    next.writeCaller(tone(100, 0.3), 0);
    await expect(next.close()).resolves.toMatchObject({ created: true, durationMs: 100 });
  });

  it('lets the process exit with a recording left open (a leak must not hold it), and holds it while one is finished', async () => {
    const leaked = path.join(dir, 'leaked.wav');
    const left = await runChild(`const rec = thread.open(${JSON.stringify(leaked)});
rec.writeCaller(new Uint8Array(160).fill(0x40), 0);
const keep = setInterval(() => undefined, 1000); // alive until the file exists, then nothing holds it
rec.ready.then(() => { console.log('OPEN'); clearInterval(keep); });`);
    expect(left.out).toContain('OPEN');
    expect(left.code).toBe(0); // exited by itself (not the 30 s kill)
    const closed = path.join(dir, 'closed-on-exit.wav');
    const audio = tone(1000, 0.4);
    const finished = await runChild(`const rec = thread.open(${JSON.stringify(closed)});
const audio = Buffer.from(${JSON.stringify(Buffer.from(audio).toString('base64'))}, 'base64');
for (let ms = 0; ms < 1000; ms += 20) rec.writeCaller(audio.subarray(ms * 8, ms * 8 + 160), ms);
void rec.close(); // not awaited: nothing else keeps this process alive
console.log('CLOSING');`);
    expect(finished.out).toContain('CLOSING');
    expect(finished.code).toBe(0);
    const wav = readStereoWav(closed);
    expect(wav.left.length).toBe(8000);
    expect([...wav.left]).toEqual([...decodeMulaw(audio)]);
  });

  it('finishes what a dead thread held with an error, and the next recording starts a new thread', async () => {
    const own = new RecordingThread();
    const rec = own.open(path.join(dir, 'crash.wav'));
    rec.writeCaller(tone(100, 0.3), 0);
    await rec.ready;
    const { worker } = (own as unknown as { thread: { worker: Worker } }).thread;
    await worker.terminate(); // what a crash of the thread looks like from here
    await expect(rec.close()).resolves.toMatchObject({ created: false, error: expect.stringMatching(/stopped/) });
    expect(own.stats.threadFailures).toBe(1);
    const next = own.open(path.join(dir, 'after-crash.wav'));
    next.writeCaller(tone(200, 0.3), 0);
    await expect(next.close()).resolves.toMatchObject({ created: true, durationMs: 200 });
    expect(own.stats.threadsStarted).toBe(2);
    await own.close();
  });
});
