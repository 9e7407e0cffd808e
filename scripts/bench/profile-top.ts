/**
 * tsx scripts/bench/profile-top.ts <file.cpuprofile> [--top 30] [--filter text] [--stalls MS]
 * Summarises a V8 CPU profile (node --cpu-prof, or `npm run bench -- --profile`): self time per
 * function, and total (inclusive) time per function, with file:line, sorted. With --stalls MS, also
 * every stretch of at least MS during which the thread was never idle (what callers hear as a late
 * frame), with the functions that filled it: the outermost application frame of each sample
 * (src/... or a package), and GC.
 */
import { parseArgs } from 'node:util';
import { isOwnFrame, readProfile, stackOf, type ProfileNode } from './cpu-profile';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' }, filter: { type: 'string' }, stalls: { type: 'string' } },
});
if (positionals.length !== 1) {
  console.error('usage: tsx scripts/bench/profile-top.ts <file.cpuprofile> [--top 30] [--filter text]');
  process.exit(2);
}
const profile = readProfile(positionals[0]);
const { byId } = profile;
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

const label = (n: ProfileNode): string => {
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
  for (const n of stackOf(profile, id)) {
    const l = label(n);
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

/** The frame a stall is charged to: the innermost frame of our code (src/) or, failing that, the innermost package. */
const culprit = (id: number): string => {
  let pkg: string | undefined;
  for (const n of stackOf(profile, id)) {
    if (isOwnFrame(n)) return label(n);
    if (!pkg && n.callFrame.url.includes('node_modules')) pkg = label(n).split(' ')[1].split('/').slice(0, 2).join('/');
  }
  const own = label(byId.get(id)!);
  return pkg ?? own;
};

if (values.stalls) {
  const minUs = Number(values.stalls) * 1000;
  const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  let t = profile.startTime;
  let runStart = -1;
  let runSamples: { id: number; us: number }[] = [];
  const stalls: { at: number; us: number; top: [string, number][] }[] = [];
  const close = (end: number): void => {
    if (runStart >= 0 && end - runStart >= minUs) {
      const by = new Map<string, number>();
      for (const { id, us } of runSamples) by.set(culprit(id), (by.get(culprit(id)) ?? 0) + us);
      stalls.push({ at: runStart, us: end - runStart, top: [...by].sort((a, b) => b[1] - a[1]).slice(0, 6) });
    }
    runStart = -1;
    runSamples = [];
  };
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (idleIds.has(id)) close(t - dt);
    else {
      if (runStart < 0) runStart = t - dt;
      runSamples.push({ id, us: dt });
    }
  });
  close(t);
  const all = new Map<string, number>();
  for (const s of stalls) for (const [l, us] of s.top) all.set(l, (all.get(l) ?? 0) + us);
  console.log(
    `\nstretches never idle for >= ${values.stalls} ms: ${stalls.length}, ${(stalls.reduce((a, s) => a + s.us, 0) / 1000).toFixed(0)} ms in all`,
  );
  for (const s of stalls) {
    console.log(
      `  at ${((s.at - profile.startTime) / 1e6).toFixed(2)} s: ${(s.us / 1000).toFixed(0)} ms — ` +
        s.top.map(([l, us]) => `${l} ${(us / 1000).toFixed(0)}`).join('; '),
    );
  }
  console.log('\ncharged over all stalls');
  [...all]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([l, us]) => console.log(`${(us / 1000).toFixed(0).padStart(8)} ms  ${l}`));
}
