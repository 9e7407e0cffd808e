/**
 * Issue 11.8: ANSI colour codes only when the log goes to a terminal, never into a file or a pipe.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/logging/logger';

const ESC = '\u001b[';
const ROOT = path.resolve(__dirname, '..', '..');

async function logOnce(stream: PassThrough, colors?: boolean): Promise<string> {
  let out = '';
  stream.on('data', (c: Buffer) => (out += c.toString()));
  createLogger({ level: 'info', json: false, stream, colors }).info('hello', { callId: 'call-1' });
  await new Promise((r) => setImmediate(r));
  return out;
}

describe('log colours', () => {
  const noColor = process.env.NO_COLOR;
  beforeAll(() => delete process.env.NO_COLOR);
  afterAll(() => {
    if (noColor !== undefined) process.env.NO_COLOR = noColor;
  });

  it('writes plain lines to a stream that is not a terminal', async () => {
    const out = await logOnce(new PassThrough());
    expect(out).toMatch(/^\d\d:\d\d:\d\d\.\d{3} info hello \{"callId":"call-1"\}\n$/);
    expect(out).not.toContain(ESC);
  });

  it('colours the level on a terminal, unless NO_COLOR is set', async () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    expect(await logOnce(tty)).toContain(`${ESC}32minfo${ESC}39m`);
    process.env.NO_COLOR = '1';
    try {
      expect(await logOnce(Object.assign(new PassThrough(), { isTTY: true }))).not.toContain(ESC);
    } finally {
      delete process.env.NO_COLOR;
    }
  });

  it('never colours the default stdout logger when stdout is a pipe', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "require('./src/logging/logger').createLogger({ level: 'info', json: false }).warn('piped', { n: 1 })",
      ],
      { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME }, encoding: 'utf8' },
    );
    expect(out).toMatch(/ warn piped \{"n":1\}/);
    expect(out).not.toContain(ESC);
  });
});
