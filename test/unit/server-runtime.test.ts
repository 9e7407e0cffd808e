/** `npm start` runs the server with the settings the benchmark measures (scripts/lib/server-runtime.ts). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  SEMI_SPACE_ENV,
  SERVER_ENV,
  SERVER_NODE_ARGS,
  serverNodeArgs,
  startScript,
} from '../../scripts/lib/server-runtime';

/** Allocates short-lived objects until V8 has grown the young generation as far as it may; prints its size in MB. */
const YOUNG_GENERATION_PROBE = `
const keep = [];
for (let i = 0; i < 3e6; i++) { keep.push({ i }); if (keep.length > 60000) keep.length = 0; }
const s = require('v8').getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
process.stdout.write(String(s.space_size / 1048576));
`;

/** Prints how many threads the process runs (Linux: one entry per thread in /proc/self/task). */
const THREAD_COUNT_PROBE = `process.stdout.write(String(require('fs').readdirSync('/proc/self/task').length));`;

/**
 * Grows the old generation for 1.5 s in 1 ms turns of the event loop until V8 starts (twice) an
 * incremental full GC, with V8's marking trace on: which marking steps ran, and how.
 */
const MARKING_PROBE = `
require('v8').setFlagsFromString('--trace-incremental-marking');
const keep = []; let i = 0; const t0 = Date.now();
const grow = setInterval(() => {
  for (let k = 0; k < 2000; k++) keep.push({ a: i++, b: 'x' + i, c: [i, i] });
  if (keep.length > 300000) keep.splice(0, 150000);
  if (Date.now() - t0 > 1500) clearInterval(grow);
}, 1);
`;

/** Runs the node part of npm start's script through sh (as npm does), with a probe instead of the server. */
function startedNode(env: Record<string, string>, probe = YOUNG_GENERATION_PROBE): { out: string; status: number } {
  const command = startScript()
    .replace(/^.*&& /, '')
    .replace('dist/src/main.js', `-e '${probe.replace(/'/g, `'\\''`)}'`);
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`,
  };
  if (!(SEMI_SPACE_ENV in env)) delete childEnv[SEMI_SPACE_ENV];
  try {
    return { out: execFileSync('sh', ['-c', command], { encoding: 'utf8', env: childEnv, stdio: 'pipe' }), status: 0 };
  } catch (err) {
    const e = err as { status: number; stderr: string };
    return { out: e.stderr, status: e.status };
  }
}

describe('server runtime settings', () => {
  it('are the ones npm start uses', () => {
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toBe(startScript());
    expect(pkg.scripts.start).toContain('--max-semi-space-size=${SWITCHBOARD_SEMI_SPACE_MB:-2}');
    expect(SERVER_NODE_ARGS).toEqual([
      '--max-semi-space-size=2',
      '--no-memory-reducer',
      '--no-parallel-scavenge',
      '--v8-pool-size=1',
      '--no-incremental-marking-task',
    ]);
    expect(SERVER_ENV.MALLOC_ARENA_MAX).toBe('2');
  });

  it('are options this Node accepts (a misspelt V8 flag stops the server from starting)', () => {
    const out = execFileSync(process.execPath, [...SERVER_NODE_ARGS, '-e', 'process.stdout.write("started")'], {
      encoding: 'utf8',
      env: { ...process.env, ...SERVER_ENV },
    });
    expect(out).toBe('started');
    expect(() =>
      execFileSync(process.execPath, [...SERVER_NODE_ARGS, '--no-memory-reducerx', '-e', '0'], { stdio: 'pipe' }),
    ).toThrow(/bad option/);
  });

  it('size the young generation from SWITCHBOARD_SEMI_SPACE_MB, 2 MB a semi-space when it is unset or empty', () => {
    const unset = startedNode({});
    const empty = startedNode({ [SEMI_SPACE_ENV]: '' });
    const eight = startedNode({ [SEMI_SPACE_ENV]: '8' });
    expect([unset.status, empty.status, eight.status]).toEqual([0, 0, 0]);
    // V8's new space is two semi-spaces: at most 4 MB with 2 MB each, 16 MB with 8 MB each.
    expect(Number(unset.out)).toBeLessThanOrEqual(4);
    expect(Number(empty.out)).toBeLessThanOrEqual(4);
    expect(Number(eight.out)).toBeGreaterThan(4);
  });

  it('give V8 one helper thread instead of four (its full GCs no longer take every core)', () => {
    const started = startedNode({}, THREAD_COUNT_PROBE);
    expect(started.status).toBe(0);
    const plain = execFileSync(process.execPath, ['-e', THREAD_COUNT_PROBE], { encoding: 'utf8' });
    // Node's default platform runs four V8 worker threads; the start script's node runs one.
    expect(Number(plain) - Number(started.out)).toBe(3);
  });

  it("leave a full GC's marking to that helper: V8 posts no marking steps to the main thread as tasks", () => {
    const started = startedNode({}, MARKING_PROBE);
    expect(started.status).toBe(0);
    const count = (out: string, what: string): number => out.split(what).length - 1;
    // The full GCs ran incrementally, their marking steps only as the main thread allocated.
    expect(count(started.out, '[IncrementalMarking] Start marking')).toBeGreaterThan(0);
    expect(count(started.out, '[IncrementalMarking] Step')).toBeGreaterThan(0);
    expect(count(started.out, 'Step in task')).toBe(0);
    // The same node options but that one: V8 runs marking steps as main-thread tasks, back to back.
    const withTasks = execFileSync(
      process.execPath,
      [...SERVER_NODE_ARGS.filter((a) => a !== '--no-incremental-marking-task'), '-e', MARKING_PROBE],
      { encoding: 'utf8', env: { ...process.env, ...SERVER_ENV } },
    );
    expect(count(withTasks, 'Step in task')).toBeGreaterThan(0);
  });

  it('refuse a young generation that is not a number: the bench throws, npm start does not start', () => {
    expect(serverNodeArgs({ [SEMI_SPACE_ENV]: '8' })[0]).toBe('--max-semi-space-size=8');
    expect(serverNodeArgs({ [SEMI_SPACE_ENV]: '' })[0]).toBe('--max-semi-space-size=2');
    for (const bad of ['abc', '8MB', '0', '-1', '1.5', '257', ' 8']) {
      expect(() => serverNodeArgs({ [SEMI_SPACE_ENV]: bad })).toThrow(
        /SWITCHBOARD_SEMI_SPACE_MB must be a whole number/,
      );
    }
    const started = startedNode({ [SEMI_SPACE_ENV]: 'abc' });
    expect(started.status).not.toBe(0);
    expect(started.out).toMatch(/bad option: --max-semi-space-size=abc/);
  });
});
