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
 */
import vm from 'node:vm';
import { settleHeap } from '../../src/runtime/settle-heap';
import { entryPointReport } from '../helpers/entry-point';

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
