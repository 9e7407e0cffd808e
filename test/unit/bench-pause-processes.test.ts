/**
 * The bench's --pause: real processes stopped and continued, by name; the watchdog continues them
 * when the process that paused them is killed outright.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findProcesses, pauseProcesses, processState } from '../../scripts/bench/pause-processes';

const ROOT = path.resolve(__dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForState(
  pid: number,
  wanted: (s: string | undefined) => boolean,
  ms = 5000,
): Promise<string | undefined> {
  const until = Date.now() + ms;
  let state = processState(pid);
  while (!wanted(state) && Date.now() < until) {
    await sleep(25);
    state = processState(pid);
  }
  return state;
}

describe('bench --pause (scripts/bench/pause-processes.ts)', () => {
  let dir: string;
  let name: string;
  const children: ChildProcess[] = [];

  /** A sleeping process with a command name of its own: a copy of sleep(1) under a unique name. */
  function sleeper(): ChildProcess {
    const child = spawn(path.join(dir, name), ['60'], { stdio: 'ignore' });
    children.push(child);
    return child;
  }

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sb-pause-'));
    name = `sbp${process.pid % 100000}${Math.floor(Math.random() * 1000)}`.slice(0, 15);
    copyFileSync('/bin/sleep', path.join(dir, name));
  });

  afterEach(() => {
    for (const c of children.splice(0)) {
      try {
        process.kill(c.pid!, 'SIGCONT');
      } catch {
        // gone
      }
      c.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops the processes of that name and continues them on resume(), naming the ones it did not find', async () => {
    const a = sleeper();
    const b = sleeper();
    expect(await waitForState(a.pid!, (s) => s === 'S')).toBe('S');
    expect(await waitForState(b.pid!, (s) => s === 'S')).toBe('S');

    const paused = pauseProcesses([name, 'no-such-process']);
    expect(paused.processes.map((p) => p.pid).sort()).toEqual([a.pid, b.pid].sort());
    expect(paused.processes.every((p) => p.comm === name)).toBe(true);
    expect(paused.missing).toEqual(['no-such-process']);
    // SIGSTOP takes effect when the kernel next handles the process's signals: on a loaded machine
    // /proc may still say R or S for a moment after kill() returned.
    expect(await waitForState(a.pid!, (s) => s === 'T')).toBe('T');
    expect(await waitForState(b.pid!, (s) => s === 'T')).toBe('T');

    paused.resume();
    // continued: running (R) for a moment, then back asleep (S); never stopped (T) again
    expect(await waitForState(a.pid!, (s) => s !== 'T')).toMatch(/^[RS]$/);
    expect(await waitForState(b.pid!, (s) => s !== 'T')).toMatch(/^[RS]$/);
    paused.resume(); // again: harmless
  });

  it('never finds this process or its parent, whatever their name', () => {
    const own = findProcesses(['node', 'jest', 'npm', 'sh', 'bash']).map((p) => p.pid);
    expect(own).not.toContain(process.pid);
    expect(own).not.toContain(process.ppid);
    expect(own).not.toContain(1);
  });

  it('pauses nothing (and starts no watchdog) when no name matches', () => {
    const paused = pauseProcesses(['no-such-process']);
    expect(paused.processes).toEqual([]);
    expect(paused.missing).toEqual(['no-such-process']);
  });

  it('continues them when the process that paused them is killed outright (SIGKILL)', async () => {
    const target = sleeper();
    expect(await waitForState(target.pid!, (s) => s === 'S')).toBe('S');
    const pauser = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { pauseProcesses } = require(${JSON.stringify(path.join(ROOT, 'scripts/bench/pause-processes.ts'))});
         const p = pauseProcesses([${JSON.stringify(name)}]);
         console.log(JSON.stringify(p.processes.map((x) => x.pid)));
         setInterval(() => undefined, 1000);`,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(pauser);
    const line = await new Promise<string>((resolve) => pauser.stdout!.once('data', (d: Buffer) => resolve(String(d))));
    expect(JSON.parse(line)).toEqual([target.pid]);
    expect(await waitForState(target.pid!, (s) => s === 'T')).toBe('T');

    pauser.kill('SIGKILL');
    // The watchdog looks every 0.5 s.
    expect(await waitForState(target.pid!, (s) => s !== 'T')).toMatch(/^[RS]$/);
  });
});
