/**
 * CallPrivacy: the CallManager's privacy hook. Every transcript passes through `transcript()` where
 * it enters the CallManager, before it is queued for the database, published on SSE or handed to
 * anything else, so the original text is kept nowhere. What was redacted is noted on the call's
 * timeline (`privacy.redacted`: speaker, kinds, span — never the text), and its span is silenced in
 * the recording when the recording is finalized (`recording()`, before it is registered): the turn's
 * span, as the engines give no word timing.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logging/logger';
import type { TranscriptInput } from '../calls/call-inputs';
import type { NewRecording } from '../db/call-repository';
import type { PrivacyPolicy } from './policy';
import { redactText, type RedactionKind } from './redactor';
import { silenceSpans, type SilenceSpan } from './recording-silence';
import { CallConsent } from './consent';
import { sealFile, SEALED_EXT } from './sealed-file';

/** The CallManager's view of the hook (src/calls/call-manager.ts). */
export interface CallPrivacyHook {
  /** A transcript about to be stored and published: what may be (redacted), or null: nothing. Never throws. */
  transcript(callId: string, profile: string | null, t: TranscriptInput): TranscriptInput | null;
  /**
   * A finished recording about to be registered: what to register (it may have been sealed under
   * another name); rejects when it must not be (it was deleted).
   */
  recording(rec: NewRecording): Promise<NewRecording>;
  /** A timeline event about to be queued: its data with personal data redacted (tool arguments, results). */
  event(callId: string, profile: string | null, type: string, data: Record<string, unknown>): Record<string, unknown>;
  /** The call has ended: forget what was kept about it. */
  ended(callId: string): void;
}

/** Timeline events whose free text may carry personal data (the model's tool arguments and results, whispers). */
const TEXT_EVENTS = new Set(['tool.call', 'supervisor.whisper']);

/** A card read out makes short digit runs in the next minute its CVV or expiry. */
const CARD_CONTEXT_MS = 60_000;
/** Margin around a redacted turn's span (VAD padding, the recorder's rounding). */
const SPAN_MARGIN_MS = 300;

interface CallState {
  cardAtMs?: number;
  spans: SilenceSpan[];
}

export interface CallPrivacyOptions {
  policy: PrivacyPolicy;
  recordingsDir: string;
  logger: Logger;
  /** RECORDING_ENCRYPTION_KEY: recordings are sealed (AES-256-GCM) before they are registered. */
  recordingKey?: Buffer;
  /**
   * The redacted spans stored on a call's timeline (`privacy.redacted`), for a recording this process
   * did not record: a call a crashed process left open, whose recording is repaired at start-up.
   */
  storedSpans?: (callId: string) => Promise<SilenceSpan[]>;
}

export class CallPrivacy implements CallPrivacyHook {
  private readonly calls = new Map<string, CallState>();
  private readonly consents = new Map<string, CallConsent>();
  private timeline:
    ((callId: string, type: string, data: Record<string, unknown>, offsetMs?: number) => void) | undefined;
  /** Redactions made since start, by kind (metrics, tests). */
  readonly counts = new Map<RedactionKind | 'error', number>();

  constructor(private readonly options: CallPrivacyOptions) {}

  /** Where `privacy.*` timeline events go (the CallManager's addEvent, wired after it exists). */
  attachTimeline(fn: (callId: string, type: string, data: Record<string, unknown>, offsetMs?: number) => void): void {
    this.timeline = fn;
  }

  /** The consent state of a call (made once, when its conversation is prepared). */
  consentFor(callId: string, profile: string | null): CallConsent {
    let consent = this.consents.get(callId);
    if (!consent) {
      consent = new CallConsent(this.options.policy.forProfile(profile), (type, data) =>
        this.timeline?.(callId, type, data),
      );
      this.consents.set(callId, consent);
      if (!consent.recording) this.timeline?.(callId, 'consent.recording-off', { reason: 'profile' });
      if (consent.policy.announcement && consent.recording)
        this.timeline?.(callId, 'consent.announcement', { text: consent.policy.announcement });
    }
    return consent;
  }

  transcript(callId: string, profile: string | null, t: TranscriptInput): TranscriptInput | null {
    const redacted = this.redact(callId, profile, t);
    const consent = this.consents.get(callId);
    if (!consent) return redacted;
    if (t.speaker === 'caller') consent.heard(redacted.text);
    return consent.keepTranscript ? redacted : null;
  }

