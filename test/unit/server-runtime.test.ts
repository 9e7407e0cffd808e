/** `npm start` runs the server with the settings the benchmark measures (scripts/lib/server-runtime.ts). */
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
    expect(SERVER_ENV.MALLOC_ARENA_MAX).toBe('2');
  });
});
