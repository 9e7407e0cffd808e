/**
 * Which CPUs a process of the bench may run on (`--pin-load`, `--pin-server`), with `taskset` from
 * util-linux. On a machine too small to hold the load generators apart, holding them to one core and
 * the server to another stands in for "the callers and the AI on another machine": the server no
 * longer shares a core with the processes that load it, and they are not slowed by it either.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { threadIds } from './proc';

/** A CPU list as taskset and the kernel write it: `1`, `0,2`, `0-3,6`. */
const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** The CPUs a list names, sorted; throws when it is not a list or names a CPU the machine does not have. */
export function parseCpuList(text: string, cpuCount: number): number[] {
  if (!CPU_LIST.test(text)) throw new Error(`not a CPU list: ${JSON.stringify(text)} (e.g. 0 or 0,1 or 0-1)`);
  const cpus = new Set<number>();
  for (const part of text.split(',')) {
    const [from, to = from] = part.split('-').map(Number);
    if (to < from) throw new Error(`CPU range ${part} runs backwards`);
    if (to >= cpuCount) throw new Error(`CPU ${to} is not on this machine (CPUs 0-${cpuCount - 1})`);
    for (let c = from; c <= to; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/**
 * Holds every thread of process `pid` to `cpus` (threads it starts later inherit it). Throws when
 * taskset is missing or refuses, or a thread is not held after it: a run measured with the
 * processes where they were not meant to be would be a wrong figure, not a lesser one.
 */
export function pinProcess(pid: number, cpus: readonly number[]): void {
  const result = spawnSync('taskset', ['--all-tasks', '--pid', '--cpu-list', cpus.join(','), String(pid)], {
    encoding: 'utf8',
  });
  if (result.error) throw new Error(`taskset could not run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`taskset failed for pid ${pid}: ${result.stderr.trim()}`);
  // taskset --all-tasks succeeds, silently, for a process that is not there: read back what holds.
  const now = allowedCpus(pid);
  if (now.size === 0) throw new Error(`could not pin pid ${pid}: no such process`);
  const want = cpus.join(',');
  for (const [tid, allowed] of now) {
    if (allowed.join(',') !== want)
      throw new Error(`could not pin pid ${pid}: thread ${tid} may run on ${allowed.join(',')}`);
  }
}

/** The CPUs each thread of `pid` may run on now, by thread id (from /proc; empty once it has exited). */
export function allowedCpus(pid: number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const tid of threadIds(pid)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const list = /^Cpus_allowed_list:\s*(\S+)$/m.exec(status)?.[1];
      if (list) out.set(tid, parseCpuList(list, Number.MAX_SAFE_INTEGER));
    } catch {
      // the thread ended while we read
    }
  }
  return out;
}
