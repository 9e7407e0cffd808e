/**
 * What the conversation does with each engine event: agent audio to the caller (dropped for a
 * cancelled response), the agent's text and transcripts, the caller's speech and transcripts, the
 * barge-in policy, tool calls, usage, errors, and the engine's reconnects and replacements (on the
 * call's timeline and status).
 */
import { performance } from 'node:perf_hooks';
import type { Conversation } from './conversation';
import { STAGES, STAGE_LABELS } from '../calls/stage-latency';

export function wireEngine(c: Conversation): void {
  const { engine } = c;
  const on = <A extends unknown[]>(what: string, fn: (...args: A) => void) => {
    return (...args: A) => c.safely(what, () => fn(...args));
  };

  engine.on(
    'agent-audio',
    on('agent audio', (itemId: string, responseId: string | undefined, bytes: Buffer, receivedAt: number) => {
      if (responseId && c.cancelledResponses.has(responseId)) {
        c.metrics.lateAgentDeltas++;
        return;
      }
      c.playAgentAudio(itemId, responseId, bytes);
      if (c.streaming) c.deps.metrics?.downlinkLatency.observe(performance.now() - receivedAt);
    }),
  );
  engine.on(
    'agent-audio-done',
    on('agent audio done', (itemId: string, responseId: string | undefined) => {
      c.lastAudioResponseId = responseId;
      if (responseId && c.cancelledResponses.has(responseId)) return;
      if (c.streaming) c.playout?.flush(itemId, responseId, c.callerClockMs);
      c.turns.audioDone(itemId, responseId);
    }),
  );
  engine.on(
    'agent-text-delta',
    on('agent text', (itemId: string, responseId: string | undefined, delta: string) => {
      c.turns.textDelta(itemId, responseId, delta);
    }),
  );
  engine.on(
    'agent-transcript',
    on('agent transcript', (itemId: string, responseId: string | undefined, text: string) => {
      if (c.deps.mode === 'text') c.stats.agentResponded();
      c.turns.transcript(itemId, responseId, text);
    }),
  );
  engine.on(
    'response-started',
    on('response started', (responseId: string | undefined) => {
      c.currentResponseId = responseId;
      c.responseActive = true;
      c.endings.responseStarted(responseId);
    }),
  );
  engine.on(
    'response-done',
    on('response done', (summary) => {
      c.stats.addUsage(summary.usage);
      c.turns.responseDone(summary);
      if (summary.responseId === c.currentResponseId) c.responseActive = false;
      if (summary.status === 'failed') c.addEvent('ai.response_failed', { responseId: summary.responseId });
      c.tools?.onResponseDone(summary.responseId);
      c.endings.responseDone(summary.responseId);
    }),
  );
  engine.on(
    'speech-started',
    on('speech started', (itemId: string, atMs: number, receivedAt: number) => {
      c.callerTurns.set(itemId, { startMs: Math.min(atMs, c.callerClockMs), endMs: undefined });
      c.stats.callerStarted();
      if (c.streaming && c.playout?.hasUnplayedAudio()) bargeIn(c, receivedAt);
      else if (c.responseActive && c.currentResponseId) {
        // The model is still thinking and nothing was played: drop that answer too.
        engine.cancel();
        c.cancelledResponses.add(c.currentResponseId);
        c.responseActive = false;
      }
    }),
  );
  engine.on(
    'speech-stopped',
    on('speech stopped', (itemId: string, atMs: number) => {
      const turn = c.callerTurns.get(itemId) ?? { startMs: c.callerClockMs, endMs: undefined };
      turn.endMs = Math.max(turn.startMs, Math.min(atMs, c.callerClockMs));
      c.callerTurns.set(itemId, turn);
      c.stats.callerSegments.push({ startMs: turn.startMs, endMs: turn.endMs });
      c.stats.callerStopped(performance.now());
    }),
  );
  engine.on(
    'caller-transcript',
    on('caller transcript', (itemId: string, text: string) => {
      const clean = text.trim();
      if (!clean) return;
      const turn = c.callerTurns.get(itemId);
      c.callerTurns.delete(itemId);
      c.stats.callerTexts.push(clean);
      c.context.push({ role: 'user', text: clean });
      c.deps.callManager.addTranscript(c.callId, {
        speaker: 'caller',
        text: clean,
        startMs: turn?.startMs ?? c.callerClockMs,
        endMs: turn?.endMs ?? null,
        itemId,
      });
      c.channel?.sendText?.(clean, 'caller');
    }),
  );
  engine.on(
    'caller-transcript-failed',
    on('caller transcript failed', (itemId: string) => c.addEvent('transcription.failed', { itemId })),
  );
  engine.on(
    'tool-call',
    on('tool call', (request) => c.tools?.onFunctionCall(request)),
  );
  engine.on(
    'error',
    on('engine error', (error) => {
      c.metrics.aiErrors++;
      // Cancelling a response that just finished is a benign race.
      if (error.code === 'response_cancel_not_active') return;
      c.log.warn('AI reported an error', { type: error.type, code: error.code, message: error.message });
      c.addEvent('ai.error', { ...error });
    }),
  );
  engine.on(
    'reconnecting',
    on('engine reconnecting', (info) => {
      if (!c.active) return;
      c.log.warn('AI connection dropped; reconnecting', info);
      c.addEvent('ai.reconnecting', info);
      // The response in flight is lost with its connection: settle what the caller heard of it.
      if (c.currentResponseId) c.cancelledResponses.add(c.currentResponseId);
      c.responseActive = false;
      c.playout?.dropPartial();
      if (c.streaming) c.updateStatusQuietly('reconnecting');
    }),
  );
  engine.on(
    'reconnected',
    on('engine reconnected', (info) => {
      c.responseActive = false;
      c.tools?.reset();
      if (!c.active) return;
      c.metrics.aiReconnects++;
      c.deps.metrics?.aiReconnects.inc();
      c.stats.publish(); // the board's reconnect count now, not at the next turn
      c.updateStatusQuietly('streaming');
      c.log.info('AI session restored', { contextTurns: info.contextTurns });
      c.addEvent('ai.reconnected', { contextTurns: c.context.length });
    }),
  );
  engine.on(
    'replaced',
    on('engine replaced', (info) => {
      c.responseActive = false;
      c.tools?.reset();
      c.addEvent('ai.session_replaced', info.reason === 'session-age' ? {} : { reason: info.reason });
    }),
  );
  engine.on(
    'turn-latency',
    on('turn latency', (latency) => {
      const turn = c.stats.turnLatency(latency);
      const histogram = c.deps.metrics?.pipelineStageMs;
      if (!turn || !histogram) return;
      for (const stage of STAGES) {
        const ms = turn[stage];
        if (ms !== undefined) histogram.observe({ stage: STAGE_LABELS[stage] }, ms);
      }
    }),
  );
  engine.on(
    'intent',
    on('intent', (info) => {
      c.stats.intent(info.intent);
      c.addEvent('ai.intent', { intent: info.intent, itemId: info.itemId });
    }),
  );
  engine.on('failed', (info) => {
    c.log.error('AI connection lost for good; ending the stream so the fallback plays', info);
    c.addEvent('ai.failed', info);
    void c.close('ai-unavailable');
  });
}

