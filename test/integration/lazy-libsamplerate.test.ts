/**
 * libsamplerate (WASM, ~5.5 MB resident) loads only when a call needs resampling: a fresh process that
 * loads the conversation's audio seam (as every call does) has not loaded it; creating a resampler loads it
 * and resamples. Run in a child process (tsx's require hook) so the module cache is a real, fresh one.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

const TSX_REQUIRE_HOOK = require.resolve('tsx/cjs');
const ROOT = path.resolve(__dirname, '../..');

const CHILD_SCRIPT = `
const loaded = () => Object.keys(require.cache).some((k) => k.includes('libsamplerate-js'));
require('./src/conversation/audio-seam');
const { StreamingResampler } = require('./src/audio/resampler');
const out = { afterSeam: loaded() };
(async () => {
  const same = await StreamingResampler.create(8000, 8000);
  out.afterPassThrough = loaded();
  same.process(new Int16Array(160));
  const up = await StreamingResampler.create(8000, 24000);
  out.afterResampler = loaded();
  let samples = 0;
  for (let i = 0; i < 50; i++) samples += up.process(new Int16Array(160).fill(1000)).length;
  out.samples = samples;
  const best = await StreamingResampler.create(24000, 8000, { quality: 'best' });
  out.bestSamples = best.process(new Int16Array(4800).fill(1000)).length;
  process.stdout.write(JSON.stringify(out));
})().catch((err) => { console.error(err); process.exit(1); });
`;

describe('libsamplerate loaded on first use', () => {
  it('is not loaded by the audio path of a G.711 call; a resampler loads it and works', async () => {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--require', TSX_REQUIRE_HOOK, '-e', CHILD_SCRIPT],
        { cwd: ROOT, timeout: 60_000 },
        (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out)),
      );
    });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out.afterSeam).toBe(false);
    expect(out.afterPassThrough).toBe(false);
    expect(out.afterResampler).toBe(true);
    // 1 s of 8 kHz in -> ~1 s of 24 kHz out (libsamplerate holds back a few samples of filter delay).
    expect(out.samples).toBeGreaterThan(23_500);
    expect(out.samples).toBeLessThanOrEqual(24_000);
    expect(out.bestSamples).toBeGreaterThan(1_400);
  }, 90_000);
});
