/**
 * Child processes without a fork of the server. libuv starts a child with fork() on Linux, which
 * copies the page tables of the whole process on the calling thread (the event loop's), and then
 * every page the process writes takes a copy-on-write fault once: the cost grows with the resident
 * size, 13-20 ms at 130-210 MB on a PVM guest, where page tables are dear (docs/benchmarks/bridge.md,
 * "Child processes without a fork of the server"). Every call's audio waits that long.
 *
 * The launcher keeps a few small shells (POSIX sh, ~1 MB each), each started once, the first time
 * one is needed; a job is a request line on a shell's stdin. The shell runs the command under
 * coreutils' `timeout` (which kills its whole process group when the time is up) with stdin, stdout
 * and stderr on files in a private folder, and answers `done ID STATUS`. The event loop's part is
 * the files' asynchronous writes and reads (libuv's pool) and two short pipe writes and reads. One
 * job at a time per shell (no zombies: each shell waits for its job); as many jobs at once as
 * shells, the rest queue.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One shell's loop ($1: the jobs' folder): `ID N SECONDS`, then N lines, one argument each. */
const SHELL = `dir=$1
while read -r id n secs; do
  set --
  i=0
  while [ "$i" -lt "$n" ]; do IFS= read -r arg; set -- "$@" "$arg"; i=$((i + 1)); done
  timeout -s KILL "$secs" "$@" <"$dir/$id.in" >"$dir/$id.out" 2>"$dir/$id.err"
  echo "done $id $?"
done`;

/** What a job's command did: its exit status (127: not found; 137: killed at its timeout), stdout and stderr. */
export interface LaunchResult {
  status: number;
  stdout: Buffer;
  /** The first 2,000 characters. */
  stderr: string;
}

export interface LaunchOptions {
  /** The command's stdin (default: empty). */
  input?: Buffer | string;
  /** Killed (with its process group) after this long: status 137. Default 20 s. */
  timeoutMs?: number;
}

/** A child's pipe (a net.Socket), whose handle can stop keeping the event loop alive. */
type Refable = { ref(): void; unref(): void };

interface Shell {
  child: ChildProcess;
  /** The job it runs now: its answer's waiter. */
  waiting: ((line: string) => void) | undefined;
  /** It exited, or could not start. */
  ended: boolean;
}

export class Launcher {
  private readonly shells: Shell[] = [];
  private readonly idle: Shell[] = [];
  private readonly queue: { resolve: (shell: Shell) => void; reject: (err: Error) => void }[] = [];
  private folder: Promise<string> | undefined;
  private removeAtExit: (() => void) | undefined;
  private nextId = 1;
  private closed = false;
  /** Shells being started (counted against maxShells before they are in `shells`). */
  private starting = 0;

  /** `maxShells`: jobs at once (default 2). */
  constructor(private readonly maxShells = 2) {}

  /** The process ids of the shells running now. */
  get shellPids(): number[] {
    return this.shells.flatMap((s) => (s.child.pid ? [s.child.pid] : []));
  }

  /** Runs `argv` (no shell parsing; no argument may hold a newline) and resolves with what it did. */
  async run(argv: readonly string[], options: LaunchOptions = {}): Promise<LaunchResult> {
    if (argv.length === 0 || argv.some((a) => a.includes('\n') || a.includes('\0')))
      throw new Error('launcher: a command and arguments without newlines are required');
    if (this.closed) throw new Error('launcher: closed');
    const dir = await this.jobsFolder();
    const id = this.nextId++;
    const file = (ext: string): string => join(dir, `${id}.${ext}`);
    await writeFile(file('in'), options.input ?? '');
    const shell = await this.take();
    try {
      const seconds = ((options.timeoutMs ?? 20_000) / 1000).toFixed(3);
      const answer = await this.ask(shell, `${id} ${argv.length} ${seconds}\n${argv.join('\n')}\n`);
      const status = Number(/^done \d+ (\d+)$/.exec(answer)?.[1] ?? NaN);
      if (!Number.isInteger(status)) throw new Error(`launcher: ${answer || 'the shell went away'}`);
      const [stdout, stderr] = await Promise.all([readFile(file('out')), readFile(file('err'), 'utf8')]);
      return { status, stdout, stderr: stderr.slice(0, 2000) };
    } finally {
      this.give(shell);
      void Promise.all(['in', 'out', 'err'].map((ext) => rm(file(ext), { force: true }))).catch(() => undefined);
    }
  }

