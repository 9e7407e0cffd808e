/**
 * Speech synthesis used by both simulators: espeak-ng + sox (installed on this machine) and the
 * synthetic 'tone' voice.
 */
import { mulaw } from 'alawmulaw';
import {
  TONE_MS_PER_CHAR,
  audioDurationMs,
  isEspeakAvailable,
  resolveTtsEngine,
  synthesize,
} from '../../src/simulators/tts';

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length) / 32768;
}

function pcm16(buffer: Buffer): Int16Array {
  const out = new Int16Array(buffer.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = buffer.readInt16LE(i * 2);
  return out;
}

describe('synthesize', () => {
  it('finds espeak-ng and sox on this machine', async () => {
    expect(await isEspeakAvailable()).toBe(true);
    expect(await resolveTtsEngine('auto')).toBe('espeak');
  });

  it('speaks real mu-law speech of a plausible length and loudness', async () => {
    const audio = await synthesize('Thank you for calling, how can I help you today?', {
      format: 'pcmu',
      engine: 'espeak',
    });
    const ms = audioDurationMs(audio, 'pcmu');
    // ~10 words at 165 words per minute: 2.5–5 s
    expect(ms).toBeGreaterThan(2500);
    expect(ms).toBeLessThan(5000);
    const level = rms(mulaw.decode(audio));
    expect(level).toBeGreaterThan(0.02);
    expect(level).toBeLessThan(0.5);
  });

  it('speaks PCM16 at 24 kHz: three times the samples of 8 kHz for the same text', async () => {
    const text = 'Your order ships tomorrow.';
    const mu = await synthesize(text, { format: 'pcmu', engine: 'espeak' });
    const pcm = await synthesize(text, { format: 'pcm16-24k', engine: 'espeak' });
    expect(pcm.length / 2 / mu.length).toBeCloseTo(3, 1);
    expect(audioDurationMs(pcm, 'pcm16-24k')).toBeCloseTo(audioDurationMs(mu, 'pcmu'), -1);
    expect(rms(pcm16(pcm))).toBeGreaterThan(0.02);
  });

  it('passes text that looks like options to espeak as text', async () => {
    const audio = await synthesize('--help -v xx', { format: 'pcmu', engine: 'espeak' });
    expect(audioDurationMs(audio, 'pcmu')).toBeGreaterThan(500);
  });

  it('caches by text and format', async () => {
    const a = await synthesize('Cached phrase', { format: 'pcmu' });
    const b = await synthesize('Cached phrase', { format: 'pcmu' });
    expect(b).toBe(a);
  });

  it('makes a voiced tone of 60 ms per character with silent word gaps', async () => {
    const audio = await synthesize('ab cd', { format: 'pcmu', engine: 'tone' });
    expect(audioDurationMs(audio, 'pcmu')).toBe(5 * TONE_MS_PER_CHAR);
    const samples = mulaw.decode(audio);
    const perChar = 8 * TONE_MS_PER_CHAR;
    expect(rms(samples.subarray(0, perChar * 2))).toBeGreaterThan(0.03);
    expect(rms(samples.subarray(perChar * 2, perChar * 3))).toBeLessThan(0.001);
    const pcm = await synthesize('ab cd', { format: 'pcm16-24k', engine: 'tone' });
    expect(audioDurationMs(pcm, 'pcm16-24k')).toBe(5 * TONE_MS_PER_CHAR);
  });

  it('rejects empty text and unknown formats', async () => {
    await expect(synthesize('   ', { format: 'pcmu' })).rejects.toThrow('text is empty');
    await expect(synthesize('hi', { format: 'wav' as never })).rejects.toThrow('unknown format');
  });
});