  private redact(callId: string, profile: string | null, t: TranscriptInput): TranscriptInput {
    const policy = this.options.policy.forProfile(profile);
    if (policy.redact.size === 0) return t;
    const state = this.calls.get(callId) ?? { spans: [] };
    const cardRecent = state.cardAtMs !== undefined && t.startMs - state.cardAtMs <= CARD_CONTEXT_MS;
    let text: string;
    let unheardText: string | null | undefined;
    let kinds: Array<RedactionKind | 'error'>;
    try {
      const main = redactText(t.text, policy.redact, { cardRecent });
      const rest = t.unheardText
        ? redactText(t.unheardText, policy.redact, { cardRecent: cardRecent || main.foundCard })
        : undefined;
      text = main.text;
      unheardText = rest ? rest.text : t.unheardText;
      kinds = [...new Set([...main.kinds, ...(rest?.kinds ?? [])])];
      if (main.foundCard || rest?.foundCard) state.cardAtMs = t.endMs ?? t.startMs;
    } catch (err) {
      // Never store what could not be checked.
      this.options.logger.error('transcript redaction failed; the text is withheld', {
        callId,
        error: (err as Error).message,
      });
      text = '[redacted]';
      unheardText = t.unheardText ? '[redacted]' : t.unheardText;
      kinds = ['error'];
    }
    if (kinds.length === 0) {
      if (state.cardAtMs !== undefined) this.calls.set(callId, state);
      return t;
    }
    for (const k of kinds) this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    const endMs = t.endMs ?? undefined;
    if (endMs !== undefined) {
      state.spans.push({
        channel: t.speaker,
        startMs: Math.max(0, t.startMs - SPAN_MARGIN_MS),
        endMs: endMs + SPAN_MARGIN_MS,
      });
    }
    this.calls.set(callId, state);
    this.timeline?.(
      callId,
      'privacy.redacted',
      { speaker: t.speaker, kinds, startMs: t.startMs, endMs: endMs ?? null },
      t.startMs,
    );
    return { ...t, text, unheardText };
  }

  event(callId: string, profile: string | null, type: string, data: Record<string, unknown>): Record<string, unknown> {
    if (!TEXT_EVENTS.has(type)) return data;
    const kinds = this.options.policy.forProfile(profile).redact;
    if (kinds.size === 0) return data;
    const cardRecent = this.calls.get(callId)?.cardAtMs !== undefined;
    const walk = (v: unknown, depth: number): unknown => {
      if (typeof v === 'string') return redactText(v, kinds, { cardRecent }).text;
      if (depth > 8 || v === null || typeof v !== 'object') return v;
      if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, depth + 1)]));
    };
    try {
      return walk(data, 0) as Record<string, unknown>;
    } catch {
      return { redacted: true };
    }
  }

  async recording(rec: NewRecording): Promise<NewRecording> {
    await this.silence(rec);
    const key = this.options.recordingKey;
    if (!key) return rec;
    const file = path.join(this.options.recordingsDir, rec.path);
    try {
      const sizeBytes = await sealFile(file, file + SEALED_EXT, key);
      return { ...rec, path: rec.path + SEALED_EXT, sizeBytes };
    } catch (err) {
      // Never kept in the clear when a key is set.
      this.options.logger.error('could not encrypt the recording; it is deleted', {
        callId: rec.callId,
        error: (err as Error).message,
      });
      await rm(file, { force: true }).catch(() => undefined);
      throw new Error('recording withheld: it could not be encrypted');
    }
  }

  private async silence(rec: NewRecording): Promise<void> {
    const state = this.calls.get(rec.callId);
    // Not a call of this process (crash recovery): its spans are on its timeline.
    const foreign = !state && !this.consents.has(rec.callId) && this.options.storedSpans;
    const spans = foreign ? await foreign(rec.callId) : (state?.spans.splice(0) ?? []);
    if (spans.length === 0) return;
    try {
      const ms = await silenceSpans(path.join(this.options.recordingsDir, rec.path), spans);
      this.options.logger.info('redacted spans silenced in the recording', {
        callId: rec.callId,
        spans: spans.length,
        silencedMs: Math.round(ms),
      });
      this.timeline?.(rec.callId, 'privacy.recording-silenced', { spans: spans.length, silencedMs: Math.round(ms) });
    } catch (err) {
      // A recording whose redacted words could not be silenced is not kept.
      this.options.logger.error('could not silence redacted spans; the recording is deleted', {
        callId: rec.callId,
        error: (err as Error).message,
      });
      await rm(path.join(this.options.recordingsDir, rec.path), { force: true }).catch(() => undefined);
      throw new Error('recording withheld: redacted spans could not be silenced');
    }
  }

  ended(callId: string): void {
    this.calls.delete(callId);
    this.consents.delete(callId);
  }
}

/** Silence spans from a call's `privacy.redacted` timeline events (with the same margin as live). */
export function spansFromEvents(events: Array<{ data: unknown }>): SilenceSpan[] {
  const spans: SilenceSpan[] = [];
  for (const e of events) {
    const d = e.data as { speaker?: unknown; startMs?: unknown; endMs?: unknown } | null;
    if (!d || (d.speaker !== 'caller' && d.speaker !== 'agent')) continue;
    if (typeof d.startMs !== 'number' || typeof d.endMs !== 'number') continue;
    spans.push({
      channel: d.speaker,
      startMs: Math.max(0, d.startMs - SPAN_MARGIN_MS),
      endMs: d.endMs + SPAN_MARGIN_MS,
    });
  }
  return spans;
}
