/**
 * `npm run bench -- --pause beam.smp,mariadbd,...`: the machine's own services that the server does
 * not use, stopped (SIGSTOP) for the bench and continued (SIGCONT) after it.
 *
 * Why: on a two-core machine shared by the server, the local AI and the callers, a service's
 * periodic work lands in whichever run it happens to fall in. The machines of this project run
 * RabbitMQ, whose node starts a whole Erlang VM every 60 s to check its port mapper (~350 ms of CPU
 * within 450 ms: docs/benchmarks/bridge.md, sixteenth session); a run it falls in has a cluster of
 * late frames the bridge did not cause. Stopping such a process holds it where it is (its memory,
 * sockets and files stay; its clients wait) and continuing it lets it go on as before.
 *
 * Processes are matched by their exact command name (`/proc/<pid>/comm`, as `ps -o comm` shows
 * it). Never paused: kernel threads, process 1, this process and its ancestors. The continue is
 * sent on every way out: `resume()` (the bench calls it when it ends or fails), and a detached
 * watchdog shell that continues them once this process has gone, however it went (SIGKILL too).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface PausedProcess {
  pid: number;
  comm: string;
}

export interface Paused {
  processes: PausedProcess[];
  /** Names asked for that matched no process. */
  missing: string[];
  /** Continues every paused process (again is harmless). */
  resume(): void;
}

/** The process's parent and state from /proc/<pid>/stat (the command name may hold spaces and parentheses). */
function stat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], ppid: Number(fields[1]) };
  } catch {
    return undefined; // gone
  }
}

/** The process's state letter (`T` stopped, `S` sleeping, `R` running, ...), or undefined once it has gone. */
export function processState(pid: number): string | undefined {
  return stat(pid)?.state;
}

/** This process and its ancestors up to process 1: never paused. */
function ancestors(): Set<number> {
  const out = new Set<number>([1]);
  for (let pid = process.pid; pid > 1 && !out.has(pid); pid = stat(pid)?.ppid ?? 1) out.add(pid);
  return out;
}

/** User processes whose command name is one of `names` (kernel threads have an empty command line). */
export function findProcesses(names: readonly string[]): PausedProcess[] {
  const wanted = new Set(names);
  const never = ancestors();
  const found: PausedProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (never.has(pid)) continue;
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
      if (!wanted.has(comm)) continue;
      if (readFileSync(`/proc/${pid}/cmdline`).length === 0) continue; // a kernel thread
      found.push({ pid, comm });
    } catch {
      // gone meanwhile
    }
  }
  return found.sort((a, b) => a.pid - b.pid);
}

/** Stops every process named in `names` until `resume()` or this process's end, whichever comes first. */
export function pauseProcesses(names: readonly string[]): Paused {
  const processes = findProcesses(names);
  const missing = names.filter((n) => !processes.some((p) => p.comm === n));
  if (processes.length === 0) return { processes, missing, resume: () => undefined };
  const pids = processes.map((p) => p.pid);
  // The watchdog first: from the moment anything is stopped, something outside this process will continue it.
  const watchdog = spawn(
    'sh',
    ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; kill -CONT ${pids.join(' ')} 2>/dev/null`],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  const stopped: number[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGSTOP');
      stopped.push(pid);
    } catch {
      // gone, or not ours to stop: left running
    }
  }
  let resumed = false;
  return {
    processes: processes.filter((p) => stopped.includes(p.pid)),
    missing,
    resume(): void {
      if (resumed) return;
      resumed = true;
      for (const pid of stopped) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // gone meanwhile
        }
      }
      watchdog.kill();
    },
  };
}
