/**
 * Ten simultaneous calls through one server stay apart: their own AI session, transcripts,
 * recording and timeline.
 */
import path from 'node:path';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { readStereoWav } from '../helpers/wav-read';

const CALLS = 10;

describe('concurrent calls', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ replies: ['Hello, you are through to Switchboard.', 'Noted.'], ttsEngine: 'tone' });
  });
  afterAll(() => h.close());

  it('keeps 10 simultaneous calls apart', async () => {
    const handles = Array.from({ length: CALLS }, (_, i) =>
      h.call({
        callSid: `CAconc${String(i).padStart(4, '0')}`,
        from: `+1555100${String(1000 + i)}`,
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
      expect(s.ok).toBe(true);
      expect(s.closedBy).toBe('caller');
    }
    expect(new Set(summaries.map((s) => s.streamSid)).size).toBe(CALLS);

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
      const summary = summaries[i];
      expect(call.callSid).toBe(summary.callSid);
      expect(call.from).toBe(`+1555100${String(1000 + i)}`);
      expect(call.status).toBe('completed');
      // Its own keypad digit, nobody else's.
      expect(call.events.filter((e) => e.type === 'dtmf').map((e) => (e.data as { digit: string }).digit)).toEqual([
        String(i),
      ]);
      expect(call.transcripts.filter((t) => t.speaker === 'agent').map((t) => t.text)).toEqual([
        'Hello, you are through to Switchboard.',
        'Noted.',
      ]);
      expect(call.transcripts.filter((t) => t.speaker === 'caller')).toHaveLength(1);
      const wav = readStereoWav(path.join(h.t.sb.recordingsDir, call.recordings[0].path));
      // The recording lasts what the caller streamed (its media clock), to the sample.
      expect(wav.durationMs).toBeCloseTo(summary.mediaMs, 0);
    }
    expect(new Set(calls.map((c) => c.recordings[0].path)).size).toBe(CALLS);
  });
});
