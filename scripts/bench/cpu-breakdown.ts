/**
 * Where a thread's busy time went, by kind of work, for one or more V8 CPU profiles side by side
 * (e.g. Switchboard's and the compared bridge's from one `npm run bench -- --profile --compare-js`):
 *
 *   npx tsx scripts/bench/cpu-breakdown.ts A.cpuprofile B.cpuprofile [--label a,b]
 *
 * Each sample's innermost frame decides its kind: socket writes (the system calls under
 * `writeBuffer`, `writev`, `write*String`: on loopback they include the receiver's TCP processing
 * and its wake-up), GC, V8's `(program)`, the `ws` package, other packages, Node's own JavaScript,
 * the project's own code, and other native functions (JSON, base64, RegExp, postMessage). Idle
 * samples are left out. Used for docs/benchmarks/bridge.md, "Where the relay's CPU goes".
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readProfile, type IndexedProfile, type ProfileNode } from './cpu-profile';

export const KINDS = [
  'socket writes (system calls)',
  'own code',
  'Node internals (JS)',
  'ws package',
  'other packages',
  'GC',
  '(program)',
  'other native',
] as const;
export type Kind = (typeof KINDS)[number];

const SOCKET_WRITES = /^(writeBuffer|writev|writeUtf8String|writeLatin1String|writeAsciiString|writeUcs2String)$/;

/** The kind of work of a sample whose innermost frame is `node`. Undefined for idle. */
export function kindOf(node: ProfileNode): Kind | undefined {
  const { functionName: fn, url } = node.callFrame;
  if (fn === '(idle)') return undefined;
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return '(program)';
  if (!url) return SOCKET_WRITES.test(fn) ? 'socket writes (system calls)' : 'other native';
  if (url.includes('/node_modules/ws/')) return 'ws package';
  if (url.includes('/node_modules/')) return 'other packages';
  if (url.startsWith('node:')) return 'Node internals (JS)';
  return 'own code';
}

export interface Breakdown {
  /** Busy microseconds (idle left out). */
  busyUs: number;
  byKind: Record<Kind, number>;
}

export function breakdown(profile: IndexedProfile): Breakdown {
  const byKind = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const node = profile.byId.get(id);
    const kind = node && kindOf(node);
    if (!kind) return;
    const us = profile.timeDeltas[i] ?? 0;
    byKind[kind] += us;
    busyUs += us;
  });
  return { busyUs, byKind };
}

/** A markdown table: one column per profile, ms and share of its busy time. */
export function breakdownTable(labels: string[], rows: Breakdown[]): string {
  const cell = (us: number, busy: number) =>
    `${(us / 1000).toFixed(0)} (${busy ? ((us / busy) * 100).toFixed(1) : '0.0'} %)`;
  const lines = [
    `| Kind of work | ${labels.join(' | ')} |`,
    `|---|${labels.map(() => '---:').join('|')}|`,
    ...KINDS.map((k) => `| ${k} | ${rows.map((r) => cell(r.byKind[k], r.busyUs)).join(' | ')} |`),
    `| **busy** | ${rows.map((r) => `**${(r.busyUs / 1000).toFixed(0)}**`).join(' | ')} |`,
  ];
  return lines.join('\n');
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { label: { type: 'string' } } });
  if (positionals.length === 0) {
    console.error('usage: tsx scripts/bench/cpu-breakdown.ts A.cpuprofile [B.cpuprofile ...] [--label a,b]');
    process.exit(2);
  }
  const labels = values.label ? values.label.split(',') : positionals.map((f) => path.basename(f, '.cpuprofile'));
  if (labels.length !== positionals.length) {
    console.error('--label: one label per profile');
    process.exit(2);
  }
  console.log('Busy time of the profiled thread, ms (share of its busy time):\n');
  console.log(
    breakdownTable(
      labels,
      positionals.map((f) => breakdown(readProfile(f))),
    ),
  );
}

if (require.main === module) main();
