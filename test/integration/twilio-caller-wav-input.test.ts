import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mulaw } from 'alawmulaw';
import { WaveFile } from 'wavefile';
import { readWavAsMulaw, WavInputError, wavToMulaw } from '../../src/simulators/wav-input';

function sine(frequencyHz: number, sampleRateHz: number, seconds: number, amplitude = 12000): Int16Array {
  const out = new Int16Array(Math.round(sampleRateHz * seconds));
  for (let i = 0; i < out.length; i++)
    out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequencyHz * i) / sampleRateHz));
  return out;
}

/** Sign changes per second of decoded mu-law: twice the frequency of a pure tone. */
function zeroCrossingsPerSecond(mulawBytes: Buffer): number {
  const pcm = mulaw.decode(new Uint8Array(mulawBytes));
  let crossings = 0;
  for (let i = 1; i < pcm.length; i++) if (pcm[i - 1] < 0 !== pcm[i] < 0) crossings++;
  return crossings / (pcm.length / 8000);
}

describe('WAV input for the simulated caller', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchboard-wav-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function writeWav(name: string, build: (wav: WaveFile) => void): string {
    const wav = new WaveFile();
    build(wav);
    const file = path.join(dir, name);
    writeFileSync(file, wav.toBuffer());
    return file;
  }

  it('passes 8 kHz mono mu-law through byte for byte', async () => {
    const bytes = Buffer.from(mulaw.encode(sine(300, 8000, 0.5)));
    const file = writeWav('mulaw.wav', (w) => w.fromScratch(1, 8000, '8m', bytes));
    expect(await readWavAsMulaw(file)).toEqual(bytes);
  });

  it('downmixes 16 kHz stereo PCM16 and resamples it to 8 kHz, keeping the pitch', async () => {
    const left = sine(440, 16000, 1);
    const right = sine(440, 16000, 1, 6000);
    const file = writeWav('stereo16k.wav', (w) => w.fromScratch(2, 16000, '16', [left, right]));
    const out = await readWavAsMulaw(file);
    expect(out.length).toBe(8000);
    expect(zeroCrossingsPerSecond(out)).toBeGreaterThan(870);
    expect(zeroCrossingsPerSecond(out)).toBeLessThan(890);
  });

  it('reads 44.1 kHz 24-bit mono and 8 kHz A-law', () => {
    const w24 = new WaveFile();
    w24.fromScratch(
      1,
      44100,
      '24',
      Array.from(sine(1000, 44100, 0.5), (s) => s * 256),
    );
    const hi = wavToMulaw(w24.toBuffer());
    expect(hi.length).toBe(4000);
    expect(zeroCrossingsPerSecond(hi)).toBeGreaterThan(1980);
    expect(zeroCrossingsPerSecond(hi)).toBeLessThan(2020);

    const alaw = new WaveFile();
    alaw.fromScratch(1, 8000, '16', sine(250, 8000, 0.5));
    alaw.toALaw();
    const fromAlaw = wavToMulaw(alaw.toBuffer());
    expect(fromAlaw.length).toBe(4000);
    expect(zeroCrossingsPerSecond(fromAlaw)).toBeGreaterThan(490);
    expect(zeroCrossingsPerSecond(fromAlaw)).toBeLessThan(510);
  });

  it('explains files it cannot read', async () => {
    const junk = path.join(dir, 'junk.wav');
    writeFileSync(junk, 'this is not a wave file');
    await expect(readWavAsMulaw(junk)).rejects.toThrow(WavInputError);
    await expect(readWavAsMulaw(junk)).rejects.toThrow(/junk\.wav: not a readable WAV file/);
    await expect(readWavAsMulaw(path.join(dir, 'missing.wav'))).rejects.toThrow(/cannot read .*missing\.wav: ENOENT/);
  });
});
