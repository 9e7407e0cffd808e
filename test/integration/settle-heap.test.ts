/**
 * settleHeap (src/runtime/settle-heap.ts): one full GC when a thread has started, so V8 sizes its old
 * generation from the live heap before the first call instead of letting it grow to the start-up
 * limit under load (docs/benchmarks/bridge.md, "The heap settled at start").
 *
 * - In this process: the collection frees what is unreachable, and no context made afterwards (a
 *   worker's, a vm sandbox) is handed a `gc` global.
 * - The real entry point (src/main.ts in a child under tsx, test/helpers/entry-point.ts): a preloaded
 *   GC observer sees a forced full collection before the server answers its first request, and the
 *   start log says how long it held the thread.
 * - The first limit after it (firstGrowthPercent), in a child with npm start's V8 options.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import vm from 'node:vm';
import { PROJECT_ROOT } from '../../src/db/migrations';
import { FIRST_GROWTH_PERCENT, settleHeap } from '../../src/runtime/settle-heap';
import { SERVER_NODE_ARGS } from '../../scripts/lib/server-runtime';
import { entryPointReport } from '../helpers/entry-point';

const runFile = promisify(execFile);

describe('settleHeap', () => {
  it('frees what is unreachable and leaves no gc() to later contexts', () => {
    let garbage: { i: number; s: string }[] | undefined = [];
    for (let i = 0; i < 300_000; i++) garbage.push({ i, s: `garbage ${i}` });
    garbage = undefined;
    const settled = settleHeap();
    expect(garbage).toBeUndefined();
    // ~300k objects and strings: well over 10 MB, all unreachable.
    expect(settled.usedBefore - settled.usedAfter).toBeGreaterThan(10 * 2 ** 20);
    expect(settled.ms).toBeGreaterThan(0);
    expect(vm.runInNewContext('typeof gc')).toBe('undefined');
    // A second call reuses the function it made: still no flag left behind.
    expect(settleHeap().usedAfter).toBeGreaterThan(0);
    expect(vm.runInNewContext('typeof gc')).toBe('undefined');
  });
});

describe('the server settles its heap before it listens', () => {
  it('runs a forced full GC before the first request is answered', async () => {
    const { report, stdout } = await entryPointReport({
      preload: [
        "const { PerformanceObserver, constants } = require('node:perf_hooks');",
        'const forced = [];',
        'new PerformanceObserver((list) => {',
        '  for (const e of list.getEntries()) {',
        '    if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR && e.detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) forced.push(e.startTime);',
        '  }',
        "}).observe({ entryTypes: ['gc'] });",
        "process.on('SIGUSR2', () => process.stdout.write('FORCED ' + JSON.stringify(forced) + '\\n'));",
        '',
      ].join('\n'),
      marker: 'FORCED',
      env: {
        // Production: JSON logs. Its required settings, the local AI allowed.
        NODE_ENV: 'production',
        TWILIO_AUTH_TOKEN: '0123456789abcdef0123456789abcdef',
        API_TOKENS: 'settle-heap-test-token-0123456789',
        ALLOW_LOCAL_AI_IN_PRODUCTION: 'true',
        PUBLIC_URL: 'https://switchboard.example.com',
      },
    });
    // V8 forces no full GC on its own while a server starts; this one is settleHeap's.
    expect((JSON.parse(report) as number[]).length).toBeGreaterThanOrEqual(1);
    const settled = stdout
      .split('\n')
      .filter((l) => l.includes('"heap settled"'))
      .map((l) => JSON.parse(l) as { ms: number; usedMb: number; freedMb: number });
    expect(settled).toHaveLength(1);
    expect(settled[0].usedMb).toBeGreaterThan(5);
    // The log line comes before the one that says the server listens.
    expect(stdout.indexOf('"heap settled"')).toBeLessThan(stdout.indexOf('switchboard listening'));
  }, 60_000);
});

/**
 * The first limit after the settle (firstGrowthPercent): in a child started with npm start's V8
 * options, ~30 MB kept alive and settled, then more kept alive step by step (with garbage beside it)
 * until the first mark-compact; the old generation's peak before it, against what the settle left.
 */
describe('the first limit after the settle', () => {
  const script = `
    const v8 = require('node:v8');
    const { PerformanceObserver, constants } = require('node:perf_hooks');
    const { settleHeap } = require(${JSON.stringify(path.join(PROJECT_ROOT, 'src', 'runtime', 'settle-heap.ts'))});
    const oldGeneration = () => v8.getHeapSpaceStatistics()
      .filter((s) => !s.space_name.startsWith('new_'))
      .reduce((sum, s) => sum + s.space_used_size, 0);
    globalThis.kept = [];
    for (let i = 0; i < 200000; i++) globalThis.kept.push({ i, s: 'kept '.repeat(8) + i });
    settleHeap(JSON.parse(process.argv[process.argv.length - 1]));
    const settled = oldGeneration();
    let peak = settled;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      process.stdout.write(JSON.stringify({ settled, peak }));
      process.exit(0);
    };
    new PerformanceObserver((list) => {
      if (list.getEntries().some((e) => e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) finish();
    }).observe({ entryTypes: ['gc'] });
    // A call's objects: they live long enough to be promoted, then die (a window of the latest ones).
    const recent = [];
    let n = 0;
    const step = () => {
      for (let k = 0; k < 2000; k++, n++) recent[n % 60000] = { n, s: 'call '.repeat(6) + n };
      peak = Math.max(peak, oldGeneration());
      if (peak > settled * 6) finish();
      else setImmediate(step);
    };
    setImmediate(step);
  `;
  const firstPeak = async (nodeArgs: string[], options: object): Promise<number> => {
    const { stdout } = await runFile(
      process.execPath,
      [
        ...SERVER_NODE_ARGS,
        ...nodeArgs,
        '--require',
        require.resolve('tsx/cjs'),
        '-e',
        script,
        JSON.stringify(options),
      ],
      { cwd: PROJECT_ROOT, timeout: 60_000 },
    );
    const { settled, peak } = JSON.parse(stdout) as { settled: number; peak: number };
    return peak / settled;
  };

  // Without the cap V8 let this program's old generation reach ~4.3x before its first mark-compact;
  // the peak is read between steps of allocation, so it runs a little past the limit it crossed.
  it('with firstGrowthPercent 50 the first mark-compact comes before the old generation is 2.5x the settled heap', async () => {
    const ratio = await firstPeak([], { firstGrowthPercent: FIRST_GROWTH_PERCENT });
    expect(ratio).toBeGreaterThan(1.2);
    expect(ratio).toBeLessThan(2.5);
  }, 60_000);

  it('leaves a process started with its own growing setting to it (--heap-growing-percent=300: past 3.5x)', async () => {
    const ratio = await firstPeak(['--heap-growing-percent=300'], { firstGrowthPercent: FIRST_GROWTH_PERCENT });
    expect(ratio).toBeGreaterThan(3.5);
  }, 60_000);
});
