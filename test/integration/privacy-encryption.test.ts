/**
 * Recordings encrypted at rest (RECORDING_ENCRYPTION_KEY) on a whole call: the file on disk is not a
 * WAV and holds none of its bytes; the API serves the decrypted WAV whole and by Range (across
 * chunk boundaries); a tampered file is never served as if intact; a bad key stops the start.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import request from 'supertest';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { createApp } from '../../src/app';
import { testConfig } from '../../src/config';

const binary = (res: request.Response, cb: (err: Error | null, body: Buffer) => void): void => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
  res.on('error', (err) => cb(err, Buffer.concat(chunks)));
};

describe('recordings encrypted at rest', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hello there, how can I help you today?'], callerTranscripts: ['hi'] },
      { RECORDING_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
    );
  });
  afterAll(() => h.close());

  it('stores the recording sealed and serves it decrypted, whole and by Range', async () => {
    const summary = await h.call({
      ttsEngine: 'tone',
      script: [{ untilAgentSilentMs: 400 }, { say: 'hi' }, { untilAgentSilentMs: 400 }, { silenceMs: 1500 }],
    }).done;
    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({ where: { callSid: summary.callSid }, include: { recordings: true } });
      return c?.recordings.length ? c : null;
    }, 20_000);
    const rec = call.recordings[0];
    expect(rec.path.endsWith('.wav.enc')).toBe(true);
    const disk = readFileSync(path.join(h.t.sb.recordingsDir, rec.path));
    expect(disk.subarray(0, 4).toString()).not.toBe('RIFF');
    expect(disk.includes(Buffer.from('RIFF'))).toBe(false);
    expect(disk.includes(Buffer.from('WAVEfmt'))).toBe(false);

    const api = request(h.t.baseUrl);
    const whole = await api.get(`/api/calls/${call.id}/recording`).buffer(true).parse(binary).expect(200);
    const wav = whole.body as Buffer;
    expect(wav.subarray(0, 4).toString()).toBe('RIFF');
    expect(wav.subarray(8, 15).toString()).toBe('WAVEfmt');
    expect(wav.length).toBeGreaterThan(70_000);
    expect(Number(whole.headers['content-length'])).toBe(wav.length);
    // The data size in the header matches the bytes served.
    expect(wav.readUInt32LE(40)).toBe(wav.length - 44);
    // Nothing of the plaintext (a second of audio from the middle) is on disk.
    expect(disk.includes(wav.subarray(40_000, 40_064))).toBe(false);

    for (const [s, e] of [
      [0, 99],
      [65_530, 65_545],
      [65_536, 131_100],
      [wav.length - 10, wav.length - 1],
    ]) {
      const part = await api
        .get(`/api/calls/${call.id}/recording`)
        .set('Range', `bytes=${s}-${e}`)
        .buffer(true)
        .parse(binary)
        .expect(206);
      expect(part.headers['content-range']).toBe(`bytes ${s}-${e}/${wav.length}`);
      expect((part.body as Buffer).equals(wav.subarray(s, e + 1))).toBe(true);
    }
    const suffix = await api
      .get(`/api/calls/${call.id}/recording`)
      .set('Range', 'bytes=-100')
      .buffer(true)
      .parse(binary);
    expect((suffix.body as Buffer).equals(wav.subarray(wav.length - 100))).toBe(true);
    await api.get(`/api/calls/${call.id}/recording`).set('Range', `bytes=${wav.length}-`).expect(416);

    // A flipped byte in the first chunk: that range is never served as if intact.
    const tampered = Buffer.from(disk);
    tampered[100] ^= 0xff;
    writeFileSync(path.join(h.t.sb.recordingsDir, rec.path), tampered);
    const bad = await api
      .get(`/api/calls/${call.id}/recording`)
      .set('Range', 'bytes=0-99')
      .buffer(true)
      .parse(binary)
      .catch((err: unknown) => err as Error);
    const served = bad instanceof Error ? undefined : (bad.body as Buffer | undefined);
    expect(served?.equals(wav.subarray(0, 100)) ?? false).toBe(false);
    // The other chunks are intact and still served.
    const later = await api
      .get(`/api/calls/${call.id}/recording`)
      .set('Range', 'bytes=70000-70099')
      .buffer(true)
      .parse(binary);
    expect((later.body as Buffer).equals(wav.subarray(70_000, 70_100))).toBe(true);
  }, 60_000);

  it('refuses to start with a key that is not 32 bytes', async () => {
    const config = testConfig({
      DATABASE_URL: `file:${path.join(h.t.tmp.dir, 'never.db')}`,
      RECORDING_STORAGE_PATH: h.t.tmp.recordingsDir,
      RECORDING_ENCRYPTION_KEY: 'not-a-key',
    });
    const err = (await createApp(config).catch((e: unknown) => e)) as { problems?: string[] };
    expect(err.problems).toEqual([expect.stringContaining('RECORDING_ENCRYPTION_KEY')]);
  });
});
