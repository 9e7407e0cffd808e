/**
 * src/runtime/helper-threads.ts: every thread but the main one under SCHED_BATCH, read back from
 * /proc (field 41 of a thread's stat: 0 normal, 3 batch), with the real `chrt`.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { HelperThreads, noteHelperThread } from '../../src/runtime/helper-threads';
import { Launcher } from '../../src/runtime/launcher';

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;

function policy(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
}

/** A worker that stays alive until terminated and tells its thread id. */
async function startWorker(note = false): Promise<{ worker: Worker; tid: number }> {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', () => {});
     parentPort.postMessage(Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop()));`,
    { eval: true },
  );
  if (note) noteHelperThread(worker);
  const tid = await new Promise<number>((resolve) => worker.once('message', resolve));
  return { worker, tid };
}

/** This process's running child processes: [pid, command name]. */
function children(): [number, string][] {
  const out: [number, string][] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Ours and running (a zombie of an earlier test's child is not one of this test's).
      if (Number(after[1]) === process.pid && after[0] !== 'Z')
        out.push([Number(entry), stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))]);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function capture(): { warnings: string[]; logger: { info(): void; warn(m: string): void } } {
  const warnings: string[] = [];
  return { warnings, logger: { info: () => undefined, warn: (m: string) => void warnings.push(m) } };
}

describe('helper threads under SCHED_BATCH', () => {
  const workers: Worker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
  });

  it('sets every thread but the main one, and one started later at the next scan', async () => {
    const first = await startWorker();
    workers.push(first.worker);
    expect(policy(first.tid)).toBe(SCHED_OTHER);
    const { warnings, logger } = capture();
    // No timed scan during the test (on a loaded machine one could run before the check below); the
    // next scan is called by hand.
    const helpers = new HelperThreads({ logger, intervalMs: 600_000 });
    try {
      await helpers.start();
      expect(policy(first.tid)).toBe(SCHED_BATCH);
      expect(helpers.batched.has(first.tid)).toBe(true);
      // The event loop's own thread keeps the default policy.
      expect(policy(process.pid)).toBe(SCHED_OTHER);
      expect(helpers.batched.has(process.pid)).toBe(false);

      // A thread started afterwards inherits the main thread's policy; the next scan changes it.
      const later = await startWorker();
      workers.push(later.worker);
      expect(policy(later.tid)).toBe(SCHED_OTHER);
      await helpers.scan();
      expect(policy(later.tid)).toBe(SCHED_BATCH);
      expect(warnings).toEqual([]);
    } finally {
      helpers.stop();
    }
  });

  it('sets a thread announced with noteHelperThread as soon as it is online, without waiting for a scan', async () => {
    const helpers = new HelperThreads({ logger: capture().logger, intervalMs: 3_600_000 });
    await helpers.start();
    try {
      const announced = await startWorker(true);
      workers.push(announced.worker);
      const until = Date.now() + 5000;
      while (policy(announced.tid) !== SCHED_BATCH && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(policy(announced.tid)).toBe(SCHED_BATCH);
    } finally {
      helpers.stop();
    }
    // Stopped: an announced thread is left as it starts.
    const after = await startWorker(true);
    workers.push(after.worker);
    await new Promise((r) => setTimeout(r, 300));
    expect(policy(after.tid)).toBe(SCHED_OTHER);
  });

  it('runs chrt through the launcher: no child process of ours per thread (each would be a fork of this one)', async () => {
    const before = new Set(children().map(([pid]) => pid));
    const shells = new Launcher(1);
    const helpers = new HelperThreads({ logger: capture().logger, intervalMs: 600_000, launcher: shells });
    try {
      await helpers.start();
      expect(helpers.batched.size).toBeGreaterThan(0);
      const [shell] = shells.shellPids;
      const later = await startWorker();
      workers.push(later.worker);
      await helpers.scan();
      expect(policy(later.tid)).toBe(SCHED_BATCH);
      // The same shell set them all; every chrt ran as its child, none as ours.
      expect(shells.shellPids).toEqual([shell]);
      const ours = children().filter(([pid]) => !before.has(pid));
      expect(ours).toEqual([[shell, 'sh']]);
    } finally {
      helpers.stop();
      await shells.close();
    }
  });

  it('keeps a process alive while it waits for the shell, and not after', async () => {
    const script = `
      const { HelperThreads } = require(${JSON.stringify(path.resolve(__dirname, '../../src/runtime/helper-threads.ts'))});
      const helpers = new HelperThreads({ logger: { info() {}, warn(m) { console.log('warn', m); } } });
      helpers.start().then(() => console.log('set', helpers.batched.size));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: path.resolve(__dirname, '../..'),
      timeout: 20_000,
    });
    // Node's own threads (V8's, libuv's) were set, and the process then ended by itself.
    expect(stdout.trim()).toMatch(/^set [1-9]\d*$/);
  });

  it('forgets threads that have ended', async () => {
    const { worker, tid } = await startWorker();
    const helpers = new HelperThreads({ logger: capture().logger });
    await helpers.start();
    helpers.stop();
    expect(helpers.batched.has(tid)).toBe(true);
    await worker.terminate();
    await helpers.scan();
    expect(helpers.batched.has(tid)).toBe(false);
  });

  it('without chrt, or when chrt fails, leaves every thread as it was and says so once', async () => {
    const { worker, tid } = await startWorker();
    workers.push(worker);
    for (const chrt of ['/nonexistent/chrt', '/bin/false']) {
      const { warnings, logger } = capture();
      const helpers = new HelperThreads({ logger, chrt, intervalMs: 50 });
      await helpers.start();
      await new Promise((r) => setTimeout(r, 200));
      await helpers.scan();
      helpers.stop();
      expect(policy(tid)).toBe(SCHED_OTHER);
      expect(helpers.batched.size).toBe(0);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/default scheduling policy/);
    }
  });
});
