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
