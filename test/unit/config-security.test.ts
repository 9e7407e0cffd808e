/**
 * securityWarnings(config): what main.ts logs at every start about an insecure configuration
 * (issue 10.3): loud lines for switched-off signature checks and unencrypted upstreams in any
 * environment, and outside production one line naming every protection that is off.
 */
import { loadConfig, securityWarnings } from '../../src/config';

const SECURE = {
  API_TOKENS: 'prod-api-token-0123456789',
  PUBLIC_URL: 'https://calls.example.com',
  TWILIO_AUTH_TOKEN: '0123456789abcdef0123456789abcdef',
  OPENAI_API_KEY: 'sk-test-key',
};

describe('securityWarnings', () => {
  it('says in one line which protections are off in a default development start', () => {
    const warnings = securityWarnings(loadConfig({}));
    expect(warnings).toEqual([
      'protections off: API open (no API_TOKENS), Twilio signatures not checked (no TWILIO_AUTH_TOKEN), ' +
        'local AI server (no OPENAI_API_KEY), no TLS on PUBLIC_URL (http://localhost:3000)',
    ]);
  });

  it('names only the protections that are off', () => {
    const warnings = securityWarnings(loadConfig({ ...SECURE, API_TOKENS: '' }));
    expect(warnings).toEqual(['protections off: API open (no API_TOKENS)']);
  });

  it('has nothing to say when every protection is on, in development or production', () => {
    expect(securityWarnings(loadConfig(SECURE))).toEqual([]);
    expect(securityWarnings(loadConfig({ ...SECURE, NODE_ENV: 'production' }))).toEqual([]);
  });

  it('warns loudly about TWILIO_SIGNATURE_VALIDATION=false in every environment', () => {
    for (const NODE_ENV of ['production', 'development', 'test']) {
      const warnings = securityWarnings(
        loadConfig({ ...SECURE, NODE_ENV, TWILIO_AUTH_TOKEN: '', TWILIO_SIGNATURE_VALIDATION: 'false' }),
      );
      expect(warnings).toEqual([
        expect.stringMatching(/^SECURITY: TWILIO_SIGNATURE_VALIDATION=false: .*without a signature check/),
      ]);
    }
  });

  it('warns about unencrypted ws:// and http:// upstreams in every environment', () => {
    const warnings = securityWarnings(
      loadConfig({
        ...SECURE,
        NODE_ENV: 'production',
        OPENAI_REALTIME_URL: 'ws://realtime.internal:9000/v1/realtime',
        TWILIO_API_BASE_URL: 'http://twilio-proxy.internal',
      }),
    );
    expect(warnings).toEqual([
      expect.stringMatching(/^SECURITY: OPENAI_REALTIME_URL is unencrypted ws:\/\/ \(realtime\.internal:9000\)/),
      expect.stringMatching(/^SECURITY: TWILIO_API_BASE_URL is unencrypted http:\/\/ \(twilio-proxy\.internal\)/),
    ]);
    // Encrypted upstreams say nothing.
    expect(
      securityWarnings(
        loadConfig({
          ...SECURE,
          OPENAI_REALTIME_URL: 'wss://realtime.internal/v1/realtime',
          TWILIO_API_BASE_URL: 'https://twilio-proxy.internal',
        }),
      ),
    ).toEqual([]);
  });

  it('warns when the local AI answers in production (allowed by ALLOW_LOCAL_AI_IN_PRODUCTION) and when LOG_PII is on', () => {
    const warnings = securityWarnings(
      loadConfig({
        ...SECURE,
        NODE_ENV: 'production',
        OPENAI_API_KEY: '',
        ALLOW_LOCAL_AI_IN_PRODUCTION: 'true',
        LOG_PII: 'true',
      }),
    );
    expect(warnings).toEqual([
      expect.stringMatching(/^SECURITY: LOG_PII=true/),
      expect.stringMatching(/^SECURITY: ALLOW_LOCAL_AI_IN_PRODUCTION=true/),
    ]);
  });
});
