/** `npm start` runs the server with the settings the benchmark measures (scripts/lib/server-runtime.ts). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SERVER_ENV, SERVER_NODE_ARGS, startScript } from '../../scripts/lib/server-runtime';

describe('server runtime settings', () => {
  it('are the ones npm start uses', () => {
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toBe(startScript());
    expect(pkg.scripts.start).toContain('--max-semi-space-size=2');
    expect(SERVER_NODE_ARGS).toContain('--max-semi-space-size=2');
    expect(SERVER_NODE_ARGS).toContain('--no-memory-reducer');
    expect(SERVER_NODE_ARGS).toContain('--no-parallel-scavenge');
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
});
