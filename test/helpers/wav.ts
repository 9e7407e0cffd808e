import { writeFileSync } from 'node:fs';

/** A real PCM16 mono WAV file: a sine tone of `durationMs` at `sampleRateHz`. Returns its bytes. */
export function writeSineWav(
  file: string,
  options: { sampleRateHz?: number; durationMs?: number; toneHz?: number } = {},
): Buffer {
  const sampleRateHz = options.sampleRateHz ?? 8000;
  const durationMs = options.durationMs ?? 1000;
  const toneHz = options.toneHz ?? 440;
  const samples = Math.round((sampleRateHz * durationMs) / 1000);
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++)
    data.writeInt16LE(Math.round(12000 * Math.sin((2 * Math.PI * toneHz * i) / sampleRateHz)), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRateHz, 24);
  header.writeUInt32LE(sampleRateHz * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  const bytes = Buffer.concat([header, data]);
  writeFileSync(file, bytes);
  return bytes;
}
