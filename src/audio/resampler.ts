/**
 * Streaming sample-rate conversion for the pcm16 audio mode (OpenAI `audio/pcm` at 24 kHz <-> Twilio's
 * 8 kHz mu-law), built on libsamplerate compiled to WebAssembly (`@alexanderolsen/libsamplerate-js`).
 *
 * libsamplerate keeps the filter history between calls, so a stream cut into 20 ms chunks comes out the same
 * as the whole stream (no seams or spurs at chunk boundaries), delayed by the filter's latency. `flush()`
 * drains that latency with zeros and trims the output so the stream's total length is exactly
 * round(inputSamples * toHz / fromHz).
 *
 * Costs: `create` instantiates a WASM module (~8 ms; ~2 MB resident, more reserved address space), so make
 * one per call direction at call start, never per frame. `process` allocates only its returned array.
 */
import type * as LibsamplerateModule from '@alexanderolsen/libsamplerate-js';
import type { ConverterTypeValue } from '@alexanderolsen/libsamplerate-js/dist/converter-type';
import type { SRC } from '@alexanderolsen/libsamplerate-js/dist/src';
import { decodeMulaw, encodeMulaw } from './g711';

export type ResamplerQuality = 'best' | 'medium' | 'fastest';

export interface StreamingResamplerOptions {
  /** libsamplerate converter: 'fastest' (default; clean for speech, ~300x real time), 'medium', 'best'. */
  quality?: ResamplerQuality;
}

/** libsamplerate's converter types (SRC_SINC_BEST_QUALITY, _MEDIUM_QUALITY, _FASTEST). */
const QUALITY: Record<ResamplerQuality, ConverterTypeValue> = { best: 0, medium: 1, fastest: 2 };

type Libsamplerate = typeof LibsamplerateModule;
let library: Promise<Libsamplerate> | null = null;
/**
 * libsamplerate is loaded on the first resampler that needs it (~5.5 MB resident once loaded): a server
 * whose calls all pass G.711 through (the default) never loads it.
 */
function loadLibsamplerate(): Promise<Libsamplerate> {
  library ??= import('@alexanderolsen/libsamplerate-js');
  return library;
}

/** Whether libsamplerate has been loaded in this process (tests, diagnostics). */
export function libsamplerateLoaded(): boolean {
  return library !== null;
}

/** Input samples handed to libsamplerate per call (bounds the scratch buffers). */
const MAX_BLOCK_SAMPLES = 8192;
/** Extra output room per call: libsamplerate may release buffered samples on top of ratio * input. */
const OUTPUT_MARGIN_SAMPLES = 8192;
const MAX_RATE_HZ = 384000;

function checkRate(name: string, hz: number): void {
  if (!Number.isInteger(hz) || hz <= 0 || hz > MAX_RATE_HZ) {
    throw new RangeError(`StreamingResampler: ${name} must be an integer in 1..${MAX_RATE_HZ}, got ${hz}`);
  }
}

function toInt16(value: number): number {
  const scaled = Math.round(value * 32768);
  return scaled > 32767 ? 32767 : scaled < -32768 ? -32768 : scaled;
}

/** Mono PCM16 resampler that keeps its state across calls. Create with `StreamingResampler.create`. */
export class StreamingResampler {
  readonly fromHz: number;
  readonly toHz: number;
  private readonly src: SRC | null;
  private readonly ratio: number;
  private readonly floatIn = new Float32Array(MAX_BLOCK_SAMPLES);
  private readonly floatOut: Float32Array;
  private readonly outLength = { frames: 0 };
  private inputSamples = 0;
  private outputSamples = 0;
  private closed = false;

  /** Prefer `StreamingResampler.create`: libsamplerate's WASM module loads asynchronously. */
  private constructor(fromHz: number, toHz: number, src: SRC | null) {
    this.fromHz = fromHz;
    this.toHz = toHz;
    this.src = src;
    this.ratio = toHz / fromHz;
    this.floatOut = new Float32Array(Math.ceil(MAX_BLOCK_SAMPLES * this.ratio) + OUTPUT_MARGIN_SAMPLES);
  }

