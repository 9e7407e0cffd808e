import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { runFakeProvidersCli } from '../../src/simulators/providers/cli';

describe('provider fakes CLI', () => {
  it('prints the environment that points the pipeline at the fakes, and the fakes answer there', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(__dirname, '../../src/simulators/providers/cli.ts'),
        '--port',
        '0',
        '--transcripts',
        'hi|bye',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 20_000;
    while (!out.includes('PIPELINE_TTS=') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const env = Object.fromEntries(
      out
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(env.PIPELINE_STT).toBe('deepgram');
    const res = await fetch(`${env.LLM_API_URL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.LLM_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    child.kill('SIGTERM');
    await once(child, 'exit');
  });

  it('refuses bad options with a clear message', async () => {
    await expect(runFakeProvidersCli(['--asr-ms', 'soon'])).rejects.toThrow('--asr-ms must be a whole number of ms');
    await expect(runFakeProvidersCli(['--port', '70000'])).rejects.toThrow('--port must be 0..65535');
  });
});
