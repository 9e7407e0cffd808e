import { CallPrivacy } from '../../src/privacy/call-privacy';
import { buildPrivacyPolicy } from '../../src/privacy/policy';
import { createLogger } from '../../src/logging/logger';

const logger = createLogger({ level: 'error', json: true, silent: true });

describe('the CallManager privacy hook', () => {
  const policy = buildPrivacyPolicy({ profiles: { open: { redact: 'none' } } });
  const hook = new CallPrivacy({ policy, recordingsDir: '/nonexistent', logger });

  it('redacts tool arguments and results on the timeline, deeply, and leaves other events alone', () => {
    const data = {
      name: 'http_lookup',
      arguments: { card: '4111 1111 1111 1111', nested: ['mail me at a@b.com', 7] },
      result: { ok: true, email: 'x@y.org' },
    };
    expect(hook.event('c1', 'default', 'tool.call', data)).toEqual({
      name: 'http_lookup',
      arguments: { card: '[card number]', nested: ['mail me at [email]', 7] },
      result: { ok: true, email: '[email]' },
    });
    expect(hook.event('c1', 'default', 'status.changed', { note: 'a@b.com' })).toEqual({ note: 'a@b.com' });
    expect(hook.event('c1', 'open', 'tool.call', data)).toBe(data);
  });

  it('redacts both parts of an agent turn, and remembers a card for the next turns', () => {
    const t = hook.transcript('c2', 'default', {
      speaker: 'agent',
      text: 'I read back 4111 1111 1111 1111',
      unheardText: 'and the code 123',
      startMs: 0,
      endMs: 1000,
    });
    expect(t).toMatchObject({ text: 'I read back [card number]', unheardText: 'and the code [cvv]' });
    const next = hook.transcript('c2', 'default', { speaker: 'caller', text: 'yes, 123', startMs: 2000, endMs: 3000 });
    expect(next?.text).toBe('yes, [cvv]');
    // Another call knows nothing of it.
    expect(hook.transcript('c3', 'default', { speaker: 'caller', text: 'yes, 123', startMs: 0 })?.text).toBe(
      'yes, 123',
    );
    expect(hook.counts.get('card')).toBe(1);
  });

  it('deletes a recording whose redacted spans cannot be silenced, rather than keep it', async () => {
    hook.transcript('c4', 'default', { speaker: 'caller', text: 'a@b.com', startMs: 0, endMs: 500 });
    await expect(
      hook.recording({
        callId: 'c4',
        path: 'missing.wav',
        container: 'wav',
        codec: 'pcm_s16le',
        sampleRateHz: 8000,
        channels: 2,
        durationMs: 1000,
        sizeBytes: 100,
      }),
    ).rejects.toThrow(/withheld/);
  });
});

describe('silencing a recording this process did not record (crash recovery)', () => {
  it('takes the spans from the timeline events and silences them in the file', async () => {
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { spansFromEvents } = await import('../../src/privacy/call-privacy');
    const dir = mkdtempSync(path.join(tmpdir(), 'recover-'));
    try {
      // 2 s of stereo PCM16 8 kHz, every sample 1000.
      const body = Buffer.alloc(2 * 8000 * 4);
      for (let i = 0; i < body.length; i += 2) body.writeInt16LE(1000, i);
      writeFileSync(path.join(dir, 'r.wav'), Buffer.concat([Buffer.alloc(44), body]));
      const events = [{ data: { speaker: 'caller', kinds: ['card'], startMs: 800, endMs: 1000 } }, { data: null }];
      const hook = new CallPrivacy({
        policy: buildPrivacyPolicy(undefined),
        recordingsDir: dir,
        logger,
        storedSpans: async () => spansFromEvents(events),
      });
      const rec = {
        callId: 'crashed',
        path: 'r.wav',
        container: 'wav',
        codec: 'pcm_s16le',
        sampleRateHz: 8000,
        channels: 2,
        durationMs: 2000,
        sizeBytes: body.length + 44,
      };
      await hook.recording(rec);
      const out = readFileSync(path.join(dir, 'r.wav')).subarray(44);
      const sample = (ms: number, ch: 0 | 1) => out.readInt16LE(Math.round(ms * 8) * 4 + ch * 2);
      // 800-1000 ms plus 300 ms either side: 500-1300 ms of the left channel.
      expect([sample(520, 0), sample(900, 0), sample(1290, 0)]).toEqual([0, 0, 0]);
      expect([sample(480, 0), sample(1320, 0), sample(900, 1)]).toEqual([1000, 1000, 1000]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
