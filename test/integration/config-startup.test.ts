/**
 * The real entry point (src/main.ts) with an insecure or broken configuration (issues 10.3, 11.4,
 * 11.8): production refuses to start and names every problem at once; every start logs what is
 * insecure (loud lines, and in development one "protections off" line); a piped log has no colours.
 * Each server runs in a temporary folder with no .env, so a developer's .env cannot leak in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';
import { freePort } from '../../scripts/lib/server-process';
import { spawnMain } from '../helpers/entry-point';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs main.ts with exactly this environment until it exits and its output pipes close, or until its
 * stdout matches `until` (then it is stopped with SIGKILL).
 */
async function runMain(env: Record<string, string>, until?: RegExp, timeoutMs = 25_000): Promise<Run> {
  const port = await freePort();
  const cwd = mkdtempSync(path.join(tmpdir(), 'switchboard-start-'));
  const proc = spawnMain({ cwd, port, env });
  let stdout = '';
  let stderr = '';
  return new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`main.ts did not finish in time; stdout: ${stdout}; stderr: ${stderr}`));
    }, timeoutMs);
    proc.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (until?.test(stdout)) proc.kill('SIGKILL');
    });
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // 'close', not 'exit': the migration child (src/db/migrate-child.ts) shares the server's stdout
    // and stderr and can outlive a killed server by a moment; the pipes close when both are gone.
    proc.once('close', (code) => {
      clearTimeout(timer);
      rmSync(cwd, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

describe('starting src/main.ts', () => {
  let tmp: TempDir;
  beforeAll(() => (tmp = createTempDatabase()));
  afterAll(() => tmp.cleanup());

  it('refuses an insecure production start, naming every problem and every bad variable at once', async () => {
    const run = await runMain({
      NODE_ENV: 'production',
      DATABASE_URL: tmp.databaseUrl,
      RECORDING_STORAGE_PATH: tmp.recordingsDir,
      PUBLIC_URL: 'localhost:3603',
      TWILIO_AUTH_TOKEN: 'not-a-twilio-token',
      VAD_SILENCE_MS: '-5',
      SHUTDOWN_GRACE_MS: 'soon',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).not.toContain('listening');
    const lines = run.stderr.trim().split('\n');
    expect(lines[0]).toBe('Invalid configuration:');
    const names = lines.slice(1).map((l) => /^ {2}- ([A-Z_]+): /.exec(l)?.[1]);
    expect(names.sort()).toEqual(
      ['API_TOKENS', 'OPENAI_API_KEY', 'PUBLIC_URL', 'SHUTDOWN_GRACE_MS', 'TWILIO_AUTH_TOKEN', 'VAD_SILENCE_MS'].sort(),
    );
    expect(run.stderr).not.toContain('not-a-twilio-token');
  });

  it('logs a loud warning for switched-off signatures and an unencrypted AI endpoint at a production start', async () => {
    const run = await runMain(
      {
        NODE_ENV: 'production',
        DATABASE_URL: tmp.databaseUrl,
        RECORDING_STORAGE_PATH: tmp.recordingsDir,
        API_TOKENS: 'prod-api-token-0123456789',
        PUBLIC_URL: 'https://calls.example.com',
        TWILIO_SIGNATURE_VALIDATION: 'false',
        OPENAI_API_KEY: 'sk-test-key',
        OPENAI_REALTIME_URL: 'ws://127.0.0.1:9/v1/realtime',
      },
      /OPENAI_REALTIME_URL is unencrypted/,
    );
    const warnings = run.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: string; message: string })
      .filter((l) => l.level === 'warn')
      .map((l) => l.message);
    expect(warnings).toEqual([
      expect.stringMatching(/^SECURITY: TWILIO_SIGNATURE_VALIDATION=false/),
      expect.stringMatching(/^SECURITY: OPENAI_REALTIME_URL is unencrypted ws:\/\/ \(127\.0\.0\.1:9\)/),
    ]);
  });

  it('says in one uncoloured line which protections are off at a development start', async () => {
    const run = await runMain(
      { NODE_ENV: 'development', DATABASE_URL: tmp.databaseUrl, RECORDING_STORAGE_PATH: tmp.recordingsDir },
      /protections off: .*\n/,
    );
    const line = run.stdout.split('\n').find((l) => l.includes('protections off'));
    expect(line).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} warn protections off: API open \(no API_TOKENS\), Twilio signatures not checked \(no TWILIO_AUTH_TOKEN\), local AI server \(no OPENAI_API_KEY\), no TLS on PUBLIC_URL \(http:\/\/localhost:\d+\)$/,
    );
    expect(run.stdout).not.toContain('\u001b[');
  });
});
