/**
 * Whole calls over real sockets: the Twilio call simulator -> the app -> the local Realtime server,
 * with real audio, a temporary SQLite database and the WAV file read back.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { activeMs, readStereoWav } from '../helpers/wav-read';

const CALLER_LINES = ['I would like to check the status of my order please', 'Thank you, that is great. Goodbye.'];
const AGENT_LINES = [
  'Hello, thanks for calling Switchboard. How can I help you today?',
  'Your order shipped yesterday and arrives tomorrow.',
  'You are welcome. Goodbye!',
];

describe('a full call through the bridge', () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness({ replies: AGENT_LINES, callerTranscripts: CALLER_LINES });
  });
  afterAll(() => h.close());

  it('stores transcripts of both sides, a stereo recording as long as the call, and analytics with latencies', async () => {
    const handle = h.call({
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
    expect(summary.ok).toBe(true);
    expect(summary.closedBy).toBe('caller');
    expect(summary.clears).toBe(0);
    expect(summary.marksEchoed).toBeGreaterThan(0);
    expect(summary.firstAgentAudioMs).not.toBeNull();

    const db = h.t.sb.db;
    const call = await eventually(async () => {
      const c = await db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, recordings: true, analytics: true, events: true },
      });
      return c?.analytics && c.recordings.length ? c : null;
    });
    expect(call).toMatchObject({
      status: 'completed',
      endReason: 'caller-hangup',
      direction: 'inbound',
      streamSid: summary.streamSid,
    });
    expect(call.answeredAt).not.toBeNull();

    const callerTexts = call.transcripts.filter((t) => t.speaker === 'caller').map((t) => t.text);
    const agentTexts = call.transcripts.filter((t) => t.speaker === 'agent').map((t) => t.text);
    expect(callerTexts).toEqual(CALLER_LINES);
    expect(agentTexts).toEqual(AGENT_LINES);
    for (const t of call.transcripts) {
      expect(t.interrupted).toBe(false);
      expect(t.endMs).not.toBeNull();
      expect(t.endMs!).toBeGreaterThan(t.startMs);
      expect(t.endMs!).toBeLessThanOrEqual(summary.durationMs + 100);
    }
    // Turns alternate in time: agent greeting, caller, agent, caller, agent.
    expect(call.transcripts.map((t) => t.speaker)).toEqual(['agent', 'caller', 'agent', 'caller', 'agent']);

    const rec = call.recordings[0];
    expect(rec).toMatchObject({ container: 'wav', codec: 'pcm_s16le', sampleRateHz: 8000, channels: 2 });
    const file = path.join(h.t.sb.recordingsDir, rec.path);
    expect(existsSync(file)).toBe(true);
    const wav = readStereoWav(file);
    expect(wav.channels).toBe(2);
    expect(wav.sampleRateHz).toBe(8000);
    // The recording lasts what the caller streamed (its media clock), to the sample.
    expect(wav.durationMs).toBeCloseTo(summary.mediaMs, 0);
    expect(Math.abs(rec.durationMs - wav.durationMs)).toBeLessThan(5);
    // The caller's speech is on the left, the agent's on the right, at the times of the transcripts.
    const callerActive = activeMs(wav.left, 8000);
    const agentActive = activeMs(wav.right, 8000);
    expect(callerActive).toBeGreaterThan(1000);
    expect(agentActive).toBeGreaterThan(Math.min(summary.agentAudioMs * 0.5, 3000));
    const greeting = call.transcripts[0];
    expect(activeMs(wav.right.subarray(greeting.startMs * 8, greeting.endMs! * 8), 8000)).toBeGreaterThan(500);
    expect(activeMs(wav.left.subarray(greeting.startMs * 8, greeting.endMs! * 8), 8000)).toBeLessThan(100);

    const a = call.analytics!;
    expect(a.interruptions).toBe(0);
    expect(a.turns).toBe(5);
    expect(a.callerTalkMs).toBeGreaterThan(1000);
    expect(a.agentTalkMs).toBeGreaterThan(2000);
    expect(a.silenceMs).toBeGreaterThanOrEqual(0);
    expect(a.latenciesMs).toHaveLength(2);
    expect(a.latencyP50Ms).not.toBeNull();
    expect(a.latencyMaxMs!).toBeGreaterThanOrEqual(a.latencyP95Ms!);
    expect(a.latencyP95Ms!).toBeGreaterThanOrEqual(a.latencyP50Ms!);
    expect(a.outputAudioTokens).toBeGreaterThan(0);
    expect(a.estimatedCostUsd).toBeGreaterThan(0);
    expect(a.sentimentLabel).toBe('positive');

    // The AI session was configured for G.711 passthrough and got every caller frame.
    const session = h.ai.sessions[h.ai.sessions.length - 1];
    expect(JSON.stringify(session.sessionUpdates[0])).toContain('audio/pcmu');
    expect(session.appends).toBeGreaterThan(summary.framesSent * 0.9);

    // Prometheus metrics saw the call.
    const metrics = await (await fetch(`${h.t.baseUrl}/metrics`)).text();
    const value = (line: string): number =>
      Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(value('switchboard_active_calls')).toBe(0);
    expect(value('switchboard_calls_ended_total{reason="caller-hangup"}')).toBe(1);
    expect(value('switchboard_frames_in_total')).toBe(session.appends);
    expect(value('switchboard_frames_out_total')).toBeGreaterThan(0);
    expect(value('switchboard_bridge_latency_ms_count{direction="uplink"}')).toBe(session.appends);
    expect(value('switchboard_bridge_latency_ms_count{direction="downlink"}')).toBeGreaterThan(0);
  });
});
