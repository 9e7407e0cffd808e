/**
 * `npm run bench -- --profile` for the AI and the callers: processes with a second V8 thread (tsx's
 * loader) write one profile per thread; keepMainThreadProfile keeps the main thread's. Checked on
 * real profiles from a real Node process with a worker thread, each thread busy in its own function.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { keepMainThreadProfile, readProfile } from '../../scripts/bench/cpu-profile';

const SCRIPT = `
const { Worker, isMainThread } = require('node:worker_threads');
function spin(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x; }
function workerThreadWork() { return spin(150); }
function mainThreadWork() { return spin(150); }
if (isMainThread) {
  const w = new Worker(__filename);
  w.on('exit', () => { mainThreadWork(); process.exit(0); });
} else {
  workerThreadWork();
}
`;

const functionsIn = (file: string): Set<string> =>
  new Set(readProfile(file).nodes.map((n) => n.callFrame.functionName));

describe('keepMainThreadProfile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'bench-prof-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps the main thread's profile of a process with two V8 threads and removes the folder", () => {
    const script = path.join(dir, 'two-threads.js');
    writeFileSync(script, SCRIPT);
    const profiles = path.join(dir, 'ai-burst-100-1');
    execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profiles}`, script]);
    expect(readdirSync(profiles).filter((f) => f.endsWith('.cpuprofile'))).toHaveLength(2);

    const target = path.join(dir, 'ai-burst-100-1.cpuprofile');
    expect(keepMainThreadProfile(profiles, target)).toBe(true);
    const names = functionsIn(target);
    expect(names.has('mainThreadWork')).toBe(true);
    expect(names.has('workerThreadWork')).toBe(false);
    expect(existsSync(profiles)).toBe(false);
  });

  it('reports false, and leaves nothing behind, when the main thread wrote no profile', () => {
    const profiles = path.join(dir, 'caller-burst-100-1');
    mkdirSync(profiles);
    writeFileSync(path.join(profiles, 'CPU.20261206.170000.42.1.002.cpuprofile'), '{}');
    const target = path.join(dir, 'caller-burst-100-1.cpuprofile');
    expect(keepMainThreadProfile(profiles, target)).toBe(false);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(profiles)).toBe(false);
    expect(keepMainThreadProfile(profiles, target)).toBe(false);
  });
});
