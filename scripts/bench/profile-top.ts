/**
 * tsx scripts/bench/profile-top.ts <file.cpuprofile> [--top 30] [--filter text]
 * Summarises a V8 CPU profile (node --cpu-prof, or `npm run bench -- --profile`): self time per
 * function, and total (inclusive) time per function, with file:line, sorted.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' }, filter: { type: 'string' } },
});
if (positionals.length !== 1) {
  console.error('usage: tsx scripts/bench/profile-top.ts <file.cpuprofile> [--top 30] [--filter text]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

const label = (n: Node): string => {
  const url = n.callFrame.url
    .replace(/^file:\/\//, '')
    .replace(/.*node_modules\//, '~/')
    .replace(/.*\/dist\//, '');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
};
const self = new Map<string, number>();
const total = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  self.set(label(node), (self.get(label(node)) ?? 0) + us);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!);
    if (seen.has(l)) continue;
    seen.add(l);
    total.set(l, (total.get(l) ?? 0) + us);
  }
}
const wallUs = profile.endTime - profile.startTime;
const idle = [...self].filter(([l]) => l.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
console.log(`profile ${(wallUs / 1e6).toFixed(1)} s, busy ${((wallUs - idle) / 1e6).toFixed(2)} s`);
const top = Number(values.top);
const show = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title}`);
  [...m]
    .filter(([l]) => !values.filter || l.includes(values.filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([l, us]) =>
      console.log(
        `${(us / 1000).toFixed(0).padStart(8)} ms  ${((us / (wallUs - idle)) * 100).toFixed(1).padStart(5)}%  ${l}`,
      ),
    );
};
show('self time', self);
show('total time', total);
