/**
 * The recorder in a process that dies: SIGKILL mid-call, and a disk that refuses writes (a file-size limit
 * makes write() fail with EFBIG, as a full disk fails with ENOSPC). Each child runs the real recorder module
 * through tsx's require hook.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WaveFile } from 'wavefile';
import { toneAmplitude } from '../../src/audio/tone';
import { parseWavHeader, repairWavFile } from '../../src/audio/wav-header';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TSX_REQUIRE_HOOK = require.resolve('tsx/cjs');
const RECORDER_MODULE = path.join(REPO_ROOT, 'src', 'audio', 'wav-recorder.ts');
const G711_MODULE = path.join(REPO_ROOT, 'src', 'audio', 'g711.ts');
const TONE_MODULE = path.join(REPO_ROOT, 'src', 'audio', 'tone.ts');

/** Child: records 3 s of a 400 Hz caller tone, waits for the disk, reports, then keeps recording until killed. */
const RECORD_UNTIL_KILLED = `
const { StereoWavRecorder } = require(${JSON.stringify(RECORDER_MODULE)});
const { encodeMulaw } = require(${JSON.stringify(G711_MODULE)});
const { sineInt16 } = require(${JSON.stringify(TONE_MODULE)});
(async () => {
  const recorder = await StereoWavRecorder.open(process.env.WAV_FILE, { headerPatchIntervalMs: 0 });
  const second = encodeMulaw(sineInt16(400, 8000, 1000, 0.5));
  let ms = 0;
  const writeFrames = (count) => {
    for (let i = 0; i < count; i++, ms += 20) recorder.writeCaller(second.subarray((ms % 1000) * 8, (ms % 1000) * 8 + 160), ms);
  };
  writeFrames(150);
  await recorder.drain();
  process.stdout.write('PATCHED ' + recorder.stats.bytesWritten + '\\n');
  setInterval(() => writeFrames(25), 5);
})();
`;

/** Child: records 10 s under a 64 KiB file-size limit, then closes and prints the outcome. */
const RECORD_ON_FULL_DISK = `
process.on('SIGXFSZ', () => {}); // let write() fail with EFBIG instead of the signal killing the process
const { StereoWavRecorder } = require(${JSON.stringify(RECORDER_MODULE)});
(async () => {
  const recorder = await StereoWavRecorder.open(process.env.WAV_FILE, { headerPatchIntervalMs: 0 });
  const frame = new Uint8Array(160).fill(0x80);
  let threw = false;
  for (let ms = 0; ms < 10000; ms += 20) {
    try { recorder.writeCaller(frame, ms); recorder.writeAgent(frame, ms); } catch { threw = true; }
    if (ms % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const result = await recorder.close(10000);
  process.stdout.write(JSON.stringify({ threw, code: result.error && result.error.code, statsCode: recorder.stats.error && recorder.stats.error.code, result }) + '\\n');
})();
`;

interface Child {
  stdoutLines: AsyncGenerator<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

function runChild(script: string, wavFile: string, shellPrefix = ''): Child {
  const command = `${shellPrefix}exec "${process.execPath}" --require "${TSX_REQUIRE_HOOK}" -e "$CHILD_SCRIPT"`;
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: REPO_ROOT,
    env: { ...process.env, WAV_FILE: wavFile, CHILD_SCRIPT: script },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  async function* lines(): AsyncGenerator<string> {
    let buffered = '';
    for await (const chunk of child.stdout) {
      buffered += (chunk as Buffer).toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        yield buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
      }
    }
    throw new Error(`child ended without the expected output; stderr: ${stderr}`);
  }
  return { stdoutLines: lines(), exited, kill: (signal) => child.kill(signal) };
}

describe('StereoWavRecorder in a process that dies', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'switchboard-recorder-crash-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves a file killed by SIGKILL that already parses, and that repairWavFile makes exact', async () => {
    const file = path.join(dir, 'killed.wav');
    const child = runChild(RECORD_UNTIL_KILLED, file);
    const first = await child.stdoutLines.next();
    const match = /^PATCHED (\d+)$/.exec(String(first.value));
    expect(match).not.toBeNull();
    const patchedBytes = Number(match?.[1]);
    expect(patchedBytes).toBeGreaterThan(0);
    child.kill('SIGKILL'); // mid-recording: writes are still going on
    expect((await child.exited).signal).toBe('SIGKILL');

    const before = await readFile(file);
    const header = parseWavHeader(before);
    // The periodic patch made it valid already: it covers at least what was reported, never more than exists.
    expect(header.dataBytes).toBeGreaterThanOrEqual(patchedBytes);
    expect(header.dataBytes).toBeLessThanOrEqual(before.length - 44);
    const asIs = new WaveFile();
    asIs.fromBuffer(before);
    expect((asIs.getSamples(false) as unknown as Float64Array[])[0].length).toBe(header.dataBytes / 4);

    const repair = await repairWavFile(file);
    const after = await readFile(file);
    const repaired = parseWavHeader(after);
    expect(repaired.dataBytes).toBe(after.length - 44);
    expect(repaired.dataBytes % 4).toBe(0);
    expect(repaired.riffSize).toBe(after.length - 8);
    expect(repair.dataBytes).toBe(repaired.dataBytes);
    expect(repair.durationMs).toBe(repaired.dataBytes / 32);
    expect(repair.durationMs).toBeGreaterThanOrEqual(patchedBytes / 32);
    expect(await repairWavFile(file)).toMatchObject({ repaired: false, dataBytes: repaired.dataBytes });

    const wav = new WaveFile();
    wav.fromBuffer(after);
    const [left, right] = wav.getSamples(false) as unknown as Float64Array[];
    expect(toneAmplitude(left.subarray(0, 8000), 400, 8000)).toBeCloseTo(0.5, 1);
    expect(right.every((s) => s === 0)).toBe(true);
  });

  it('records a disk error in stats instead of throwing, and closes the file as far as it got', async () => {
    const file = path.join(dir, 'disk-full.wav');
    const child = runChild(RECORD_ON_FULL_DISK, file, 'ulimit -f 64; '); // 64 KiB: 2 s of audio fit
    const line = await child.stdoutLines.next();
    const outcome = JSON.parse(String(line.value)) as {
      threw: boolean;
      code: string;
      statsCode: string;
      result: { durationMs: number; sizeBytes: number };
    };
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(outcome.threw).toBe(false);
    expect(outcome.code).toBe('EFBIG');
    expect(outcome.statsCode).toBe('EFBIG');
    expect(outcome.result.durationMs).toBeGreaterThan(0);
    expect(outcome.result.durationMs).toBeLessThan(10000);

    const bytes = await readFile(file);
    expect((await stat(file)).size).toBeLessThanOrEqual(64 * 1024);
    const header = parseWavHeader(bytes);
    expect(header.dataBytes).toBe(outcome.result.sizeBytes - 44);
    expect(header.dataBytes).toBeLessThanOrEqual(bytes.length - 44);
  });
});
