/**
 * `npm run simulate` (issue 11.5): reads the same .env as the server (PORT, PUBLIC_URL,
 * TWILIO_AUTH_TOKEN); a call the server refuses is listed as REFUSED (never ok) with a hint saying
 * what to pass; the "sent" and "recv" columns count the same unit (20 ms frames).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  callOutcome,
  refusalHint,
  row,
  simulatorTarget,
  TABLE_HEADER,
  type SimulatorTarget,
} from '../../src/simulators/simulate-cli';
import type { CallSummary } from '../../src/simulators/twilio-caller';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'src', 'simulators', 'simulate-cli.ts');
const TSX = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const AUTH = 'simulate-cli-test-token-00000001';
const PUBLIC_URL = 'https://switchboard.example.test';

/** Runs the CLI in a folder holding this .env (and nothing else set), like `npm run simulate` there. */
function runCli(dotenv: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cwd = mkdtempSync(path.join(tmpdir(), 'switchboard-simulate-'));
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

/** The result column of every call row. */
function results(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => /^CA[0-9a-f]{12} /.test(l))
    .map((l) => l.split(/\s+/)[1]);
}

describe('npm run simulate against a server with a Twilio auth token', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ TWILIO_AUTH_TOKEN: AUTH, PUBLIC_URL });
  });
  afterAll(() => app.close());

  it('takes PORT, PUBLIC_URL and TWILIO_AUTH_TOKEN from .env and completes the call', async () => {
    const run = await runCli(`PORT=${app.port}\nPUBLIC_URL=${PUBLIC_URL}\nTWILIO_AUTH_TOKEN=${AUTH}\n`, [
      '--duration',
      '1',
      '--say',
      'hello',
    ]);
    expect(run.stdout).toContain(`Placing 1 call(s) to http://localhost:${app.port}`);
    expect(results(run.stdout)).toEqual(['ok']);
    expect(run.stdout).toContain('1/1 calls completed');
    expect(run.stdout).not.toContain('hint:');
    expect(run.code).toBe(0);
  }, 60_000);

  it('lists a call refused for want of a token as REFUSED, with a hint to pass --token', async () => {
    const run = await runCli(`PORT=${app.port}\nPUBLIC_URL=${PUBLIC_URL}\n`, ['--duration', '1']);
    expect(results(run.stdout)).toEqual(['REFUSED']);
    expect(run.stdout).toMatch(/hint: webhook answered HTTP 403: the server checks Twilio signatures: pass --token/);
    expect(run.stdout).toContain('0/1 calls completed, 1 refused');
    expect(run.code).toBe(1);
  }, 60_000);

  it('names the public URL it signed with when the signature does not match', async () => {
    const run = await runCli(`PORT=${app.port}\nTWILIO_AUTH_TOKEN=${AUTH}\n`, ['--duration', '1']);
    expect(results(run.stdout)).toEqual(['REFUSED']);
    expect(run.stdout).toContain(
      `hint: webhook answered HTTP 403: the server refused the signature: --token (TWILIO_AUTH_TOKEN (environment or .env)) and --public-url (http://localhost:${app.port}`,
    );
    expect(run.code).toBe(1);
  }, 60_000);
});

function summary(over: Partial<CallSummary>): CallSummary {
  return {
    callSid: 'CA0123456789abcdef',
    streamSid: 'MZ01',
    ok: true,
    errors: [],
    webhookStatus: 200,
    twiml: '<Response><Connect><Stream url="wss://x/streams"/></Connect></Response>',
    streamUrl: 'wss://x/streams',
    customParameters: {},
    handshakeStatus: null,
    durationMs: 1000,
    mediaMs: 1000,
    framesSent: 50,
    framesSkipped: 0,
    framesReceived: 6,
    bytesReceived: 30 * 160,
    agentAudioBytes: 30 * 160,
    clearedAudioBytes: 0,
    agentAudioReceivedMs: 600,
    agentAudioMs: 600,
    marksReceived: 6,
    marksEchoed: 6,
    marksEchoedOnClear: 0,
    clears: 0,
    clearedAudioMs: 0,
    dtmfSent: 0,
    firstAgentAudioMs: 120,
    closedBy: 'caller',
    closeCode: 1000,
    playbackGapMs: 0,
    underruns: 0,
    serverProtocolErrors: 0,
    afterStreamTwiml: undefined,
    statusCallbacks: [],
    ...over,
  };
}

const TARGET: SimulatorTarget = simulatorTarget({}, { PORT: '3608', TWILIO_AUTH_TOKEN: AUTH });

describe('simulate CLI pieces', () => {
  it('derives the target the way the server derives its own settings', () => {
    expect(TARGET).toMatchObject({
      baseUrl: 'http://localhost:3608',
      publicUrl: 'http://localhost:3608',
      authToken: AUTH,
    });
    expect(simulatorTarget({}, {})).toMatchObject({ baseUrl: 'http://localhost:3000', authToken: '' });
    expect(
      simulatorTarget({ url: 'http://127.0.0.1:4000/', token: 'cli-token' }, { PORT: '3608', PUBLIC_URL: '' }),
    ).toMatchObject({ baseUrl: 'http://127.0.0.1:4000', publicUrl: 'http://localhost:4000', authToken: 'cli-token' });
    expect(
      simulatorTarget({ publicUrl: 'https://cli.example.test/' }, { PUBLIC_URL: 'https://env.example.test' }).publicUrl,
    ).toBe('https://cli.example.test');
  });

  it('counts sent and received audio in the same unit (20 ms frames)', () => {
    const cells = row(summary({})).split(/\s+/);
    const header = TABLE_HEADER.split(/\s+/);
    expect(cells[header.indexOf('sent')]).toBe('50');
    // Six media messages of 100 ms: 30 frames, not 6.
    expect(cells[header.indexOf('recv')]).toBe('30');
  });

  it.each<[string, Partial<CallSummary>, RegExp]>([
    [
      'a refused stream handshake',
      { streamSid: undefined, ok: false, handshakeStatus: 403 },
      /media stream refused \(HTTP 403\): the server refused the signature/,
    ],
    [
      'busy TwiML without a stream',
      { streamSid: undefined, ok: true, streamUrl: undefined, twiml: '<Response><Say>Busy</Say><Hangup/></Response>' },
      /busy \(MAX_CONCURRENT_CALLS reached\) or shutting down/,
    ],
    ['a webhook error', { streamSid: undefined, ok: false, webhookStatus: 500, twiml: undefined }, /HTTP 500/],
  ])('lists %s as REFUSED, never ok, with a hint', (_label, over, hint) => {
    const s = summary(over);
    expect(callOutcome(s)).toBe('REFUSED');
    expect(row(s).split(/\s+/)[1]).toBe('REFUSED');
    expect(refusalHint(s, TARGET)).toMatch(hint);
  });

  it('lists a good call as ok and a call that broke after its stream started as FAILED', () => {
    expect(callOutcome(summary({}))).toBe('ok');
    expect(callOutcome(summary({ ok: false, errors: ['stream socket: boom'] }))).toBe('FAILED');
  });
});
