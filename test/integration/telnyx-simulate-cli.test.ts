/**
 * `npm run simulate -- --provider telnyx`: a key pair from --telnyx-keygen (public half for the
 * server, private half in the simulator's .env), calls placed the Telnyx way, refused ones listed
 * with a hint, bad arguments refused.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'src', 'simulators', 'simulate-cli.ts');
const TSX = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

function runCli(dotenv: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cwd = mkdtempSync(path.join(tmpdir(), 'switchboard-simulate-telnyx-'));
  writeFileSync(path.join(cwd, '.env'), dotenv);
  const proc = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) =>
    proc.once('exit', (code) => {
      rmSync(cwd, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    }),
  );
}

async function keygen(): Promise<{ publicKey: string; privateKey: string }> {
  const run = await runCli('', ['--telnyx-keygen']);
  expect(run.code).toBe(0);
  const publicKey = /^TELNYX_PUBLIC_KEY=(\S+)$/m.exec(run.stdout)![1];
  const privateKey = /^TELNYX_SIMULATOR_PRIVATE_KEY=(\S+)$/m.exec(run.stdout)![1];
  return { publicKey, privateKey };
}

const results = (stdout: string): string[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('v3:'))
    .map((l) => l.split(/\s+/)[1]);

describe('npm run simulate -- --provider telnyx', () => {
  let app: TestApp;
  let keys: { publicKey: string; privateKey: string };

  beforeAll(async () => {
    keys = await keygen();
    app = await startTestApp({ TELNYX_PUBLIC_KEY: keys.publicKey, PUBLIC_URL: 'https://switchboard.example.test' });
  }, 60_000);
  afterAll(() => app.close());

  it('signs with TELNYX_SIMULATOR_PRIVATE_KEY from .env and completes the call', async () => {
    const run = await runCli(`PORT=${app.port}\nTELNYX_SIMULATOR_PRIVATE_KEY=${keys.privateKey}\n`, [
      '--provider',
      'telnyx',
      '--duration',
      '1',
      '--say',
      'hello',
    ]);
    expect(run.stdout).toContain('signed with the simulator key');
    expect(results(run.stdout)).toEqual(['ok']);
    expect(run.stdout).toContain('1/1 calls completed');
    expect(run.code).toBe(0);
  }, 60_000);

  it('lists a call signed with another key as REFUSED, with a hint, and exits 1', async () => {
    const other = await keygen();
    const run = await runCli(`PORT=${app.port}\n`, [
      '--provider',
      'telnyx',
      '--telnyx-key',
      other.privateKey,
      '--duration',
      '1',
    ]);
    expect(results(run.stdout)).toEqual(['REFUSED']);
    expect(run.stdout).toContain('hint: the server refused the signature');
    expect(run.code).toBe(1);
  }, 60_000);

  it('refuses an unknown provider and a key that is not an Ed25519 private key (exit 2)', async () => {
    const provider = await runCli('', ['--provider', 'vonage']);
    expect(provider.code).toBe(2);
    expect(provider.stderr).toContain('--provider must be twilio or telnyx');
    const key = await runCli('', ['--provider', 'telnyx', '--telnyx-key', 'bm90IGEga2V5']);
    expect(key.code).toBe(2);
    expect(key.stderr).toContain('base64 PKCS#8 Ed25519 private key');
  }, 60_000);
});
