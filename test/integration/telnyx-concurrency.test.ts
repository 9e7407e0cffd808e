/**
 * Ten simultaneous Telnyx calls in A-law through one server stay apart: their own stream, AI
 * session, keypad digit, transcripts, recording and provider call id.
 */
import path from 'node:path';
import { eventually } from '../../scripts/lib/bridge-harness';
import { startTelnyxHarness, type TelnyxHarness } from '../../scripts/lib/telnyx-harness';
import { readStereoWav } from '../helpers/wav-read';

const CALLS = 10;

describe('concurrent Telnyx calls', () => {
  let h: TelnyxHarness;
  beforeAll(async () => {
    h = await startTelnyxHarness(
      { replies: ['Hello, you are through to Switchboard.', 'Noted.'], ttsEngine: 'tone' },
      { TELNYX_STREAM_CODEC: 'PCMA' },
    );
  });
  afterAll(() => h.close());

  it('keeps 10 simultaneous A-law calls apart, keypad digits included', async () => {
    const handles = Array.from({ length: CALLS }, (_, i) =>
      h.telnyxCall({
        callControlId: `v3:conc${String(i).padStart(4, '0')}`,
        from: `+1555200${String(1000 + i)}`,
        ttsEngine: 'tone',
        script: [
          { untilAgentSilentMs: 400 },
          { dtmf: String(i) },
          { say: 'x'.repeat(10 + i * 3) },
          { untilAgentSilentMs: 500 },
          { silenceMs: 200 },
        ],
      }),
    );
    const summaries = await Promise.all(handles.map((c) => c.done));
    for (const s of summaries) {
      expect(s.errors).toEqual([]);
      expect(s.ok).toBe(true);
      expect(s.codec).toBe('PCMA');
      expect(s.closedBy).toBe('caller');
    }
    expect(new Set(summaries.map((s) => s.streamId)).size).toBe(CALLS);

    const calls = await eventually(async () => {
      const rows = await h.t.sb.db.call.findMany({
        include: { transcripts: true, recordings: true, events: true, analytics: true },
        orderBy: { callSid: 'asc' },
      });
      return rows.length === CALLS && rows.every((c) => c.analytics && c.recordings.length === 1) ? rows : null;
    }, 20000);
    expect(h.ai.sessions.length).toBe(CALLS);
    for (let i = 0; i < CALLS; i++) {
      const call = calls[i];
      expect(call.callSid).toBe(summaries[i].callControlId);
      expect(call.from).toBe(`+1555200${String(1000 + i)}`);
      expect(call.status).toBe('completed');
      expect(call.events.filter((e) => e.type === 'dtmf').map((e) => (e.data as { digit: string }).digit)).toEqual([
        String(i),
      ]);
      expect(call.transcripts.filter((t) => t.speaker === 'agent').map((t) => t.text)).toEqual([
        'Hello, you are through to Switchboard.',
        'Noted.',
      ]);
      const wav = readStereoWav(path.join(h.t.sb.recordingsDir, call.recordings[0].path));
      expect(wav.durationMs).toBeCloseTo(summaries[i].mediaMs, 0);
    }
  });
});
