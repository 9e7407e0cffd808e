/**
 * The audio seam between a caller channel and an agent engine. Identical formats pass through
 * untouched (the channel's base64 string too: no decode, no re-encode); otherwise audio is converted
 * once, here: decode (G.711 mu-law / A-law, or PCM16 little-endian), resample with the streaming
 * resampler when the rates differ (8/16/24/48 kHz), encode. Converters are stateful (one per
 * direction per call) and allocate only their output.
 */
import { alawToMulaw, decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw, mulawToAlaw } from '../audio/g711';
import { StreamingResampler, int16ToLeBytes } from '../audio/resampler';
import { sameFormat, type AudioFormat } from './audio-format';

export const SUPPORTED_PCM16_RATES_HZ: readonly number[] = [8000, 16000, 24000, 48000];

export interface AudioConverter {
  readonly from: AudioFormat;
  readonly to: AudioFormat;
  /** Converts the next piece of the stream (any length; a PCM16 odd byte waits for its partner). */
  process(bytes: Uint8Array): Buffer;
  close(): void;
}

export function checkFormat(format: AudioFormat): void {
  const ok =
    format.encoding === 'pcm16'
      ? SUPPORTED_PCM16_RATES_HZ.includes(format.sampleRateHz)
      : (format.encoding === 'pcmu' || format.encoding === 'pcma') && format.sampleRateHz === 8000;
  if (!ok) throw new RangeError(`unsupported audio format ${format.encoding}/${format.sampleRateHz}`);
}

/** PCM16 little-endian bytes → samples, carrying an odd trailing byte to the next call. */
class Pcm16Reader {
  private pending = -1;
  private samples = new Int16Array(960);

  read(bytes: Uint8Array): Int16Array {
    const carried = this.pending >= 0 ? 1 : 0;
    const count = (bytes.length + carried) >> 1;
    if (count > this.samples.length) this.samples = new Int16Array(count);
    const out = this.samples.subarray(0, count);
    let read = 0;
    for (let i = 0; i < count; i++) {
      const lo = i === 0 && carried ? this.pending : bytes[read++];
      const hi = bytes[read++];
      out[i] = ((hi << 24) >> 16) | lo;
    }
    // An odd byte left over is the stream's next sample's low byte.
    if (((bytes.length + carried) & 1) === 0) this.pending = -1;
    else if (bytes.length > 0) this.pending = bytes[bytes.length - 1];
    return out;
  }
}

class Converter implements AudioConverter {
  private readonly reader = new Pcm16Reader();
  private decoded = new Int16Array(960);

  constructor(
    readonly from: AudioFormat,
    readonly to: AudioFormat,
    private readonly resampler: StreamingResampler | undefined,
  ) {}

  process(bytes: Uint8Array): Buffer {
    const { from, to } = this;
    // G.711 to G.711 at one rate: one table lookup a sample.
    if (!this.resampler && from.encoding === 'pcmu' && to.encoding === 'pcma') return toBuffer(mulawToAlaw(bytes));
    if (!this.resampler && from.encoding === 'pcma' && to.encoding === 'pcmu') return toBuffer(alawToMulaw(bytes));
    let samples: Int16Array;
    if (from.encoding === 'pcm16') samples = this.reader.read(bytes);
    else {
      if (bytes.length > this.decoded.length) this.decoded = new Int16Array(bytes.length);
      const scratch = this.decoded.subarray(0, bytes.length);
      samples = from.encoding === 'pcmu' ? decodeMulaw(bytes, scratch) : decodeAlaw(bytes, scratch);
    }
    const out = this.resampler ? this.resampler.process(samples) : samples;
    if (to.encoding === 'pcmu') return toBuffer(encodeMulaw(out));
    if (to.encoding === 'pcma') return toBuffer(encodeAlaw(out));
    // The resampler's output is new; without one the samples are scratch space: copy them out.
    return int16ToLeBytes(this.resampler ? out : out.slice());
  }

  close(): void {
    this.resampler?.close();
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A converter from one format to another; undefined when they are the same (pass through). */
export async function createConverter(from: AudioFormat, to: AudioFormat): Promise<AudioConverter | undefined> {
  checkFormat(from);
  checkFormat(to);
  if (sameFormat(from, to)) return undefined;
  const resampler =
    from.sampleRateHz === to.sampleRateHz
      ? undefined
      : await StreamingResampler.create(from.sampleRateHz, to.sampleRateHz);
  return new Converter(from, to, resampler);
}

/** Both directions of one call's seam: `up` caller → engine, `down` engine → caller. */
export interface AudioSeam {
  readonly up: AudioConverter | undefined;
  readonly down: AudioConverter | undefined;
  close(): void;
}

export async function negotiateSeam(
  channel: AudioFormat,
  engine: { inputFormat: AudioFormat; outputFormat: AudioFormat },
): Promise<AudioSeam> {
  const [up, down] = await Promise.all([
    createConverter(channel, engine.inputFormat),
    createConverter(engine.outputFormat, channel),
  ]);
  return {
    up,
    down,
    close() {
      up?.close();
      down?.close();
    },
  };
}