  static async create(
    fromHz: number,
    toHz: number,
    options: StreamingResamplerOptions = {},
  ): Promise<StreamingResampler> {
    checkRate('fromHz', fromHz);
    checkRate('toHz', toHz);
    const quality = options.quality ?? 'fastest';
    if (!(quality in QUALITY)) throw new RangeError(`StreamingResampler: unknown quality ${String(quality)}`);
    // Equal rates: a pass-through, no WASM module needed.
    const src =
      fromHz === toHz
        ? null
        : await (await loadLibsamplerate()).create(1, fromHz, toHz, { converterType: QUALITY[quality] });
    return new StreamingResampler(fromHz, toHz, src);
  }

  /** Resamples the next piece of the stream. The returned array is new and owned by the caller. */
  process(input: Int16Array): Int16Array {
    if (this.closed) throw new Error('StreamingResampler: process() after close()');
    this.inputSamples += input.length;
    if (this.src === null) {
      this.outputSamples += input.length;
      return input.slice();
    }
    if (input.length <= MAX_BLOCK_SAMPLES) return this.runBlock(input, input.length);
    const parts: Int16Array[] = [];
    let total = 0;
    for (let offset = 0; offset < input.length; offset += MAX_BLOCK_SAMPLES) {
      const block = input.subarray(offset, Math.min(input.length, offset + MAX_BLOCK_SAMPLES));
      const part = this.runBlock(block, block.length);
      parts.push(part);
      total += part.length;
    }
    return concatInt16(parts, total);
  }

  /**
   * Ends the stream: returns the samples still held in the filter, so that everything processed since the
   * start (or the last flush) adds up to round(inputSamples * toHz / fromHz). The resampler is then reset and
   * can start a new, independent stream.
   */
  flush(): Int16Array {
    if (this.closed) throw new Error('StreamingResampler: flush() after close()');
    const expected = Math.round(this.inputSamples * this.ratio);
    const parts: Int16Array[] = [];
    let total = 0;
    if (this.src !== null) {
      // Feed silence until the filter has released everything; a few blocks at most.
      const zeros = new Int16Array(Math.min(MAX_BLOCK_SAMPLES, Math.max(256, Math.ceil(this.fromHz / 50))));
      for (let round = 0; this.outputSamples < expected && round < 64; round++) {
        const part = this.runBlock(zeros, zeros.length);
        const keep = Math.min(part.length, expected - (this.outputSamples - part.length));
        parts.push(keep === part.length ? part : part.subarray(0, keep));
        total += keep;
      }
      // Start a fresh stream: re-initialising the converter clears the filter history.
      const converterType = this.src.converterType;
      this.src.converterType = converterType;
    }
    this.inputSamples = 0;
    this.outputSamples = 0;
    return concatInt16(parts, total);
  }

  /** Frees the WASM converter. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.src !== null && !this.src.isDestroyed) this.src.destroy();
  }

  private runBlock(block: Int16Array, length: number): Int16Array {
    const src = this.src as SRC;
    const floatIn = length === this.floatIn.length ? this.floatIn : this.floatIn.subarray(0, length);
    for (let i = 0; i < length; i++) floatIn[i] = block[i] / 32768;
    src.full(floatIn, this.floatOut, this.outLength);
    const frames = this.outLength.frames;
    if (frames < 0) throw new Error(`StreamingResampler: libsamplerate failed with code ${frames}`);
    if (frames > this.floatOut.length) {
      throw new Error(`StreamingResampler: libsamplerate returned ${frames} samples, more than its buffer holds`);
    }
    const out = new Int16Array(frames);
    const floatOut = this.floatOut;
    for (let i = 0; i < frames; i++) out[i] = toInt16(floatOut[i]);
    this.outputSamples += frames;
    return out;
  }
}

function concatInt16(parts: Int16Array[], total: number): Int16Array {
  if (parts.length === 1 && parts[0].length === total) return parts[0];
  const out = new Int16Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** PCM16 samples as little-endian bytes; no copy on little-endian machines. */
export function int16ToLeBytes(samples: Int16Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const out = Buffer.allocUnsafe(samples.length * 2);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i], i * 2);
  return out;
}

