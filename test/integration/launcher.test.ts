/**
 * src/runtime/launcher.ts: child processes run by a few long-lived shells instead of being forked
 * from this process. Real shells, real commands, real files.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Launcher } from '../../src/runtime/launcher';

/** This process's child processes. */
function children(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Gone, or a zombie waiting to be reaped. */
function ended(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return true;
  }
}

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return check();
}

describe('launcher', () => {
  const launchers: Launcher[] = [];
  const make = (shells = 2): Launcher => {
    const l = new Launcher(shells);
    launchers.push(l);
    return l;
  };
  afterEach(async () => {
    await Promise.all(launchers.splice(0).map((l) => l.close()));
  });

  it('runs a command with its stdin and gives back its status, stdout and stderr', async () => {
    const l = make();
    const result = await l.run(['sh', '-c', 'tr a-z A-Z; echo oops >&2; exit 3'], { input: 'hello\nworld' });
    expect(result.status).toBe(3);
    expect(result.stdout.toString()).toBe('HELLO\nWORLD');
    expect(result.stderr).toBe('oops\n');
    // Binary input and output, byte for byte.
    const bytes = Buffer.from([0, 1, 2, 255, 10, 13, 0]);
    expect((await l.run(['cat'], { input: bytes })).stdout.equals(bytes)).toBe(true);
    // No input: an empty stdin.
    expect((await l.run(['wc', '-c'])).stdout.toString().trim()).toBe('0');
  });

  it('passes every argument as it is, with no shell parsing', async () => {
    const args = ['a b', '"q"', "'s'", '$HOME', '*', '`id`', '; rm -rf /', '', '\\t'];
    const result = await make().run(['printf', '%s|', ...args]);
    expect(result.stdout.toString()).toBe(`${args.join('|')}|`);
  });

  it('refuses an argument with a newline, and an empty command', async () => {
    const l = make();
    await expect(l.run(['echo', 'a\nb'])).rejects.toThrow(/without newlines/);
    await expect(l.run([])).rejects.toThrow(/a command/);
  });

  it('answers 127 for a command that is not there, and 137 when its time is up, its process group killed', async () => {
    const l = make();
    expect((await l.run(['/nonexistent/command'])).status).toBe(127);
    // The command's own child (a background sleep) is killed with it.
    const timed = await l.run(['sh', '-c', 'sleep 30 & echo $!; wait'], { timeoutMs: 300 });
    expect(timed.status).toBe(137);
    const sleeper = Number(timed.stdout.toString().trim());
    expect(sleeper).toBeGreaterThan(0);
    expect(await until(() => ended(sleeper))).toBe(true);
  });

  it('runs jobs on at most its shells, each started once, and none of them a child of this process', async () => {
    const before = new Set(children());
    const l = make(2);
    const jobs = Array.from({ length: 5 }, (_, i) => l.run(['sh', '-c', `sleep 0.1; echo ${i}`]));
    const outputs = (await Promise.all(jobs)).map((r) => r.stdout.toString().trim());
    expect(outputs).toEqual(['0', '1', '2', '3', '4']);
    const shells = l.shellPids;
    expect(shells).toHaveLength(2);
    for (let i = 0; i < 3; i++) await l.run(['true']);
    expect(l.shellPids).toEqual(shells);
    // The only processes this one started are the two shells: the commands were theirs.
    expect(
      children()
        .filter((pid) => !before.has(pid) && !ended(pid))
        .sort(),
    ).toEqual([...shells].sort());
  });

  it('ends its shells and removes its files at close', async () => {
    const l = make();
    await l.run(['true']);
    const [shell] = l.shellPids;
    const folders = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith('switchboard-jobs-'));
    const mine = folders().filter((f) => readFileSync(`/proc/${shell}/cmdline`, 'utf8').includes(f));
    expect(mine).toHaveLength(1);
    // No job's files are left behind once it is done.
    expect(await until(() => readdirSync(path.join(tmpdir(), mine[0])).length === 0)).toBe(true);
    await l.close();
    expect(await until(() => ended(shell))).toBe(true);
    expect(existsSync(path.join(tmpdir(), mine[0]))).toBe(false);
    await expect(l.run(['true'])).rejects.toThrow(/closed/);
  });

  it('at close, fails the jobs still waiting for a shell instead of leaving them waiting', async () => {
    const l = new Launcher(1);
    const running = l.run(['sleep', '0.3']);
    await until(() => l.shellPids.length === 1);
    const queued = l.run(['echo', 'never']);
    await new Promise((r) => setTimeout(r, 50));
    await l.close();
    await expect(queued).rejects.toThrow(/closed/);
    await running.catch(() => undefined); // its folder is gone: it may fail too
  });

  it('fails the job of a shell that dies, and starts a new shell for the next', async () => {
    const l = make(1);
    const running = l.run(['sleep', '5']);
    await until(() => l.shellPids.length === 1);
    const [shell] = l.shellPids;
    await new Promise((r) => setTimeout(r, 100));
    process.kill(shell, 'SIGKILL');
    await expect(running).rejects.toThrow(/the shell went away/);
    expect((await l.run(['echo', 'again'])).stdout.toString()).toBe('again\n');
    expect(l.shellPids).not.toContain(shell);
  });

  it('keeps a process alive while it waits for a job, and not after', async () => {
    const script = `
      const { Launcher } = require(${JSON.stringify(path.resolve(__dirname, '../../src/runtime/launcher.ts'))});
      new Launcher(1).run(['sh', '-c', 'sleep 0.3; echo done']).then((r) => console.log(r.stdout.toString().trim()));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: path.resolve(__dirname, '../..'),
      timeout: 20_000,
    });
    expect(stdout.trim()).toBe('done');
  });
});
