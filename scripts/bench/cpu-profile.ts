/** Reading a V8 CPU profile (node --cpu-prof, `npm run bench -- --profile`): the shared part of the bench's profile tools. */
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  /** µs, CLOCK_MONOTONIC. */
  startTime: number;
  endTime: number;
}
/** A profile with its nodes by id and each node's parent. */
export interface IndexedProfile extends CpuProfile {
  byId: Map<number, ProfileNode>;
  parent: Map<number, number>;
}

export function readProfile(file: string): IndexedProfile {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  return { ...profile, byId, parent };
}

/** The node and its callers, innermost first. */
export function* stackOf(profile: IndexedProfile, id: number): Generator<ProfileNode> {
  for (let cur: number | undefined = id; cur !== undefined; cur = profile.parent.get(cur)) {
    yield profile.byId.get(cur)!;
  }
}

/** Is this frame the project's own code (src/ or scripts/, not a package)? */
export function isOwnFrame(n: ProfileNode, dirs = /\/(src|scripts)\//): boolean {
  return dirs.test(n.callFrame.url) && !n.callFrame.url.includes('node_modules');
}

/**
 * A helper run under tsx (`--import tsx`) has two V8 threads that each write a profile with
 * `--cpu-prof`: its main thread and tsx's module-loader thread. Given one folder per helper (no
 * `--cpu-prof-name`, so neither overwrites the other), keeps the main thread's as `target` (Node
 * names it `CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile`, thread 0) and removes the folder. False when
 * the folder holds no main-thread profile (the helper did not exit on its own).
 */
export function keepMainThreadProfile(dir: string, target: string): boolean {
  if (!existsSync(dir)) return false;
  const main = readdirSync(dir).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  if (main) renameSync(path.join(dir, main), target);
  rmSync(dir, { recursive: true, force: true });
  return main !== undefined;
}