/**
 * Twilio -> model in pcm16 mode: mu-law 8 kHz bytes in, PCM16 24 kHz little-endian bytes out. Stateful:
 * feed the stream's chunks in order; one instance per call.
 */
export class PcmuToPcm24k {
  private readonly resampler: StreamingResampler;
  private decoded = new Int16Array(160);

  private constructor(resampler: StreamingResampler) {
    this.resampler = resampler;
  }

  static async create(options: StreamingResamplerOptions = {}): Promise<PcmuToPcm24k> {
    return new PcmuToPcm24k(await StreamingResampler.create(8000, 24000, options));
  }

  process(mulaw: Uint8Array): Buffer {
    if (mulaw.length > this.decoded.length) this.decoded = new Int16Array(mulaw.length);
    const pcm8k = decodeMulaw(mulaw, this.decoded);
    return int16ToLeBytes(this.resampler.process(pcm8k));
  }

  flush(): Buffer {
    return int16ToLeBytes(this.resampler.flush());
  }

  close(): void {
    this.resampler.close();
  }
}

/**
 * Model -> Twilio in pcm16 mode: PCM16 24 kHz little-endian bytes in (any chunk size, odd byte counts
 * included: a dangling byte waits for its partner), mu-law 8 kHz bytes out (any length: frame them with
 * MulawFramer). Stateful; one instance per call.
 */
export class Pcm24kToPcmu {
  private readonly resampler: StreamingResampler;
  private samples = new Int16Array(480);
  private encoded = new Uint8Array(160);
  private pendingByte = -1;

  private constructor(resampler: StreamingResampler) {
    this.resampler = resampler;
  }

  static async create(options: StreamingResamplerOptions = {}): Promise<Pcm24kToPcmu> {
    return new Pcm24kToPcmu(await StreamingResampler.create(24000, 8000, options));
  }

  process(pcmLeBytes: Uint8Array): Buffer {
    return this.encode(this.resampler.process(this.toSamples(pcmLeBytes)));
  }

  /** Ends the stream (a dangling odd byte is dropped) and returns the last mu-law bytes. */
  flush(): Buffer {
    this.pendingByte = -1;
    return this.encode(this.resampler.flush());
  }

  close(): void {
    this.resampler.close();
  }

  private toSamples(bytes: Uint8Array): Int16Array {
    const carried = this.pendingByte >= 0 ? 1 : 0;
    const available = bytes.length + carried;
    const count = available >> 1;
    if (count > this.samples.length) this.samples = new Int16Array(count);
    const samples = this.samples.subarray(0, count);
    let read = 0;
    for (let i = 0; i < count; i++) {
      let lo: number;
      if (i === 0 && carried === 1) {
        lo = this.pendingByte;
      } else {
        lo = bytes[read++];
      }
      const hi = bytes[read++];
      samples[i] = ((hi << 24) >> 16) | lo;
    }
    if ((available & 1) === 0) this.pendingByte = -1;
    else if (count > 0 || carried === 0) this.pendingByte = bytes[bytes.length - 1];
    // else: no new bytes arrived, the carried byte stays pending.
    return samples;
  }

  private encode(pcm8k: Int16Array): Buffer {
    if (pcm8k.length > this.encoded.length) this.encoded = new Uint8Array(pcm8k.length);
    const mulaw = encodeMulaw(pcm8k, this.encoded);
    return Buffer.from(mulaw); // copy: the scratch buffer is reused on the next call
  }
}
