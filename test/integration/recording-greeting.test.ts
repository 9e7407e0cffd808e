/**
 * Every byte of agent audio sent to the caller is in the recording, from the first one: the agent's
 * greeting (generated while Twilio connects, flushed the moment the stream starts) used to be lost
 * from the WAV in about one call in four, while the recorder's file was still opening.
 */
import path from 'node:path';
import { decodeMulaw } from '../../src/audio/g711';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { readStereoWav } from '../helpers/wav-read';

const CALLS = 16;
const GREETING = 'Hello, thanks for calling Switchboard. How can I help you today?';

function firstNonZero(samples: Int16Array): number {
  return samples.findIndex((s) => s !== 0);
}

describe('recordings keep the whole greeting', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ replies: [GREETING] });
    // One call first, so the greeting's speech is synthesized (and cached) before the measured calls:
    // then it is generated while each call's stream connects, whatever the machine's load, which is
    // the case this test is about (call set-up can now be quicker than a cold text-to-speech run).
    const warmUp = await h.call({ script: [{ silenceMs: 300 }], sendStatusCallbacks: false }).done;
    expect(warmUp.ok).toBe(true);
  });
  afterAll(() => h.close());

  it(`the agent channel's first second equals what the caller received, in each of ${CALLS} concurrent calls`, async () => {
    const handles = Array.from({ length: CALLS }, () =>
      h.call({ script: [{ silenceMs: 1600 }], sendStatusCallbacks: false }),
    );
    const summaries = await Promise.all(handles.map((c) => c.done));
    for (const s of summaries) expect(s.ok).toBe(true);

    for (const [i, handle] of handles.entries()) {
      const heard = decodeMulaw(new Uint8Array(handle.receivedAudio));
      expect(heard.length).toBeGreaterThanOrEqual(8000); // the caller heard at least a second of greeting
      const call = await eventually(async () => {
        const c = await h.t.sb.db.call.findFirst({
          where: { callSid: summaries[i].callSid },
          include: { recordings: true },
        });
        return c?.recordings.length ? c : null;
      });
      const wav = readStereoWav(path.join(h.t.sb.recordingsDir, call.recordings[0].path));
      const heardStart = firstNonZero(heard);
      const recordedStart = firstNonZero(wav.right);
      expect(heardStart).toBeGreaterThanOrEqual(0);
      // The greeting starts at the start of the stream in the recording, as it did for the caller.
      expect(recordedStart).toBeGreaterThanOrEqual(0);
      expect(recordedStart).toBeLessThan(8 * 200);
      const expected = Array.from(heard.subarray(heardStart, heardStart + 8000));
      const recorded = Array.from(wav.right.subarray(recordedStart, recordedStart + 8000));
      expect(recorded).toEqual(expected);
    }
  }, 60_000);
});
