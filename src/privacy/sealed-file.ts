/**
 * Recordings encrypted at rest with AES-256-GCM (RECORDING_ENCRYPTION_KEY), in independently
 * authenticated chunks so that any byte range can be served by decrypting only the chunks it covers.
 *
 * File: header (28 bytes) = "SBREC1\0\0" | chunk size (u32 BE) | plaintext size (u64 BE) | nonce
 * prefix (8 random bytes); then each chunk's ciphertext followed by its 16-byte tag. Chunk i's nonce
 * is the prefix and i (u32 BE); its additional data is the header and a last-chunk flag, so chunks
 * cannot be reordered, moved between files, dropped from the end or the size changed undetected.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

export const SEALED_EXT = '.enc';
const MAGIC = Buffer.from('SBREC1\0\0', 'latin1');
export const SEALED_HEADER_BYTES = 28;
export const SEALED_CHUNK_BYTES = 64 * 1024;
const TAG_BYTES = 16;

export interface SealedHeader {
  raw: Buffer;
  chunkBytes: number;
  plainSize: number;
  noncePrefix: Buffer;
}

/** RECORDING_ENCRYPTION_KEY: 64 hex characters or base64 of 32 bytes; undefined when not a key. */
export function parseRecordingKey(value: string): Buffer | undefined {
  const v = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(v)) return Buffer.from(v, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(v)) {
    const b = Buffer.from(v, 'base64');
    if (b.length === 32) return b;
  }
  return undefined;
}

function nonce(h: SealedHeader, index: number): Buffer {
  const n = Buffer.alloc(12);
  h.noncePrefix.copy(n, 0);
  n.writeUInt32BE(index, 8);
  return n;
}

function aad(h: SealedHeader, last: boolean): Buffer {
  return Buffer.concat([h.raw, Buffer.from([last ? 1 : 0])]);
}

function chunkCount(h: SealedHeader): number {
  return Math.max(1, Math.ceil(h.plainSize / h.chunkBytes));
}

/** Encrypts `src` into `dst` chunk by chunk, then deletes `src`. Returns the sealed file's size. */
export async function sealFile(
  src: string,
  dst: string,
  key: Buffer,
  chunkBytes = SEALED_CHUNK_BYTES,
): Promise<number> {
  const input = await open(src, 'r');
  let output: FileHandle | undefined;
  let written = 0;
  try {
    const plainSize = (await input.stat()).size;
    const raw = Buffer.alloc(SEALED_HEADER_BYTES);
    MAGIC.copy(raw, 0);
    raw.writeUInt32BE(chunkBytes, 8);
    raw.writeBigUInt64BE(BigInt(plainSize), 12);
    randomBytes(8).copy(raw, 20);
    const h: SealedHeader = { raw, chunkBytes, plainSize, noncePrefix: raw.subarray(20, 28) };
    output = await open(dst, 'wx', 0o600);
    await output.write(raw, 0, raw.length, 0);
    written = raw.length;
    const buf = Buffer.alloc(chunkBytes);
    const count = chunkCount(h);
    for (let i = 0; i < count; i++) {
      const { bytesRead } = await input.read(buf, 0, chunkBytes, i * chunkBytes);
      const cipher = createCipheriv('aes-256-gcm', key, nonce(h, i));
      cipher.setAAD(aad(h, i === count - 1));
      const out = Buffer.concat([cipher.update(buf.subarray(0, bytesRead)), cipher.final(), cipher.getAuthTag()]);
      await output.write(out, 0, out.length, written);
      written += out.length;
    }
    await output.sync();
  } catch (err) {
    await output?.close().catch(() => undefined);
    output = undefined;
    await rm(dst, { force: true });
    throw err;
  } finally {
    await input.close();
    await output?.close();
  }
  await rm(src);
  return written;
}

/** Reads and checks a sealed file's header. */
export async function readSealedHeader(handle: FileHandle): Promise<SealedHeader> {
  const raw = Buffer.alloc(SEALED_HEADER_BYTES);
  const { bytesRead } = await handle.read(raw, 0, raw.length, 0);
  if (bytesRead !== raw.length || !raw.subarray(0, 8).equals(MAGIC)) throw new Error('not a sealed recording');
  const chunkBytes = raw.readUInt32BE(8);
  const plainSize = Number(raw.readBigUInt64BE(12));
  if (chunkBytes < 1024 || chunkBytes > 16 * 1024 * 1024) throw new Error('bad chunk size in a sealed recording');
  return { raw, chunkBytes, plainSize, noncePrefix: raw.subarray(20, 28) };
}

/**
 * The plaintext bytes [start, end] (inclusive) of a sealed file, decrypting only the chunks they
 * cover. The stream owns `handle` and closes it. A tampered chunk fails the stream.
 */
export function openSealedRange(
  handle: FileHandle,
  h: SealedHeader,
  key: Buffer,
  start: number,
  end: number,
): Readable {
  const count = chunkCount(h);
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      const first = Math.floor(start / h.chunkBytes);
      const last = Math.min(count - 1, Math.floor(end / h.chunkBytes));
      const buf = Buffer.alloc(h.chunkBytes + TAG_BYTES);
      for (let i = first; i <= last; i++) {
        const plainLen = Math.min(h.chunkBytes, h.plainSize - i * h.chunkBytes);
        const at = SEALED_HEADER_BYTES + i * (h.chunkBytes + TAG_BYTES);
        const { bytesRead } = await handle.read(buf, 0, plainLen + TAG_BYTES, at);
        if (bytesRead !== plainLen + TAG_BYTES) throw new Error('sealed recording is truncated');
        const decipher = createDecipheriv('aes-256-gcm', key, nonce(h, i));
        decipher.setAAD(aad(h, i === count - 1));
        decipher.setAuthTag(buf.subarray(plainLen, plainLen + TAG_BYTES));
        const plain = Buffer.concat([decipher.update(buf.subarray(0, plainLen)), decipher.final()]);
        const from = i === first ? start - i * h.chunkBytes : 0;
        const to = i === last ? end - i * h.chunkBytes + 1 : plain.length;
        yield plain.subarray(from, to);
      }
    } finally {
      await handle.close();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

/** The whole plaintext of a sealed file, as a stream. */
export async function openSealedFile(file: string, key: Buffer): Promise<Readable> {
  const handle = await open(file, 'r');
  try {
    const h = await readSealedHeader(handle);
    if (h.plainSize === 0) {
      await handle.close();
      return Readable.from([]);
    }
    return openSealedRange(handle, h, key, 0, h.plainSize - 1);
  } catch (err) {
    await handle.close();
    throw err;
  }
}
