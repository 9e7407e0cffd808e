/** WebRTC settings (WEBRTC_ICE_SERVERS, WEBRTC_MAX_CALLS) and the built-in echo profile of the softphone's echo test. */
import { loadConfig, ConfigError, testConfig } from '../../src/config';
import { BUILT_IN_SKILLS } from '../../src/agent/skills';
import { loadAgentSettings } from '../../src/agent/profiles';

describe('WebRTC configuration', () => {
  it('defaults to host candidates only and 50 calls', () => {
    const c = loadConfig({});
    expect(c.webrtc).toEqual({ iceServers: [], maxCalls: 50 });
  });

  it('takes STUN/TURN URLs and a cap', () => {
    const c = loadConfig({
      WEBRTC_ICE_SERVERS: 'stun:stun.example.com:3478, turns:turn.example.com:443',
      WEBRTC_MAX_CALLS: '7',
    });
    expect(c.webrtc).toEqual({ iceServers: ['stun:stun.example.com:3478', 'turns:turn.example.com:443'], maxCalls: 7 });
  });

  it('names a bad ICE server or cap', () => {
    for (const [env, name] of [
      [{ WEBRTC_ICE_SERVERS: 'http://stun.example.com' }, 'WEBRTC_ICE_SERVERS'],
      [{ WEBRTC_ICE_SERVERS: 'stun:a b' }, 'WEBRTC_ICE_SERVERS'],
      [{ WEBRTC_MAX_CALLS: '0' }, 'WEBRTC_MAX_CALLS'],
      [{ WEBRTC_MAX_CALLS: 'lots' }, 'WEBRTC_MAX_CALLS'],
    ] as const) {
      let error: unknown;
      try {
        loadConfig(env);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain(name);
    }
  });
});

describe('built-in echo profile', () => {
  it('plays the caller back, with no tools and no greeting', () => {
    const settings = loadAgentSettings(testConfig(), BUILT_IN_SKILLS);
    expect(settings.profiles.get('echo')).toMatchObject({
      name: 'echo',
      engine: 'echo',
      tools: [],
      greetsFirst: false,
    });
    expect(settings.defaultProfile).toBe('default');
  });

  it('gives way to an echo profile of the profiles file', () => {
    const file = { profiles: { echo: { instructions: 'Mine.' } } };
    const settings = loadAgentSettings(testConfig(), BUILT_IN_SKILLS, JSON.stringify(file));
    expect(settings.profiles.get('echo')).toMatchObject({ engine: 'realtime', instructions: 'Mine.' });
  });
});

describe('a profile language hint', () => {
  it('is read from the profiles file and checked', () => {
    const file = { profiles: { spanish: { languageHint: 'es' } } };
    const settings = loadAgentSettings(testConfig(), BUILT_IN_SKILLS, JSON.stringify(file));
    expect(settings.profiles.get('spanish')?.languageHint).toBe('es');
    expect(settings.profiles.get('default')?.languageHint).toBeUndefined();
    const bad = { profiles: { spanish: { languageHint: 'Spanish please' } } };
    expect(() => loadAgentSettings(testConfig(), BUILT_IN_SKILLS, JSON.stringify(bad))).toThrow(/languageHint/);
  });
});
