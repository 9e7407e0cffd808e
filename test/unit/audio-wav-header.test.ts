import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WaveFile } from 'wavefile';
import { WavFormatError, parseWavHeader, repairWavFile, wavHeader } from '../../src/audio/wav-header';

const STEREO_8K = { sampleRateHz: 8000, channels: 2, bitsPerSample: 16 };

describe('wavHeader', () => {
  it('writes the canonical 44-byte PCM header, byte for byte', () => {
    const header = wavHeader({ ...STEREO_8K, dataBytes: 32000 });
    expect(header.toString('hex')).toBe(
      '52494646' + // RIFF
        '247d0000' + // 36 + 32000 = 0x7d24
        '57415645' + // WAVE
        '666d7420' + // 'fmt '
        '10000000' + // fmt size 16
        '0100' + // PCM
        '0200' + // 2 channels
        '401f0000' + // 8000 Hz
        '007d0000' + // byte rate 32000
        '0400' + // block align 4
        '1000' + // 16 bits
        '64617461' + // data
        '007d0000', // 32000
    );
  });

  it('is read back by wavefile and by parseWavHeader', () => {
    const samples = Buffer.alloc(16);
    for (let i = 0; i < 8; i++) samples.writeInt16LE(i * 1000 - 4000, i * 2);
    const file = Buffer.concat([wavHeader({ ...STEREO_8K, dataBytes: 16 }), samples]);
    const wav = new WaveFile();
    wav.fromBuffer(file);
    expect(wav.fmt).toMatchObject({ numChannels: 2, sampleRate: 8000, bitsPerSample: 16, audioFormat: 1 });
    expect(Array.from(wav.getSamples(true))).toEqual([-4000, -3000, -2000, -1000, 0, 1000, 2000, 3000]);
    expect(parseWavHeader(file)).toEqual({
      audioFormat: 1,
      channels: 2,
      sampleRateHz: 8000,
      byteRate: 32000,
      blockAlign: 4,
      bitsPerSample: 16,
      riffSize: 52,
      dataBytes: 16,
      dataOffset: 44,
    });
  });

  it('rejects impossible formats', () => {
    expect(() => wavHeader({ ...STEREO_8K, dataBytes: -1 })).toThrow(RangeError);
    expect(() => wavHeader({ ...STEREO_8K, channels: 0, dataBytes: 0 })).toThrow(RangeError);
    expect(() => wavHeader({ ...STEREO_8K, bitsPerSample: 12, dataBytes: 0 })).toThrow(RangeError);
  });
});

describe('parseWavHeader', () => {
  it('skips chunks before the data chunk', () => {
    const canonical = wavHeader({ sampleRateHz: 16000, channels: 1, bitsPerSample: 16, dataBytes: 2 });
    const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc\0')]); // odd size, padded
    const file = Buffer.concat([canonical.subarray(0, 36), list, canonical.subarray(36), Buffer.alloc(2)]);
    const parsed = parseWavHeader(file);
    expect(parsed.dataOffset).toBe(56);
    expect(parsed.sampleRateHz).toBe(16000);
  });

  it('explains what is wrong with malformed input', () => {
    expect(() => parseWavHeader(Buffer.alloc(0))).toThrow(WavFormatError);
    expect(() => parseWavHeader(Buffer.from('RIFF\0\0\0\0WAVX'))).toThrow('missing RIFF/WAVE signature');
    const header = wavHeader({ ...STEREO_8K, dataBytes: 0 });
    expect(() => parseWavHeader(header.subarray(0, 30))).toThrow('fmt chunk is truncated');
    expect(() => parseWavHeader(header.subarray(0, 36))).toThrow('data chunk not found');
    const float = Buffer.from(header);
    float.writeUInt16LE(3, 20);
    expect(() => parseWavHeader(float)).toThrow('unsupported WAV audio format 3');
    const random = Buffer.alloc(64, 0x5a);
    expect(() => parseWavHeader(random)).toThrow(WavFormatError);
  });
});

describe('repairWavFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'switchboard-wav-header-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rewrites stale sizes from the real file size and cuts a partial sample frame', async () => {
    const file = path.join(dir, 'crashed.wav');
    // Header written at start (0 bytes of data), then 1000 frames and half a frame before the crash.
    await writeFile(file, Buffer.concat([wavHeader({ ...STEREO_8K, dataBytes: 0 }), Buffer.alloc(4002, 1)]));
    const result = await repairWavFile(file);
    expect(result).toEqual({ repaired: true, dataBytes: 4000, durationMs: 125 });
    expect((await stat(file)).size).toBe(4044);
    const header = parseWavHeader(await readFile(file));
    expect(header.dataBytes).toBe(4000);
    expect(header.riffSize).toBe(4036);
    const wav = new WaveFile();
    wav.fromBuffer(await readFile(file));
    expect(wav.getSamples(true)).toHaveLength(2000);
  });

  it('fixes a header that claims more than the file holds (the "74 hours" header)', async () => {
    const file = path.join(dir, 'huge-claim.wav');
    await writeFile(file, Buffer.concat([wavHeader({ ...STEREO_8K, dataBytes: 0xffffffff - 36 }), Buffer.alloc(800)]));
    expect(await repairWavFile(file)).toEqual({ repaired: true, dataBytes: 800, durationMs: 25 });
  });

  it('leaves a consistent file untouched', async () => {
    const file = path.join(dir, 'fine.wav');
    const content = Buffer.concat([wavHeader({ ...STEREO_8K, dataBytes: 320 }), Buffer.alloc(320, 9)]);
    await writeFile(file, content);
    expect(await repairWavFile(file)).toEqual({ repaired: false, dataBytes: 320, durationMs: 10 });
    expect(await readFile(file)).toEqual(content);
  });

  it('rejects files that are not WAV and missing files', async () => {
    const file = path.join(dir, 'not-a-wav.wav');
    await writeFile(file, 'hello');
    await expect(repairWavFile(file)).rejects.toThrow(WavFormatError);
    await expect(repairWavFile(path.join(dir, 'missing.wav'))).rejects.toThrow('ENOENT');
  });
});
