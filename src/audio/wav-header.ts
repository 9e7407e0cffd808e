/**
 * Canonical 44-byte RIFF/WAVE PCM header: build, parse, and repair after a crash.
 *
 * Layout (little-endian): 0 "RIFF", 4 riffSize (= file size - 8), 8 "WAVE", 12 "fmt ", 16 fmt size (16),
 * 20 audio format (1 = PCM), 22 channels, 24 sample rate, 28 byte rate, 32 block align, 34 bits per sample,
 * 36 "data", 40 data size, 44 samples.
 */
import { open } from 'node:fs/promises';

export const WAV_HEADER_BYTES = 44;
export const RIFF_SIZE_OFFSET = 4;
export const DATA_SIZE_OFFSET = 40;
const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** How far into a file `repairWavFile` looks for the data chunk (headers with extra chunks). */
const MAX_HEADER_SCAN_BYTES = 4096;

export interface WavFormat {
  sampleRateHz: number;
  channels: number;
  bitsPerSample: number;
}

export interface WavHeaderOptions extends WavFormat {
  dataBytes: number;
}

export interface ParsedWavHeader extends WavFormat {
  audioFormat: number;
  byteRate: number;
  blockAlign: number;
  /** RIFF chunk size as stored (file size - 8 when consistent). */
  riffSize: number;
  /** Data chunk size as stored. */
  dataBytes: number;
  /** Byte offset of the first sample (44 for a canonical header). */
  dataOffset: number;
}

export class WavFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WavFormatError';
  }
}

function checkFormat({ sampleRateHz, channels, bitsPerSample }: WavFormat): void {
  if (!Number.isInteger(sampleRateHz) || sampleRateHz <= 0) {
    throw new RangeError(`wav: sampleRateHz must be a positive integer, got ${sampleRateHz}`);
  }
  if (!Number.isInteger(channels) || channels <= 0 || channels > 65535) {
    throw new RangeError(`wav: channels must be an integer in 1..65535, got ${channels}`);
  }
  if (bitsPerSample !== 8 && bitsPerSample !== 16 && bitsPerSample !== 24 && bitsPerSample !== 32) {
    throw new RangeError(`wav: bitsPerSample must be 8, 16, 24 or 32, got ${bitsPerSample}`);
  }
}

/** Writes a canonical PCM header into `target` at offset 0 (target must hold 44 bytes). */
export function writeWavHeader(target: Buffer, options: WavHeaderOptions): Buffer {
  checkFormat(options);
  const { sampleRateHz, channels, bitsPerSample, dataBytes } = options;
  if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > 0xffffffff - 36) {
    throw new RangeError(`wav: dataBytes must be an integer in 0..${0xffffffff - 36}, got ${dataBytes}`);
  }
  const blockAlign = channels * (bitsPerSample / 8);
  target.write('RIFF', 0, 'latin1');
  target.writeUInt32LE(36 + dataBytes, RIFF_SIZE_OFFSET);
  target.write('WAVE', 8, 'latin1');
  target.write('fmt ', 12, 'latin1');
  target.writeUInt32LE(16, 16);
  target.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  target.writeUInt16LE(channels, 22);
  target.writeUInt32LE(sampleRateHz, 24);
  target.writeUInt32LE(sampleRateHz * blockAlign, 28);
  target.writeUInt16LE(blockAlign, 32);
  target.writeUInt16LE(bitsPerSample, 34);
  target.write('data', 36, 'latin1');
  target.writeUInt32LE(dataBytes, DATA_SIZE_OFFSET);
  return target;
}

/** A new 44-byte canonical PCM header. */
export function wavHeader(options: WavHeaderOptions): Buffer {
  return writeWavHeader(Buffer.alloc(WAV_HEADER_BYTES), options);
}

/**
 * Parses the header at the start of `buf`: RIFF/WAVE, a PCM `fmt ` chunk, and the start of the `data` chunk
 * (other chunks such as LIST are skipped). Sizes are returned as stored, not checked against a file size.
 * Throws WavFormatError with the reason when `buf` is not such a file.
 */
