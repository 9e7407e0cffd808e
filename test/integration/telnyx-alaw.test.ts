/**
 * A-law (PCMA) Telnyx calls: the TeXML asks for PCMA both ways, the conversation's audio seam
 * converts A-law <-> the engine's mu-law once, and both the relayed audio and the recording carry
 * the caller's and the agent's samples (compared decoded, sample by sample).
 */
import path from 'node:path';
import { ALAW_SILENCE, alawToMulaw, decodeAlaw, decodeMulaw, encodeMulaw, mulawToAlaw } from '../../src/audio/g711';
import { eventually } from '../../scripts/lib/bridge-harness';
import { startTelnyxHarness, type TelnyxHarness } from '../../scripts/lib/telnyx-harness';
import { readStereoWav } from '../helpers/wav-read';

/** One second of a 440 Hz tone with a slow 3 Hz swell: loud enough for the local VAD, easy to find. */
function toneMulaw(): Buffer {
  const samples = Int16Array.from({ length: 8000 }, (_, i) =>
    Math.round(9000 * (0.6 + 0.4 * Math.sin((2 * Math.PI * 3 * i) / 8000)) * Math.sin((2 * Math.PI * 440 * i) / 8000)),
  );
  return Buffer.from(encodeMulaw(samples));
}

describe('a Telnyx call in A-law', () => {
  let h: TelnyxHarness;
  const aiInput: Buffer[] = [];
  /** The engine's audio, one buffer per response. */
  const aiOutput: Buffer[] = [];

  beforeAll(async () => {
    h = await startTelnyxHarness(
      {
        replies: ['Hello, thanks for calling.', 'I heard your tone.'],
        audioTap: {
          input: (audio) => aiInput.push(Buffer.from(audio)),
          output: (audio, offset) => {
            if (offset === 0) aiOutput.push(Buffer.alloc(0));
            aiOutput[aiOutput.length - 1] = Buffer.concat([aiOutput[aiOutput.length - 1], audio]);
            return audio;
          },
        },
      },
      { TELNYX_STREAM_CODEC: 'PCMA' },
    );
  });
  afterAll(() => h.close());

  it('relays caller A-law to the engine and agent audio back as A-law, and records both sides', async () => {
    const tone = toneMulaw();
    const handle = h.telnyxCall({
      script: [{ untilAgentSilentMs: 600 }, { silenceMs: 400 }, { audio: tone }, { untilAgentSilentMs: 600 }],
    });
    const summary = await handle.done;
    expect(summary.errors).toEqual([]);
    expect(summary.codec).toBe('PCMA');
    expect(summary.texml).toContain('bidirectionalCodec="PCMA"');

    // Uplink: the caller sent mulawToAlaw(tone); the engine got exactly its mu-law transcoding.
    const sentAlaw = Buffer.from(mulawToAlaw(tone));
    const expectedAtEngine = Buffer.from(alawToMulaw(sentAlaw));
    const engineStream = Buffer.concat(aiInput);
    const at = engineStream.indexOf(expectedAtEngine);
    expect(at).toBeGreaterThanOrEqual(0);
    // Decoded, the engine's samples are the caller's A-law samples within one mu-law step.
    const callerSamples = decodeAlaw(sentAlaw);
    const engineSamples = decodeMulaw(engineStream.subarray(at, at + sentAlaw.length));
    let worst = 0;
    for (let i = 0; i < callerSamples.length; i++) {
      worst = Math.max(worst, Math.abs(callerSamples[i] - engineSamples[i]) / (Math.abs(callerSamples[i]) + 64));
    }
    expect(worst).toBeLessThan(0.07);

    // Downlink: what the caller heard is the A-law transcoding of what the engine said, byte for byte.
    const heard = handle.receivedAudio;
    expect(heard.length).toBeGreaterThan(8000);
    // Each response goes out in whole 20 ms frames: its last one is padded with A-law silence.
    const expectedHeard = Buffer.concat(
      aiOutput.map((r) => {
        const alaw = Buffer.from(mulawToAlaw(r));
        const padded = Buffer.alloc(Math.ceil(alaw.length / 160) * 160, ALAW_SILENCE);
        alaw.copy(padded);
        return padded;
      }),
    );
    const n = Math.min(heard.length, expectedHeard.length);
    expect(n).toBeGreaterThan(16000);
    expect(heard.subarray(0, n).equals(expectedHeard.subarray(0, n))).toBe(true);

    // The recording: the caller's tone on the left, at the time it was sent, matching its samples.
    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callControlId },
        include: { recordings: true, transcripts: true },
      });
      return c?.recordings.length && c.endedAt ? c : null;
    });
    expect(call.provider).toBe('telnyx');
    const wav = readStereoWav(path.join(h.t.sb.recordingsDir, call.recordings[0].path));
    const best = bestAlignment(wav.left, callerSamples);
    expect(best.correlation).toBeGreaterThan(0.99);
    // The agent's greeting is on the right: its samples are the decoded A-law the caller heard.
    const greeting = decodeAlaw(heard.subarray(0, 4000));
    const right = bestAlignment(wav.right, greeting);
    expect(right.correlation).toBeGreaterThan(0.999);
  });
});

/** Normalised correlation of `needle` with `haystack` at `offset`, over every `step`-th sample. */
function correlationAt(haystack: Int16Array, needle: Int16Array, offset: number, step: number): number {
  let dot = 0;
  let energy = 0;
  let norm = 0;
  for (let i = 0; i < needle.length; i += step) {
    dot += haystack[offset + i] * needle[i];
    energy += haystack[offset + i] * haystack[offset + i];
    norm += needle[i] * needle[i];
  }
  return energy > 0 && norm > 0 ? dot / Math.sqrt(energy * norm) : 0;
}

/** Where `needle` sits in `haystack`: a coarse search, then the exact correlation at the best offset. */
function bestAlignment(haystack: Int16Array, needle: Int16Array): { offset: number; correlation: number } {
  let best = { offset: -1, correlation: -1 };
  for (let offset = 0; offset + needle.length <= haystack.length; offset++) {
    const correlation = correlationAt(haystack, needle, offset, 4);
    if (correlation > best.correlation) best = { offset, correlation };
  }
  return { offset: best.offset, correlation: correlationAt(haystack, needle, best.offset, 1) };
}
