import { buildPrivacyPolicy, PrivacyPolicyError } from '../../src/privacy/policy';
import { CallConsent, HIDDEN_KEY_TEXT, withAnnouncement } from '../../src/privacy/consent';
import { maskNumber } from '../../src/privacy/audit';

describe('privacy policy', () => {
  it('defaults to redacting everything, recording per RECORDING_ENABLED, keeping forever', () => {
    const p = buildPrivacyPolicy(undefined, { recordingEnabled: false });
    expect(p.defaults.redact.size).toBe(7);
    expect(p.defaults.recording).toBe(false);
    expect(p.defaults.retention).toEqual({});
    expect(p.forProfile('anything')).toBe(p.defaults);
  });

  it('lets a profile override the default, which overrides the built-in policy', () => {
    const p = buildPrivacyPolicy({
      default: { redact: ['card'], retention: { recordingsDays: 30 } },
      profiles: { b: { redact: 'none', retention: { callsDays: 365, recordingsDays: null } } },
    });
    expect([...p.defaults.redact]).toEqual(['card']);
    expect(p.forProfile('b').redact.size).toBe(0);
    expect(p.forProfile('b').retention).toEqual({ callsDays: 365 });
    expect(p.forProfile(null).retention).toEqual({ recordingsDays: 30 });
  });

  it('names every problem at once', () => {
    let err: unknown;
    try {
      buildPrivacyPolicy({ default: { recording: 'yes', retention: { x: 1 } }, profiles: [] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PrivacyPolicyError);
    expect((err as PrivacyPolicyError).problems).toHaveLength(3);
  });
});

describe('consent', () => {
  const policy = buildPrivacyPolicy({
    profiles: { o: { optOut: { digit: '9', phrases: ['Stop Recording'] } }, s: { sensitiveDtmf: true } },
  });

  it('opts out once, by key or phrase, and stops the recording', () => {
    const events: string[] = [];
    const c = new CallConsent(policy.forProfile('o'), (type) => events.push(type));
    let stopped = 0;
    c.onStopRecording(() => stopped++);
    expect(c.dtmf('5')).toBeUndefined();
    c.heard('please STOP RECORDING now');
    expect(c.dtmf('9')?.event.data).toEqual({ digit: '9', optOut: true });
    expect(stopped).toBe(1);
    expect(events).toEqual(['consent.opt-out']);
    expect(c.keepTranscript).toBe(true);
  });

  it('hides sensitive digits', () => {
    const c = new CallConsent(policy.forProfile('s'), () => undefined);
    expect(c.dtmf('7')).toEqual({ event: { type: 'dtmf', data: { sensitive: true } }, tellAgent: HIDDEN_KEY_TEXT });
  });

  it('puts the announcement first in the greeting', () => {
    const p = buildPrivacyPolicy({ default: { announcement: 'This call is recorded.' } });
    const out = withAnnouncement({ greeting: 'Hi!', greetsFirst: false }, p.defaults);
    expect(out.greetsFirst).toBe(true);
    expect(out.greeting).toContain('"This call is recorded."');
    expect(maskNumber('+15557771234')).toBe('+*********34');
  });
});
