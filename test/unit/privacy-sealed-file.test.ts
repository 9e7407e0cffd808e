import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSealedRange, parseRecordingKey, readSealedHeader, sealFile } from '../../src/privacy/sealed-file';

const KEY = randomBytes(32);

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('sealed recordings (AES-256-GCM in chunks)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sealed-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  let n = 0;
  async function seal(plain: Buffer, chunk = 1024): Promise<string> {
    const src = path.join(dir, `${++n}.wav`);
    writeFileSync(src, plain);
    await sealFile(src, `${src}.enc`, KEY, chunk);
    return `${src}.enc`;
  }
  async function range(file: string, start: number, end: number, key = KEY): Promise<Buffer> {
    const handle = await open(file, 'r');
    const h = await readSealedHeader(handle);
    return collect(openSealedRange(handle, h, key, start, end));
  }

  it('serves any range by decrypting only its chunks, and hides the plaintext on disk', async () => {
    const plain = randomBytes(5000);
    plain.write('RIFF', 0);
    const file = await seal(plain);
    const disk = readFileSync(file);
    expect(disk.includes(plain.subarray(0, 64))).toBe(false);
    expect(disk.includes(Buffer.from('RIFF'))).toBe(false);
    for (const [s, e] of [
      [0, 4999],
      [0, 0],
      [1023, 1024],
      [1000, 3100],
      [4096, 4999],
      [4999, 4999],
    ]) {
      expect((await range(file, s, e)).equals(plain.subarray(s, e + 1))).toBe(true);
    }
  });

  it('handles empty files and exact multiples of the chunk size', async () => {
    const empty = await seal(Buffer.alloc(0));
    const handle = await open(empty, 'r');
    expect((await readSealedHeader(handle)).plainSize).toBe(0);
    await handle.close();
    const exact = randomBytes(2048);
    const file = await seal(exact);
    expect((await range(file, 0, 2047)).equals(exact)).toBe(true);
  });

  it('fails on a tampered byte, a wrong key or a truncated file', async () => {
    const plain = randomBytes(3000);
    const file = await seal(plain);
    const bytes = readFileSync(file);
    bytes[40] ^= 1;
    writeFileSync(file, bytes);
    await expect(range(file, 0, 100)).rejects.toThrow();
    await expect(range(file, 2000, 2100)).resolves.toEqual(plain.subarray(2000, 2101));
    const other = await seal(plain);
    await expect(range(other, 0, 10, randomBytes(32))).rejects.toThrow();
    writeFileSync(other, readFileSync(other).subarray(0, 2000));
    await expect(range(other, 2900, 2999)).rejects.toThrow();
  });

  it('parses keys as 64 hex or base64 of 32 bytes only', () => {
    expect(parseRecordingKey('ab'.repeat(32))?.length).toBe(32);
    expect(parseRecordingKey(randomBytes(32).toString('base64'))?.length).toBe(32);
    expect(parseRecordingKey('short')).toBeUndefined();
    expect(parseRecordingKey('')).toBeUndefined();
  });
});
