/**
 * scripts/bench/cpu-breakdown.ts: a profile's busy time by kind of work, decided by each sample's
 * innermost frame, idle left out. Checked on a hand-made profile whose samples are known, and on a
 * real profile of a Node process that writes to a socket and spins in its own function.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { breakdown, breakdownTable, kindOf, KINDS } from '../../scripts/bench/cpu-breakdown';
import { readProfile, type ProfileNode } from '../../scripts/bench/cpu-profile';

const node = (id: number, functionName: string, url = '', children: number[] = []): ProfileNode => ({
  id,
  callFrame: { functionName, url, lineNumber: 0 },
  children,
});

describe('kindOf', () => {
  it.each([
    ['(idle)', '', undefined],
    ['(garbage collector)', '', 'GC'],
    ['(program)', '', '(program)'],
    ['writeBuffer', '', 'socket writes (system calls)'],
    ['writev', '', 'socket writes (system calls)'],
    ['writeUtf8String', '', 'socket writes (system calls)'],
    ['JSON.parse', '', 'other native'],
    ['postMessage', '', 'other native'],
    ['frame', 'file:///app/node_modules/ws/lib/sender.js', 'ws package'],
    ['log', 'file:///app/node_modules/winston/lib/winston/logger.js', 'other packages'],
    ['emit', 'node:events', 'Node internals (JS)'],
    ['onFrame', 'file:///app/dist/src/channels/twilio/media-stream.js', 'own code'],
    ['(anonymous)', 'file:///tmp/relay/index.js', 'own code'],
  ])('%s %s → %s', (fn, url, kind) => {
    expect(kindOf(node(1, fn, url))).toBe(kind);
  });
});

describe('breakdown', () => {
  it('adds each sample’s time to its kind and leaves idle out', () => {
    const nodes = [
      node(1, '(root)', '', [2, 3, 4, 5]),
      node(2, '(idle)'),
      node(3, 'writev'),
      node(4, 'onFrame', 'file:///app/dist/src/x.js'),
      node(5, '(garbage collector)'),
    ];
    const profile = {
      nodes,
      samples: [2, 3, 4, 4, 5, 2, 3],
      timeDeltas: [1000, 200, 300, 400, 50, 5000, 100],
      startTime: 0,
      endTime: 7050,
      byId: new Map(nodes.map((n) => [n.id, n])),
      parent: new Map<number, number>(),
    };
    const result = breakdown(profile);
    expect(result.busyUs).toBe(200 + 300 + 400 + 50 + 100);
    expect(result.byKind['socket writes (system calls)']).toBe(300);
    expect(result.byKind['own code']).toBe(700);
    expect(result.byKind.GC).toBe(50);
    expect(KINDS.reduce((sum, k) => sum + result.byKind[k], 0)).toBe(result.busyUs);
    const table = breakdownTable(['a'], [result]);
    expect(table).toContain('| own code | 1 (66.7 %) |');
    expect(table).toContain('| **busy** | **1** |');
  });

  it('finds socket writes and own code in a real profile', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-breakdown-'));
    try {
      const script = path.join(dir, 'work.js');
      writeFileSync(
        script,
        `
const net = require('node:net');
function ownSpin(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x; }
const server = net.createServer((s) => s.resume()).listen(0, '127.0.0.1', () => {
  const socket = net.connect(server.address().port, '127.0.0.1', () => {
    const chunk = Buffer.alloc(256, 1);
    const end = Date.now() + 300;
    // Rounds of writes with turns of the event loop between them: the server reads, so every write
    // stays a system call instead of queueing behind a full socket buffer.
    const round = () => {
      for (let i = 0; i < 50; i++) socket.write(chunk);
      if (Date.now() < end) return setImmediate(round);
      ownSpin(200);
      socket.end();
      server.close();
    };
    round();
  });
});
`,
      );
      execFileSync(process.execPath, [
        '--cpu-prof',
        `--cpu-prof-dir=${dir}`,
        '--cpu-prof-name=p.cpuprofile',
        '--cpu-prof-interval=200',
        script,
      ]);
      const result = breakdown(readProfile(path.join(dir, 'p.cpuprofile')));
      expect(result.byKind['own code']).toBeGreaterThan(100_000);
      expect(result.byKind['socket writes (system calls)']).toBeGreaterThan(50_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
