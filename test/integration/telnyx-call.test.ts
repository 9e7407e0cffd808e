/**
 * Whole Telnyx calls over real sockets: the Telnyx call simulator (signed TeXML webhook, media
 * streaming at real pace, marks after playback) -> the app -> the local Realtime server, with real
 * audio, a temporary SQLite database and the WAV file read back.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { eventually } from '../../scripts/lib/bridge-harness';
import { startTelnyxHarness, type TelnyxHarness } from '../../scripts/lib/telnyx-harness';
import { activeMs, readStereoWav } from '../helpers/wav-read';

const CALLER_LINES = ['I would like to check the status of my order please', 'Thank you, that is great. Goodbye.'];
const AGENT_LINES = [
  'Hello, thanks for calling Switchboard. How can I help you today?',
  'Your order shipped yesterday and arrives tomorrow.',
  'You are welcome. Goodbye!',
];

describe('a whole Telnyx call', () => {
  let h: TelnyxHarness;

  beforeAll(async () => {
    h = await startTelnyxHarness({ replies: AGENT_LINES, callerTranscripts: CALLER_LINES });
  });
  afterAll(() => h.close());

  it('stores transcripts of both sides, a stereo recording as long as the call, analytics, and provider telnyx', async () => {
    const handle = h.telnyxCall({
      script: [
        { untilAgentSilentMs: 600 },
        { say: CALLER_LINES[0] },
        { untilAgentSilentMs: 600 },
        { say: CALLER_LINES[1] },
        { untilAgentSilentMs: 600 },
        { silenceMs: 200 },
      ],
    });
    const summary = await handle.done;
    expect(summary.errors).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(summary.codec).toBe('PCMU');
    expect(summary.texml).toContain('bidirectionalMode="rtp"');
    expect(summary.closedBy).toBe('caller');
    expect(summary.clears).toBe(0);
    expect(summary.marksEchoed).toBeGreaterThan(0);
    expect(summary.firstAgentAudioMs).not.toBeNull();
    expect(summary.statusCallbacks).toEqual([{ status: 'completed', httpStatus: 200 }]);

    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callControlId },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, recordings: true, analytics: true },
      });
      return c?.analytics && c.recordings.length ? c : null;
    });
    expect(call).toMatchObject({ status: 'completed', direction: 'inbound', streamSid: summary.streamId });
    expect(call.endReason).toBe('caller-hangup');
    expect(call.provider).toBe('telnyx');
    const detail = (await (await fetch(`${h.t.baseUrl}/api/calls/${call.id}`)).json()) as { provider?: string };
    expect(detail.provider).toBe('telnyx');
    expect(call.transcripts.filter((t) => t.speaker === 'caller').map((t) => t.text)).toEqual(CALLER_LINES);
    expect(call.transcripts.filter((t) => t.speaker === 'agent').map((t) => t.text)).toEqual(AGENT_LINES);
    expect(call.transcripts.map((t) => t.speaker)).toEqual(['agent', 'caller', 'agent', 'caller', 'agent']);

    const rec = call.recordings[0];
    expect(rec).toMatchObject({ container: 'wav', sampleRateHz: 8000, channels: 2 });
    const file = path.join(h.t.sb.recordingsDir, rec.path);
    expect(existsSync(file)).toBe(true);
    const wav = readStereoWav(file);
    // The recording lasts what the caller streamed (its media clock), to the sample.
    expect(wav.durationMs).toBeCloseTo(summary.mediaMs, 0);
    expect(activeMs(wav.left, 8000)).toBeGreaterThan(1000);
    expect(activeMs(wav.right, 8000)).toBeGreaterThan(2000);

    const a = call.analytics!;
    expect(a.turns).toBe(5);
    expect(a.interruptions).toBe(0);
    expect(a.latenciesMs).toHaveLength(2);
    expect(a.sentimentLabel).toBe('positive');
    const session = h.ai.sessions[h.ai.sessions.length - 1];
    expect(JSON.stringify(session.sessionUpdates[0])).toContain('audio/pcmu');
    expect(session.appends).toBeGreaterThan(summary.framesSent * 0.9);
  });
});
