/**
 * Consent and keypad privacy on whole calls: a profile that does not record, a caller who opts out
 * by keypad or by saying so (the recording stops and its file is deleted; the transcript stops when
 * the profile says so), and "sensitive entry" where keypad digits reach neither the database nor the
 * agent.
 */
import path from 'node:path';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import type { CallSummary } from '../../src/simulators/twilio-caller';
import { HIDDEN_KEY_TEXT } from '../../src/privacy/consent';

const NUMBERS = { norec: '+15550000001', optout: '+15550000002', secure: '+15550000003' };

describe('recording consent and keypad privacy', () => {
  let h: BridgeHarness;
  let tmp: string;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'switchboard-consent-'));
    const profiles = path.join(tmp, 'profiles.json');
    const policy = path.join(tmp, 'policy.json');
    writeFileSync(
      profiles,
      JSON.stringify({
        profiles: Object.fromEntries(Object.entries(NUMBERS).map(([name, n]) => [name, { numbers: [n] }])),
      }),
    );
    writeFileSync(
      policy,
      JSON.stringify({
        profiles: {
          norec: { recording: false },
          optout: {
            announcement: 'This call may be recorded.',
            optOut: { digit: '9', phrases: ['do not record'], keepTranscript: false },
          },
          secure: { sensitiveDtmf: true },
        },
      }),
    );
    h = await startBridgeHarness(
      {
        ttsEngine: 'tone',
        replies: ['Hello.', 'Sure.', 'Fine.'],
        callerTranscripts: ['please do not record this call', 'my order is late'],
      },
      { AGENT_PROFILES_FILE: profiles, PRIVACY_POLICY_FILE: policy },
    );
  });
  afterAll(async () => {
    await h.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function ended(summary: CallSummary) {
    return eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { events: { orderBy: { id: 'asc' } }, transcripts: true, recordings: true },
      });
      return c?.endedAt ? c : null;
    }, 20_000);
  }
  const filesOf = (callId: string) =>
    readdirSync(h.t.sb.recordingsDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.includes(callId));

  it('never records a call of a profile with recording off', async () => {
    const summary = await h.call({ to: NUMBERS.norec, script: [{ silenceMs: 1500 }] }).done;
    const call = await ended(summary);
    expect(call.agent).toBe('norec');
    expect(call.recordings).toHaveLength(0);
    expect(filesOf(call.id)).toEqual([]);
    expect(call.events.some((e) => e.type === 'consent.recording-off')).toBe(true);
  });

  it('stops and deletes the recording when the caller presses the opt-out key', async () => {
    const summary = await h.call({
      to: NUMBERS.optout,
      script: [{ silenceMs: 800 }, { dtmf: '9' }, { silenceMs: 1500 }],
    }).done;
    expect(summary.dtmfSent).toBe(1);
    const call = await ended(summary);
    expect(call.agent).toBe('optout');
    await new Promise((r) => setTimeout(r, 300));
    expect(call.recordings).toHaveLength(0);
    expect(filesOf(call.id)).toEqual([]);
    const types = call.events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['consent.announcement', 'consent.opt-out', 'dtmf']));
    expect(call.events.find((e) => e.type === 'consent.opt-out')?.data).toEqual({ by: 'dtmf', keepTranscript: false });
  });

  it('stops recording and transcribing when the caller says the opt-out phrase', async () => {
    const summary = await h.call({
      to: NUMBERS.optout,
      script: [
        { untilAgentSilentMs: 400 },
        { say: 'please do not record this call' },
        { untilAgentSilentMs: 400 },
        { say: 'my order is late' },
        { untilAgentSilentMs: 400 },
      ],
    }).done;
    const call = await ended(summary);
    await new Promise((r) => setTimeout(r, 300));
    expect(call.recordings).toHaveLength(0);
    expect(filesOf(call.id)).toEqual([]);
    expect(call.events.find((e) => e.type === 'consent.opt-out')?.data).toEqual({
      by: 'speech',
      keepTranscript: false,
    });
    // keepTranscript false: nothing the caller said from the opt-out on is stored.
    expect(call.transcripts.filter((t) => t.speaker === 'caller')).toEqual([]);
  });

  it('keeps keypad digits of sensitive entry out of the database and away from the agent', async () => {
    const digits = ['4', '1', '1', '1', '#'];
    const summary = await h.call({
      to: NUMBERS.secure,
      script: [{ silenceMs: 400 }, ...digits.map((d) => ({ dtmf: d })), { silenceMs: 800 }],
    }).done;
    const call = await ended(summary);
    expect(call.agent).toBe('secure');
    const dtmf = call.events.filter((e) => e.type === 'dtmf');
    expect(dtmf.map((e) => e.data)).toEqual(digits.map(() => ({ sensitive: true })));
    expect(JSON.stringify(call.events)).not.toMatch(/"digit"/);
    const session = h.ai.sessions[h.ai.sessions.length - 1];
    const texts = session.contextItems
      .filter((i) => i.type === 'message')
      .map((i) => (i as { content: { text?: string }[] }).content[0].text);
    expect(texts).toEqual(digits.map(() => HIDDEN_KEY_TEXT));
    expect(call.recordings).toHaveLength(1);
  });
});
