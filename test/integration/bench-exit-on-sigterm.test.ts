/**
 * `npm run bench -- --profile --compare-js FILE` preloads scripts/bench/exit-on-sigterm.cjs into the
 * compared server so that the bench's SIGTERM ends it normally and `--cpu-prof` writes its profile.
 * Checked with real Node processes and real signals: without the preload no profile is written (the
 * reason it exists), with it the profile is there, and a server with its own SIGTERM handler keeps
 * its own shutdown.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readProfile } from '../../scripts/bench/cpu-profile';

const PRELOAD = path.join(__dirname, '..', '..', 'scripts', 'bench', 'exit-on-sigterm.cjs');

/** Starts `node [preload] --cpu-prof … -e code`, sends SIGTERM once it says "ready", resolves on exit. */
function runAndTerminate(
  dir: string,
  code: string,
  preload: boolean,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  const args = [
    ...(preload ? ['--require', PRELOAD] : []),
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    '--cpu-prof-name=server.cpuprofile',
    '-e',
    code,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const before = stdout;
      stdout += chunk.toString();
      if (!before.includes('ready') && stdout.includes('ready')) child.kill('SIGTERM');
    });
    child.on('error', reject);
    child.on('exit', (exitCode, signal) => resolve({ code: exitCode, signal, stdout }));
  });
}

const IDLE_SERVER = `setInterval(() => {}, 1000); process.stdout.write('ready\\n');`;

describe('exit-on-sigterm.cjs (the compared server under --profile)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sb-sigterm-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('without it, a server with no SIGTERM handler dies of the signal and writes no profile', async () => {
    const result = await runAndTerminate(dir, IDLE_SERVER, false);
    expect(result.signal).toBe('SIGTERM');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('with it, the server exits with 0 and its CPU profile is written', async () => {
    const result = await runAndTerminate(dir, IDLE_SERVER, true);
    expect(result).toMatchObject({ code: 0, signal: null });
    const file = path.join(dir, 'server.cpuprofile');
    expect(existsSync(file)).toBe(true);
    expect(readProfile(file).samples.length).toBeGreaterThan(0);
  });

  it("leaves a server's own SIGTERM handler in charge of its shutdown", async () => {
    const ownShutdown = `
      setInterval(() => {}, 1000);
      process.on('SIGTERM', () => {
        process.stdout.write('own shutdown\\n');
        setTimeout(() => process.exit(3), 50);
      });
      process.stdout.write('ready\\n');`;
    const result = await runAndTerminate(dir, ownShutdown, true);
    expect(result).toMatchObject({ code: 3, signal: null });
    expect(result.stdout).toContain('own shutdown');
    expect(existsSync(path.join(dir, 'server.cpuprofile'))).toBe(true);
  });
});
