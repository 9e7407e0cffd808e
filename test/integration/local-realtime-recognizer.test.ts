/**
 * The local Realtime server with the local recognizer: a simulated call's caller transcript holds
 * the words spoken (espeak-ng's voice over 8 kHz mu-law), not a description of the audio.
 */
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { to16kPcm } from '../../src/simulators/local-realtime/recognizer';

const LINES = ['I would like a refund', 'hello I need help with billing'];
const WORDS = [
  'i',
  'would',
  'like',
  'a',
  'refund',
  'hello',
  'need',
  'help',
  'with',
  'billing',
  'yes',
  'no',
  'thank',
  'you',
];

describe('local Realtime server transcribing with the local recognizer', () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness({ ttsEngine: 'tone', recognizer: { words: WORDS }, replies: ['Hello.', 'Sure.'] });
  });
  afterAll(() => h.close());

  it("stores the caller's spoken words as the caller transcript", async () => {
    const handle = h.call({
      script: [
        { untilAgentSilentMs: 600 },
        { say: LINES[0] },
        { untilAgentSilentMs: 600 },
        { say: LINES[1] },
        { untilAgentSilentMs: 600 },
      ],
    });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    const call = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, analytics: true },
      });
      return c?.analytics ? c : null;
    }, 15_000);
    const caller = call.transcripts.filter((t) => t.speaker === 'caller').map((t) => t.text);
    expect(caller).toHaveLength(2);
    expect(caller[0]).toMatch(/\brefund\b/);
    expect(caller[1]).toMatch(/\bbilling\b/);
    for (const text of caller) expect(text).not.toMatch(/caller spoke for/);
  });
});

describe('recognizer input', () => {
  it('turns 8 kHz mu-law and 24 kHz PCM16 into 16 kHz PCM16 of the same length in time', () => {
    expect(to16kPcm(Buffer.alloc(8000, 0xff), 'pcmu').length).toBe(32000);
    expect(to16kPcm(Buffer.alloc(48000), 'pcm16').length).toBe(32000);
  });
});
