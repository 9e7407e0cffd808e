/**
 * Recorder disk-write cost on the main thread: N StereoWavRecorders fed the way the bridge feeds them (a
 * 20 ms caller frame per call per tick, 100 ms of agent audio every 100 ms), for S seconds at real pace.
 * Reports the process's CPU time, event-loop delay (p99, max), disk writes issued (data + header) and RSS.
 *
 *   npx tsx scripts/bench/recorder-bench.ts [--calls 100] [--seconds 10] [--runs 2] [--before FILE]
 *
 * `--before FILE` is another copy of wav-recorder.ts (e.g. `git show PARENT:src/audio/wav-recorder.ts`
 * with its imports pointed at this tree); its runs alternate with this tree's, so both share the machine's
 * load in one run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

interface Recorder {
  writeCaller(data: Uint8Array, atMs: number): void;
  writeAgent(data: Uint8Array, atMs: number): void;
  close(endMs?: number): Promise<unknown>;
  readonly stats: { headerPatches: number };
}
interface RecorderClass {
  create(file: string, opts?: object): Recorder;
}

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && index + 1 < process.argv.length ? process.argv[index + 1] : fallback;
}

async function runOnce(label: string, cls: RecorderClass, calls: number, seconds: number): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'recbench-'));
  const recorders = Array.from({ length: calls }, (_, i) => cls.create(path.join(dir, `${i}.wav`)));
  const frame = new Uint8Array(160).fill(0x7f);
  const agent = new Uint8Array(800).fill(0x55);
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const cpu0 = process.cpuUsage();
  let peakRss = 0;
  histogram.enable();
  const started = performance.now();
  let tick = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const atMs = tick * 20;
      for (const recorder of recorders) {
        recorder.writeCaller(frame, atMs);
        if (tick % 5 === 0) recorder.writeAgent(agent, atMs + 200);
      }
      tick++;
      if (tick % 50 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
      if (performance.now() - started >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
  histogram.disable();
  const cpu = process.cpuUsage(cpu0);
  const patches = recorders.reduce((sum, r) => sum + r.stats.headerPatches, 0);
  await Promise.all(recorders.map((r) => r.close()));
  await rm(dir, { recursive: true, force: true });
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return [
    label.padEnd(7),
    `cpu ${cpuMs.toFixed(0).padStart(5)} ms`,
    `(${((cpuMs / (calls * seconds)) * 1000).toFixed(1)} µs/call-s)`,
    `loop p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms`,
    `max ${(histogram.max / 1e6).toFixed(1)} ms`,
    `header patches ${patches}`,
    `peak RSS ${(peakRss / 1048576).toFixed(0)} MB`,
  ].join('  ');
}

async function main(): Promise<void> {
  const calls = Number(arg('calls', '100'));
  const seconds = Number(arg('seconds', '10'));
  const runs = Number(arg('runs', '2'));
  const before = arg('before', '');
  const after = ((await import('../../src/audio/wav-recorder')) as { StereoWavRecorder: RecorderClass })
    .StereoWavRecorder;
  const beforeCls = before
    ? ((await import(pathToFileURL(path.resolve(before)).href)) as { StereoWavRecorder: RecorderClass })
        .StereoWavRecorder
    : null;
  console.log(`${calls} recorders, ${seconds} s per run, load ${os.loadavg()[0].toFixed(1)}`);
  for (let run = 0; run < runs; run++) {
    if (beforeCls) console.log(await runOnce('before', beforeCls, calls, seconds));
    console.log(await runOnce('after', after, calls, seconds));
  }
}

void main();
