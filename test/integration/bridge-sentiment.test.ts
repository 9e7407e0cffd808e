/**
 * SENTIMENT_ANALYZER=model: at the end of the call the bridge asks the AI session itself (out of
 * band, text only) for the caller's sentiment.
 */
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

describe('sentiment judged by the model', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness(
      {
        replies: ['Hello, how can I help?', 'I am sorry to hear that.'],
        callerTranscripts: ['This is terrible, I am angry, the service is awful'],
        ttsEngine: 'tone',
      },
      { SENTIMENT_ANALYZER: 'model' },
    );
  });
  afterAll(() => h.close());

  it('stores the judgement the model returns, outside the conversation', async () => {
    const summary = await h.call({
      ttsEngine: 'tone',
      script: [{ untilAgentSilentMs: 400 }, { say: 'x'.repeat(30) }, { untilAgentSilentMs: 500 }],
    }).done;
    const call = await eventually(() =>
      h.t.sb.db.call.findFirst({
        where: { callSid: summary.callSid, analytics: { isNot: null } },
        include: { analytics: true, transcripts: true },
      }),
    );
    expect(call.analytics).toMatchObject({ sentimentLabel: 'negative', sentimentSource: 'model' });
    expect(call.analytics!.sentimentScore!).toBeLessThan(0);
    // The out-of-band answer is not part of the conversation or the transcript.
    expect(call.transcripts.filter((t) => t.speaker === 'agent').map((t) => t.text)).toEqual([
      'Hello, how can I help?',
      'I am sorry to hear that.',
    ]);
    const session = h.ai.sessions[0];
    expect(session.responseCreates).toBe(2); // the greeting and the sentiment request (the answer to the caller came from VAD)
  });
});
