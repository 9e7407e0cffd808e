/**
 * A stored recording as its listener hears it: plain WAV bytes, whether the stored object is the
 * WAV itself or sealed at rest (src/privacy/sealed-file.ts), and whether it is on this disk or in S3.
 *
 * Sealed files are decrypted by sealed-file.ts's own openSealedRange/readSealedHeader, which read
 * through a FileHandle; for any stored object they get a small stand-in here that serves their reads
 * from one ranged stream of the ciphertext the requested bytes cover (the header is one tiny read
 * first). Nothing holds more than a chunk (64 KB) of a recording in memory.
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  openSealedRange,
  readSealedHeader,
  SEALED_EXT,
  SEALED_HEADER_BYTES,
  type SealedHeader,
} from '../privacy/sealed-file';
import type { RecordingObject, RecordingStorage } from './types';

const TAG_BYTES = 16;

type ReadResult = { bytesRead: number; buffer: Buffer };

/** FileHandle.read over bytes already in memory (the sealed header). */
function bufferReader(bytes: Buffer): FileHandle {
  const reader = {
    read(buffer: Buffer, offset: number, length: number, position: number): Promise<ReadResult> {
      const n = bytes.copy(buffer, offset, position, Math.min(bytes.length, position + length));
      return Promise.resolve({ bytesRead: n, buffer });
    },
    close: () => Promise.resolve(),
  };
  // Only read() and close() are used by sealed-file.ts.
  return reader as unknown as FileHandle;
}

/**
 * FileHandle.read over a stream of the bytes from `start` on, read strictly in order (as
 * openSealedRange does, chunk after chunk). close() destroys the stream.
 */
export function sequentialReader(body: Readable, start: number): FileHandle {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let cursor = start;
  let rest: Buffer = Buffer.alloc(0);
  const reader = {
    async read(buffer: Buffer, offset: number, length: number, position: number): Promise<ReadResult> {
      if (position !== cursor) throw new Error(`out-of-order read at ${position} (expected ${cursor})`);
      let n = 0;
      while (n < length) {
        if (rest.length === 0) {
          const next = await it.next();
          if (next.done) break;
          rest = next.value;
        }
        const take = Math.min(rest.length, length - n);
        rest.copy(buffer, offset + n, 0, take);
        rest = rest.subarray(take);
        n += take;
      }
      cursor += n;
      return { bytesRead: n, buffer };
    },
    async close(): Promise<void> {
      body.destroy();
      await it.return?.();
    },
  };
  return reader as unknown as FileHandle;
}

export interface PlainView {
  /** Size of the plain WAV. */
  readonly size: number;
  readonly sealed: boolean;
  /** Plain bytes [start, end] (inclusive); the stream owns the object from then on. */
  stream(start: number, end: number): Promise<Readable>;
  close(): Promise<void>;
}

/** Thrown when a sealed recording is read and no key is configured. */
export class RecordingKeyMissingError extends Error {
  constructor() {
    super('the recording is encrypted and no key is configured');
    this.name = 'RecordingKeyMissingError';
  }
}

/** The plain view of `obj` stored under `key` (sealed when it ends in .enc). */
export async function plainView(obj: RecordingObject, key: string, sealKey: Buffer | undefined): Promise<PlainView> {
  if (!key.endsWith(SEALED_EXT)) {
    return { size: obj.size, sealed: false, stream: (s, e) => obj.stream(s, e), close: () => obj.close() };
  }
  if (!sealKey) throw new RecordingKeyMissingError();
  if (obj.size < SEALED_HEADER_BYTES) throw new Error('not a sealed recording (shorter than its header)');
  const header: SealedHeader = await readSealedHeader(bufferReader(await obj.readBytes(0, SEALED_HEADER_BYTES - 1)));
  const stride = header.chunkBytes + TAG_BYTES;
  return {
    size: header.plainSize,
    sealed: true,
    async stream(start: number, end: number): Promise<Readable> {
      // The ciphertext of the chunks [first, last] that hold plain bytes [start, end].
      const first = Math.floor(start / header.chunkBytes);
      const last = Math.floor(end / header.chunkBytes);
      const from = SEALED_HEADER_BYTES + first * stride;
      const lastPlain = Math.min(header.chunkBytes, header.plainSize - last * header.chunkBytes);
      const to = Math.min(obj.size - 1, SEALED_HEADER_BYTES + last * stride + lastPlain + TAG_BYTES - 1);
      const body = await obj.stream(from, to);
      return openSealedRange(sequentialReader(body, from), header, sealKey, start, end);
    },
    close: () => obj.close(),
  };
}

/**
 * The whole plain WAV of `key`, from this disk or S3 (undefined when it is nowhere): for readers
 * other than the HTTP route, e.g. the privacy export (src/privacy/export.ts).
 */
export async function openPlainRecording(
  storage: RecordingStorage,
  key: string,
  sealKey: Buffer | undefined,
): Promise<Readable | undefined> {
  const obj = await storage.open(key);
  if (!obj) return undefined;
  try {
    const view = await plainView(obj, key, sealKey);
    if (view.size === 0) {
      await obj.close();
      return Readable.from([]);
    }
    return await view.stream(0, view.size - 1);
  } catch (err) {
    await obj.close();
    throw err;
  }
}
