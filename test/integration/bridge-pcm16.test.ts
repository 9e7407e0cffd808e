/**
 * A whole call with the engine in PCM16 24 kHz mode (OPENAI_AUDIO_FORMAT=pcm16): the Twilio caller
 * speaks G.711 mu-law 8 kHz, the Realtime endpoint hears and speaks PCM16 at 24 kHz, and the audio
 * seam resamples both ways. Pure tones prove the rates: a 600 Hz caller tone must reach the AI at
 * 600 Hz (24 kHz samples), and a 500 Hz tone the AI sends must reach the caller and the recording
 * at 500 Hz (8 kHz). A wrong rate anywhere shifts the pitch by 3x.
 */
import path from 'node:path';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { encodeMulaw } from '../../src/audio/g711';
import { readStereoWav } from '../helpers/wav-read';

const CALLER_TONE_HZ = 600;
const AGENT_TONE_HZ = 500;
const AGENT_LINES = ['Hello, thanks for calling.', 'I heard your tone.'];

function mulawTone(hz: number, ms: number): Buffer {
  const n = (8000 * ms) / 1000;
  const pcm = new Int16Array(n);
  for (let i = 0; i < n; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / 8000));
  return Buffer.from(encodeMulaw(pcm));
}

/** Frequency of the loudest stretch of a signal, from its zero crossings over `windowSamples`. */
/**
 * The tone's frequency from zero crossings, over the 20 ms blocks of the window that carry it: a
 * playback gap (the recording shows the caller's underruns when the process stalls) is not counted
 * as time.
 */
function toneHz(samples: Int16Array, sampleRateHz: number, windowSamples: number): number {
  let start = 0;
  while (start < samples.length && Math.abs(samples[start]) < 2000) start++;
  start += Math.round(sampleRateHz * 0.05); // past the onset
  const end = Math.min(samples.length, start + windowSamples);
  const block = Math.round(sampleRateHz * 0.02);
  let crossings = 0;
  let loudSamples = 0;
  for (let b = start; b + block <= end; b += block) {
    let peak = 0;
    for (let i = b; i < b + block; i++) peak = Math.max(peak, Math.abs(samples[i]));
    if (peak < 2000) continue;
    loudSamples += block;
    for (let i = b + 1; i < b + block; i++) if (samples[i - 1] < 0 !== samples[i] < 0) crossings++;
  }
  return crossings / 2 / (loudSamples / sampleRateHz);
}

function leSamples(bytes: Buffer): Int16Array {
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(i * 2);
  return out;
}

describe('a call with the engine in PCM16 24 kHz mode', () => {
  let h: BridgeHarness;
  const aiInput: Buffer[] = [];

  beforeAll(async () => {
    h = await startBridgeHarness(
      {
        replies: AGENT_LINES,
        callerTranscripts: ['(a tone)'],
        audioTap: {
          input: (audio) => aiInput.push(Buffer.from(audio)),
          // Every agent response is a 500 Hz tone at 24 kHz, phase-continuous across deltas.
          output: (audio, offset) => {
            const out = Buffer.alloc(audio.length);
            for (let i = 0; i + 1 < audio.length; i += 2) {
              const n = (offset + i) / 2;
              out.writeInt16LE(Math.round(9000 * Math.sin((2 * Math.PI * AGENT_TONE_HZ * n) / 24000)), i);
            }
            return out;
          },
        },
      },
      { OPENAI_AUDIO_FORMAT: 'pcm16' },
    );
  });
  afterAll(() => h.close());

  it('resamples both ways, records and transcribes the call', async () => {
    const handle = h.call({
      script: [
        { untilAgentSilentMs: 600 },
        { audio: mulawTone(CALLER_TONE_HZ, 1200) },
        { silenceMs: 300 },
        { untilAgentSilentMs: 600 },
        { silenceMs: 200 },
      ],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);

    // The endpoint was asked for PCM16 24 kHz both ways, and got it.
    const session = h.ai.sessions.at(-1)!;
    expect(session.inputFormat).toBe('pcm16');
    expect(session.outputFormat).toBe('pcm16');
    const update = session.sessionUpdates[0] as { audio: { input: { format: unknown }; output: { format: unknown } } };
    expect(update.audio.input.format).toEqual({ type: 'audio/pcm', rate: 24000 });
    expect(update.audio.output.format).toEqual({ type: 'audio/pcm', rate: 24000 });

    // Uplink: every caller frame reached the AI as 20 ms of 24 kHz PCM16, at the caller's pitch.
    const input = Buffer.concat(aiInput);
    const callerMs = summary.framesSent * 20;
    expect(Math.abs(input.length / 48 - callerMs)).toBeLessThan(callerMs * 0.05 + 40);
    expect(toneHz(leSamples(input), 24000, 12000)).toBeGreaterThan(CALLER_TONE_HZ * 0.97);
    expect(toneHz(leSamples(input), 24000, 12000)).toBeLessThan(CALLER_TONE_HZ * 1.03);

    // Downlink: the caller heard the agent's responses (mu-law 8 kHz, as much as the AI sent).
    const aiSentMs = session.responses.reduce((ms, r) => ms + r.audioMsSent, 0);
    expect(summary.agentAudioMs).toBeGreaterThan(1000);
    expect(Math.abs(summary.agentAudioReceivedMs - aiSentMs)).toBeLessThan(60);

    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, recordings: true, analytics: true },
      });
      return c?.analytics && c.recordings.length ? c : null;
    });
    expect(call.transcripts.map((t) => [t.speaker, t.text])).toEqual([
      ['agent', AGENT_LINES[0]],
      ['caller', '(a tone)'],
      ['agent', AGENT_LINES[1]],
    ]);

    // The recording: caller left at 600 Hz, agent right at 500 Hz, as long as the call.
    const wav = readStereoWav(path.join(h.t.sb.recordingsDir, call.recordings[0].path));
    // The recording lasts what the caller streamed (its media clock), to the sample.
    expect(wav.durationMs).toBeCloseTo(summary.mediaMs, 0);
    const agentHz = toneHz(wav.right, 8000, 4000);
    expect(agentHz).toBeGreaterThan(AGENT_TONE_HZ * 0.97);
    expect(agentHz).toBeLessThan(AGENT_TONE_HZ * 1.03);
    const callerHz = toneHz(wav.left, 8000, 4000);
    expect(callerHz).toBeGreaterThan(CALLER_TONE_HZ * 0.97);
    expect(callerHz).toBeLessThan(CALLER_TONE_HZ * 1.03);
  });
});
