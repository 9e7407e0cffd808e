/** scripts/bench/cpu-pin.ts: holding a process of the bench, every thread of it, to given CPUs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { allowedCpus, parseCpuList, pinProcess } from '../../scripts/bench/cpu-pin';

/** A node process that starts a worker thread each time it reads a line, and says so. */
const CHILD = `
const { Worker } = require('node:worker_threads');
const workers = [];
process.stdin.on('data', () => {
  const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
  w.on('online', () => process.stdout.write('online\\n'));
  workers.push(w);
});
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`;

/** Resolves once the child has printed `text` (its output read as it comes, the stream left open). */
function line(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer): void => {
      seen += String(chunk);
      if (!seen.includes(text)) return;
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      resolve();
    };
    const onExit = (): void => reject(new Error(`the child ended before printing ${text}`));
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}

describe('bench CPU pinning', () => {
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await once(c, 'exit');
      }
    }
  });

  it('reads the CPU lists taskset takes and refuses anything else', () => {
    expect(parseCpuList('0', 2)).toEqual([0]);
    expect(parseCpuList('1,0', 2)).toEqual([0, 1]);
    expect(parseCpuList('0-3,6', 8)).toEqual([0, 1, 2, 3, 6]);
    expect(() => parseCpuList('', 2)).toThrow(/not a CPU list/);
    expect(() => parseCpuList('0,', 2)).toThrow(/not a CPU list/);
    expect(() => parseCpuList('one', 2)).toThrow(/not a CPU list/);
    expect(() => parseCpuList('-1', 2)).toThrow(/not a CPU list/);
    expect(() => parseCpuList('1-0', 2)).toThrow(/backwards/);
    expect(() => parseCpuList('2', 2)).toThrow(/not on this machine/);
    expect(() => parseCpuList('0-2', 2)).toThrow(/not on this machine/);
  });

  it('holds every thread of a running process to the CPUs, and threads it starts later too', async () => {
    const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    await line(child, 'ready');
    const last = availableParallelism() - 1;
    const all = [...Array(last + 1).keys()];
    // Node's own threads (V8's platform, libuv) already run: unpinned, they may use every CPU.
    expect([...allowedCpus(child.pid!).values()].every((cpus) => cpus.length === all.length)).toBe(true);

    pinProcess(child.pid!, [last]);
    const pinned = allowedCpus(child.pid!);
    expect(pinned.size).toBeGreaterThan(3);
    for (const cpus of pinned.values()) expect(cpus).toEqual([last]);

    child.stdin!.write('start a worker\n');
    await line(child, 'online');
    const after = allowedCpus(child.pid!);
    expect(after.size).toBeGreaterThan(pinned.size);
    for (const cpus of after.values()) expect(cpus).toEqual([last]);

    // And back to every CPU: the same call widens as well as narrows.
    pinProcess(child.pid!, all);
    for (const cpus of allowedCpus(child.pid!).values()) expect(cpus).toEqual(all);
  });

  it('throws for a process that is not there, rather than measuring unpinned', async () => {
    const child = spawn(process.execPath, ['-e', '0']);
    await once(child, 'exit');
    expect(() => pinProcess(child.pid!, [0])).toThrow(/no such process/);
    expect(allowedCpus(child.pid!).size).toBe(0);
  });
});
