/**
 * What the local Realtime server "says" and "hears": it has no language model or recognizer, so
 * replies come from the options (or canned sentences), caller transcripts from the options (or a
 * description of the audio), and a sentiment judgement from a word list.
 */
import Sentiment from 'sentiment';
import type { Logger } from '../../logging/logger';
import type { LocalRealtimeServerOptions, ReplyContext } from './types';

const DEFAULT_REPLIES_GREETING = 'Hello, thanks for calling Switchboard. How can I help you today?';

export function replyText(opts: LocalRealtimeServerOptions, ctx: ReplyContext, log: Logger): string {
  const replies = opts.replies;
  let text: string | undefined;
  if (typeof replies === 'function') {
    try {
      text = replies(ctx);
    } catch (err) {
      log.error('local realtime replies hook failed', { error: (err as Error).message });
    }
  } else if (replies && replies.length > 0) {
    text = replies[Math.min(ctx.turn, replies.length - 1)];
  }
  if (text && text.trim()) return text;
  if (ctx.toolOutput !== undefined) return 'Thanks, I have the result. Is there anything else?';
  if (!ctx.callerText) return DEFAULT_REPLIES_GREETING;
  return 'I hear you. Could you tell me a little more about that?';
}

/**
 * A supervisor's whisper (a system item starting "Supervisor guidance", see src/supervision/whisper.ts):
 * the local AI has no model to act on it, so its next spoken reply quotes it recognisably instead.
 */
export function supervisorNoteOf(systemText: string): string | undefined {
  if (!systemText.startsWith('Supervisor guidance')) return undefined;
  const at = systemText.indexOf('): ');
  const note = (at >= 0 ? systemText.slice(at + 3) : systemText).trim();
  return note || undefined;
}

/** The reply as the local AI speaks it after a whisper: "Following my supervisor's note: <note>. <reply>". */
export function withSupervisorNote(text: string, note: string | undefined): string {
  if (!note) return text;
  const stop = /[.!?]$/.test(note) ? '' : '.';
  return `Following my supervisor's note: ${note}${stop} ${text}`;
}

/** The transcript reported for the caller's turn `turnIndex` that lasted `spokenMs`. */
export function callerTranscript(opts: LocalRealtimeServerOptions, turnIndex: number, spokenMs: number): string {
  return opts.callerTranscripts?.[turnIndex] ?? `(caller spoke for ${(Math.round(spokenMs / 100) / 10).toFixed(1)} s)`;
}

const sentimentAnalyzer = new Sentiment();

/** What a model asked "rate the caller's sentiment" answers, from the AFINN word list. */
export function localSentimentJson(callerTexts: readonly string[]): string {
  const result = sentimentAnalyzer.analyze(callerTexts.join(' '));
  const scored = result.calculation.length;
  const score = scored === 0 ? 0 : Math.max(-1, Math.min(1, result.score / (scored * 5)));
  const label = score >= 0.1 ? 'positive' : score <= -0.1 ? 'negative' : 'neutral';
  return JSON.stringify({ label, score: Math.round(score * 100) / 100 });
}
