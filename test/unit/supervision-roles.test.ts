import { loadConfig } from '../../src/config';
import { entryOf, fingerprint, parseTokenEntry } from '../../src/supervision/roles';

describe('API token roles (API_TOKENS entries)', () => {
  it('reads a bare token as full access, as every earlier release did', () => {
    expect(parseTokenEntry('legacy-token-0123456789')).toEqual({
      token: 'legacy-token-0123456789',
      role: 'admin',
      name: fingerprint('admin', 'legacy-token-0123456789'),
    });
    // A bare token that merely contains a colon is still a bare token.
    expect(parseTokenEntry('abc:legacy-token-0123456789').role).toBe('admin');
    expect(parseTokenEntry('abc:legacy-token-0123456789').token).toBe('abc:legacy-token-0123456789');
  });

  it('reads role:token and role:name:token', () => {
    expect(parseTokenEntry('read-only:viewer-token-0123456789')).toMatchObject({
      token: 'viewer-token-0123456789',
      role: 'read-only',
    });
    expect(parseTokenEntry('supervisor:alice:alice-token-0123456789')).toEqual({
      token: 'alice-token-0123456789',
      role: 'supervisor',
      name: 'alice',
    });
    expect(parseTokenEntry('admin:ops.team-1:admin-token-0123456789')).toMatchObject({
      role: 'admin',
      name: 'ops.team-1',
    });
  });

  it('never shows the token in a fingerprint name', () => {
    const name = fingerprint('supervisor', 'secret-token-0123456789');
    expect(name).toMatch(/^supervisor-[0-9a-f]{8}$/);
    expect(name).not.toContain('secret');
  });

  it.each([
    ['short', /at least 16/],
    ['supervisor:short', /at least 16 characters \(in a supervisor entry\)/],
    ['supervisor:bad name!:alice-token-0123456789', /name must be/],
    ['read-only::viewer-token-0123456789', /name must be/],
  ])('refuses %s', (entry, message) => {
    expect(() => parseTokenEntry(entry)).toThrow(message);
  });

  it('finds the entry of a token (and none of a wrong one)', () => {
    const entries = ['supervisor:alice:alice-token-0123456789', 'viewer-token-0123456789'].map(parseTokenEntry);
    expect(entryOf('alice-token-0123456789', entries)?.name).toBe('alice');
    expect(entryOf('viewer-token-0123456789', entries)?.role).toBe('admin');
    expect(entryOf('supervisor:alice:alice-token-0123456789', entries)).toBeUndefined();
    expect(entryOf('nobody-0123456789abcdef', entries)).toBeUndefined();
  });

  it('config keeps the bare tokens in apiTokens and the roles beside them; a bad entry stops the start', () => {
    const config = loadConfig({
      API_TOKENS: 'legacy-token-0123456789, read-only:viewer:viewer-token-0123456789',
    });
    expect(config.apiTokens).toEqual(['legacy-token-0123456789', 'viewer-token-0123456789']);
    expect(config.apiTokenEntries.map((e) => [e.role, e.name])).toEqual([
      ['admin', fingerprint('admin', 'legacy-token-0123456789')],
      ['read-only', 'viewer'],
    ]);
    expect(() => loadConfig({ API_TOKENS: 'supervisor:tiny' })).toThrow(/API_TOKENS.*at least 16/s);
  });
});
