import { LocalUsedTokens, StreamTokens } from '../../src/calls/stream-token';

describe('StreamTokens', () => {
  const tokens = new StreamTokens('a-server-secret-of-enough-length', 60_000);
  const now = 1_800_000_000_000;

  it('accepts its own token for the same call before it expires', () => {
    const token = tokens.issue('call-1', now);
    expect(tokens.check('call-1', token, now + 59_999)).toBe('ok');
  });

  it('refuses it for another call, after expiry, altered, missing, or from another secret', () => {
    const token = tokens.issue('call-1', now);
    expect(tokens.check('call-2', token, now)).toBe('forged');
    expect(tokens.check('call-1', token, now + 60_001)).toBe('expired');
    const [expires, mac] = token.split('.');
    expect(tokens.check('call-1', `${Number(expires) + 600_000}.${mac}`, now)).toBe('forged');
    expect(tokens.check('call-1', `${expires}.${mac.slice(0, -1)}A`, now)).not.toBe('ok');
    expect(tokens.check('call-1', undefined, now)).toBe('missing');
    expect(tokens.check('call-1', '', now)).toBe('missing');
    expect(tokens.check('call-1', 'garbage', now)).toBe('malformed');
    expect(tokens.check('call-1', `${expires}.${mac}.x`, now)).toBe('malformed');
    expect(new StreamTokens('another-secret').check('call-1', token, now)).toBe('forged');
    // Two processes without a configured secret do not accept each other's tokens.
    expect(new StreamTokens().check('call-1', new StreamTokens().issue('call-1', now), now)).toBe('forged');
  });
});

describe('StreamTokens.consume (single use)', () => {
  const now = 1_800_000_000_000;

  it('accepts a token once, then answers used; other calls and refused tokens are unaffected', async () => {
    const tokens = new StreamTokens('a-server-secret-of-enough-length', 60_000);
    const token = tokens.issue('call-1', now);
    expect(await tokens.consume('call-1', token, now + 1)).toBe('ok');
    expect(await tokens.consume('call-1', token, now + 2)).toBe('used');
    expect(tokens.check('call-1', token, now + 3)).toBe('ok');
    expect(await tokens.consume('call-2', token, now)).toBe('forged');
    expect(await tokens.consume('call-2', tokens.issue('call-2', now), now)).toBe('ok');
    expect(await tokens.consume('call-1', undefined, now)).toBe('missing');
    expect(await tokens.consume('call-1', token, now + 60_001)).toBe('expired');
  });

  it('two instances share a used-token store: a replay to the other one is refused', async () => {
    const used = new LocalUsedTokens();
    const a = new StreamTokens('shared-secret-of-enough-length!!', 60_000, used);
    const b = new StreamTokens('shared-secret-of-enough-length!!', 60_000, used);
    const token = a.issue('call-1', now);
    expect(await b.consume('call-1', token, now)).toBe('ok');
    expect(await a.consume('call-1', token, now)).toBe('used');
  });

  it('LocalUsedTokens forgets a token once it has expired (swept as time passes)', () => {
    let t = now;
    const used = new LocalUsedTokens(() => t);
    expect(used.markUsedNow('x', 1000)).toBe(true);
    expect(used.markUsedNow('x', 1000)).toBe(false);
    t += 20_000;
    expect(used.markUsedNow('y', 1000)).toBe(true);
    expect(used.size).toBe(1);
    expect(used.markUsedNow('x', 1000)).toBe(true);
  });
});