export function parseWavHeader(buf: Uint8Array): ParsedWavHeader {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 12) throw new WavFormatError(`not a WAV file: ${b.length} bytes is shorter than a RIFF header`);
  if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') {
    throw new WavFormatError('not a WAV file: missing RIFF/WAVE signature');
  }
  const riffSize = b.readUInt32LE(RIFF_SIZE_OFFSET);
  let fmt: Omit<ParsedWavHeader, 'riffSize' | 'dataBytes' | 'dataOffset'> | undefined;
  let offset = 12;
  while (offset + 8 <= b.length) {
    const id = b.toString('latin1', offset, offset + 4);
    const size = b.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > b.length) throw new WavFormatError('WAV fmt chunk is truncated');
      const audioFormat = b.readUInt16LE(body);
      if (audioFormat !== WAVE_FORMAT_PCM && audioFormat !== WAVE_FORMAT_EXTENSIBLE) {
        throw new WavFormatError(`unsupported WAV audio format ${audioFormat} (only PCM)`);
      }
      fmt = {
        audioFormat,
        channels: b.readUInt16LE(body + 2),
        sampleRateHz: b.readUInt32LE(body + 4),
        byteRate: b.readUInt32LE(body + 8),
        blockAlign: b.readUInt16LE(body + 12),
        bitsPerSample: b.readUInt16LE(body + 14),
      };
      if (fmt.channels === 0 || fmt.blockAlign === 0 || fmt.sampleRateHz === 0) {
        throw new WavFormatError('WAV fmt chunk has zero channels, block align or sample rate');
      }
    } else if (id === 'data') {
      if (fmt === undefined) throw new WavFormatError('WAV data chunk comes before the fmt chunk');
      return { ...fmt, riffSize, dataBytes: size, dataOffset: body };
    }
    offset = body + size + (size & 1); // chunks are padded to an even size
  }
  throw new WavFormatError(fmt === undefined ? 'WAV fmt chunk not found' : 'WAV data chunk not found');
}

export interface WavRepairResult {
  /** True when the stored sizes were wrong and have been rewritten (or a partial sample frame was cut). */
  repaired: boolean;
  /** Bytes of whole sample frames in the data chunk after the repair. */
  dataBytes: number;
  durationMs: number;
}

/**
 * Makes a WAV file whose writer died consistent again: the data chunk is taken to run to the end of the file
 * (it must be the last chunk, as in every file this project writes), a partial trailing sample frame is cut
 * off, and the RIFF size (offset 4) and data size are rewritten. Idempotent: a consistent file is left as is.
 * Throws WavFormatError when the file does not start with a PCM WAV header.
 */
export async function repairWavFile(path: string): Promise<WavRepairResult> {
  const handle = await open(path, 'r+');
  try {
    const { size: fileBytes } = await handle.stat();
    const head = Buffer.alloc(Math.min(fileBytes, MAX_HEADER_SCAN_BYTES));
    await handle.read(head, 0, head.length, 0);
    const header = parseWavHeader(head);
    const available = Math.max(0, fileBytes - header.dataOffset);
    const dataBytes = Math.min(available - (available % header.blockAlign), 0xffffffff - header.dataOffset);
    const riffSize = header.dataOffset - 8 + dataBytes;
    const wholeFileBytes = header.dataOffset + dataBytes;
    let repaired = false;
    if (fileBytes > wholeFileBytes) {
      await handle.truncate(wholeFileBytes);
      repaired = true;
    }
    if (header.dataBytes !== dataBytes || header.riffSize !== riffSize) {
      const field = Buffer.alloc(4);
      field.writeUInt32LE(riffSize, 0);
      await handle.write(field, 0, 4, RIFF_SIZE_OFFSET);
      field.writeUInt32LE(dataBytes, 0);
      await handle.write(field, 0, 4, header.dataOffset - 4);
      repaired = true;
    }
    const durationMs = header.byteRate > 0 ? (dataBytes * 1000) / header.byteRate : 0;
    return { repaired, dataBytes, durationMs };
  } finally {
    await handle.close();
  }
}
