/** Reading a V8 CPU profile (node --cpu-prof, `npm run bench -- --profile`): the shared part of the bench's profile tools. */
import { readFileSync } from 'node:fs';

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