  /** Ends the shells and removes the jobs' folder (a job running then fails). */
  async close(): Promise<void> {
    this.closed = true;
    for (const shell of this.shells.splice(0)) shell.child.stdin!.end();
    this.idle.length = 0;
    for (const waiter of this.queue.splice(0)) waiter.reject(new Error('launcher: closed'));
    const folder = await this.folder?.catch(() => undefined);
    if (this.removeAtExit) process.off('exit', this.removeAtExit);
    if (folder) await rm(folder, { recursive: true, force: true });
  }

  private jobsFolder(): Promise<string> {
    if (!this.folder) {
      this.folder = mkdtemp(join(tmpdir(), 'switchboard-jobs-'));
      // A process that ends without close() leaves no folder behind (a synchronous removal, at exit only).
      void this.folder.then((dir) => {
        this.removeAtExit = () => rmSync(dir, { recursive: true, force: true });
        process.once('exit', this.removeAtExit);
      });
    }
    return this.folder;
  }

  /** An idle shell, a new one while there are fewer than maxShells, or the next one given back. */
  private take(): Promise<Shell> {
    const shell = this.idle.pop();
    if (shell) return Promise.resolve(shell);
    if (this.shells.length + this.starting < this.maxShells) return this.startCounted();
    return new Promise((resolve, reject) => this.queue.push({ resolve, reject }));
  }

  private give(shell: Shell): void {
    if (!this.shells.includes(shell)) return; // ended meanwhile
    const next = this.queue.shift();
    if (next) next.resolve(shell);
    else this.idle.push(shell);
  }

  /** start(), counted in `starting` until it is in `shells`. */
  private startCounted(): Promise<Shell> {
    this.starting++;
    return this.start().finally(() => this.starting--);
  }

  private async start(): Promise<Shell> {
    const dir = await this.jobsFolder();
    const child = spawn('sh', ['-c', SHELL, 'sh', dir], { stdio: ['pipe', 'pipe', 'ignore'] });
    const shell: Shell = { child, waiting: undefined, ended: false };
    this.shells.push(shell);
    let buffered = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl === -1) return;
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const waiting = shell.waiting;
      shell.waiting = undefined;
      (child.stdout as unknown as Refable).unref();
      waiting?.(line);
    });
    const gone = (): void => {
      if (shell.ended) return;
      shell.ended = true;
      const at = this.shells.indexOf(shell);
      if (at !== -1) this.shells.splice(at, 1);
      const idleAt = this.idle.indexOf(shell);
      if (idleAt !== -1) this.idle.splice(idleAt, 1);
      const waiting = shell.waiting;
      shell.waiting = undefined;
      waiting?.('');
      // A job queued for a shell: a new one takes it.
      const next = this.queue.shift();
      if (next && !this.closed) void this.startCounted().then(next.resolve, next.reject);
    };
    child.once('error', gone);
    child.once('close', gone);
    child.stdin!.on('error', () => undefined); // a shell gone: its close answers
    // Neither the shell nor its pipes keep the process alive, but while an answer is awaited (ask).
    child.unref();
    for (const stream of [child.stdin, child.stdout] as unknown as Refable[]) stream.unref();
    return shell;
  }

  private ask(shell: Shell, request: string): Promise<string> {
    return new Promise((resolve) => {
      if (shell.ended) return resolve('');
      shell.waiting = resolve;
      (shell.child.stdout as unknown as Refable).ref();
      shell.child.stdin!.write(request);
    });
  }
}

let shared: Launcher | undefined;

/** The process's launcher (as many shells as the recognizers and synthesizers may run at once). */
export function launcher(): Launcher {
  shared ??= new Launcher(4);
  return shared;
}
