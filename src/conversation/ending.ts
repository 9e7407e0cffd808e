/**
 * The end of a call, once: the caller's sentiment asked of the engine (SENTIMENT_ANALYZER=model),
 * the engine closed, the agent's last turns stored as heard, the recording finalized and registered,
 * the analytics stored, and the call ended through the CallManager (which publishes call.ended).
 * Every step logs its failure and the next one still runs.
 */
import type { CallStatus, EndReason } from '../calls/call-status';
import {
  FREE_PRICING,
  MODEL_SENTIMENT_INSTRUCTIONS,
  parseModelSentiment,
  type SentimentResult,
} from '../calls/call-analytics';
import type { Conversation } from './conversation';
import type { RecordingTap } from './recording-tap';

/** How long the end of a call waits for the model's sentiment judgement. */
export const MODEL_SENTIMENT_TIMEOUT_MS = 5000;

export interface FinishOptions {
  reason: EndReason;
  status: CallStatus;
  durationMs: number;
  tap: RecordingTap | undefined;
  closeAudio(): void;
}

export async function finishCall(c: Conversation, opts: FinishOptions): Promise<void> {
  const { config, callManager } = c.deps;
  const sentiment = await askSentiment(c);
  c.engine.close();
  opts.closeAudio();
  c.log.info('call ending', { reason: opts.reason, framesIn: c.metrics.framesIn, framesOut: c.metrics.framesOut });
  c.turns.finalizeAll();
  await opts.tap?.finish(c.callId, opts.durationMs, callManager, c.log);
  // An engine answered by the in-process local AI server costs nothing (its token counts stay, for reference).
  const pricing = c.deps.freeEngines?.includes(c.engine.kind) ? FREE_PRICING : config.pricing;
  await c.stats.save(opts.durationMs, pricing, sentiment, c.log);
  const intents = c.stats.intents;
  if (intents.length > 0) {
    // The call's metadata says what the caller wanted: the last intent, and every one in order.
    await callManager.mergeMetadata(c.callId, { intent: intents[intents.length - 1], intents }).catch((err: Error) => {
      c.log.error('could not store the intents', { error: err.message });
    });
  }
  try {
    await callManager.endCall(c.callId, { reason: opts.reason, status: opts.status });
  } catch (err) {
    c.log.error('could not end the call record', { error: (err as Error).message });
  }
}

/**
 * Asks the call's own engine, out of band, for the caller's sentiment over the whole conversation.
 * Undefined (→ the local analyzer) when not configured, when the engine cannot answer, or on a
 * timeout or a bad answer.
 */
async function askSentiment(c: Conversation): Promise<SentimentResult | undefined> {
  if (c.deps.config.sentimentAnalyzer !== 'model' || c.stats.callerTexts.length === 0 || !c.engine.ask) {
    return undefined;
  }
  const answer = await c.engine.ask(MODEL_SENTIMENT_INSTRUCTIONS, MODEL_SENTIMENT_TIMEOUT_MS);
  const result = parseModelSentiment(answer ?? '');
  if (!result) c.log.warn('no usable sentiment from the model; using the local analyzer');
  return result;
}
