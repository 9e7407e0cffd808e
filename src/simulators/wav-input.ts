/**
 * Reads a WAV file (any sample rate, mono or stereo, PCM 8/16/24/32-bit, float, mu-law or A-law)
 * into raw 8 kHz mono mu-law: what a phone line carries. Offline only (done once before a
 * simulated call starts), never on the per-frame path.
 */
import { readFile } from 'node:fs/promises';
import { WaveFile } from 'wavefile';

export const TELEPHONY_SAMPLE_RATE_HZ = 8000;

export class WavInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WavInputError';
  }
}

interface WaveFmt {
  numChannels: number;
  sampleRate: number;
}

/** Converts WAV bytes to raw 8 kHz mono mu-law. Throws WavInputError on anything it cannot read. */
export function wavToMulaw(bytes: Uint8Array): Buffer {
  let wav: WaveFile;
  try {
    wav = new WaveFile(bytes);
  } catch (err) {
    throw new WavInputError(`not a readable WAV file: ${(err as Error).message}`);
  }
  const fmt = wav.fmt as WaveFmt;
  if (!fmt.numChannels || !fmt.sampleRate) throw new WavInputError('WAV file has no channels or no sample rate');

  if (wav.bitDepth === '8m' && fmt.numChannels === 1 && fmt.sampleRate === TELEPHONY_SAMPLE_RATE_HZ) {
    return Buffer.from(samplesOf(wav));
  }

  try {
    if (wav.bitDepth === '8m') wav.fromMuLaw();
    else if (wav.bitDepth === '8a') wav.fromALaw();
    else if (wav.bitDepth === '4') wav.fromIMAADPCM();
    if (wav.bitDepth !== '16') wav.toBitDepth('16');

    if (fmt.numChannels > 1) {
      // De-interleaved: one array per channel. Average them into one channel.
      const channels = wav.getSamples(false, Int16Array) as unknown as Int16Array[];
      const length = channels[0]?.length ?? 0;
      const mono = new Int16Array(length);
      for (let i = 0; i < length; i++) {
        let sum = 0;
        for (const channel of channels) sum += channel[i];
        mono[i] = Math.round(sum / channels.length);
      }
      const rate = fmt.sampleRate;
      wav = new WaveFile();
      wav.fromScratch(1, rate, '16', mono);
    }
    if ((wav.fmt as WaveFmt).sampleRate !== TELEPHONY_SAMPLE_RATE_HZ) {
      // Cubic interpolation with wavefile's anti-aliasing low-pass filter.
      wav.toSampleRate(TELEPHONY_SAMPLE_RATE_HZ, { method: 'cubic', LPF: true });
    }
    wav.toMuLaw();
  } catch (err) {
    throw new WavInputError(`cannot convert WAV to 8 kHz mu-law: ${(err as Error).message}`);
  }
  return Buffer.from(samplesOf(wav));
}

/** Reads a WAV file from disk into raw 8 kHz mono mu-law. */
export async function readWavAsMulaw(filePath: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(filePath);
  } catch (err) {
    throw new WavInputError(
      `cannot read ${filePath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    return wavToMulaw(bytes);
  } catch (err) {
    throw new WavInputError(`${filePath}: ${(err as Error).message}`);
  }
}

function samplesOf(wav: WaveFile): Uint8Array {
  return (wav.data as { samples: Uint8Array }).samples;
}