/**
 * The caller started speaking while agent audio was unplayed: the channel's queue is cleared, the
 * response cancelled, the item truncated where the caller stopped hearing it (last acknowledged
 * marker), and a new generation started so late acknowledgements and late audio are ignored.
 */
function bargeIn(c: Conversation, speechStartedAt: number): void {
  const atMs = c.callerClockMs;
  const cut = c.playout!.cut(atMs);
  c.deps.metrics?.bargeInReaction.observe(performance.now() - speechStartedAt);
  c.deps.metrics?.bargeIns.inc();
  if (c.responseActive && c.currentResponseId) {
    c.engine.cancel();
    c.responseActive = false;
  }
  if (c.currentResponseId) c.cancelledResponses.add(c.currentResponseId);
  c.metrics.bargeIns++;
  c.stats.interruptionsAtMs.push(atMs);
  if (cut) c.engine.truncate(cut.itemId, cut.audioEndMs);
  c.log.info('caller barged in', { itemId: cut?.itemId, heardMs: cut?.audioEndMs, sentMs: cut?.msSent, atMs });
  c.addEvent('barge-in', {
    itemId: cut?.itemId ?? null,
    heardMs: cut?.audioEndMs ?? null,
    sentMs: cut?.msSent ?? null,
  });
  // The full text of a cut turn arrives with the cancelled response's end; it is stored then.
  c.turns.cutAll();
  c.stats.publish();
}
