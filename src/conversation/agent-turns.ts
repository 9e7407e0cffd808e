/**
 * The agent's turns of one call: each agent item's text (deltas, then its full transcript), how much
 * of its audio was sent and heard (the playback tracker's acknowledgements), and, once it is
 * complete, the transcript row stored as the caller heard it, with the words a barge-in cut off kept
 * apart (`unheardText`, `interrupted`). What was heard also joins the conversation context that a
 * re-made engine session is given.
 */
import type { Logger } from '../logging/logger';
import type { CallManager } from '../calls/call-manager';
import type { PlaybackTracker } from './playback-tracker';
import type { CallStats } from './call-stats';
import type { ConversationTurn, ResponseSummary } from './engine';
import { splitHeardText } from './transcript-split';

/** How long an interrupted agent turn waits for its full transcript (the response's end) before it is stored. */
export const CUT_TRANSCRIPT_WAIT_MS = 1500;

export interface AgentItem {
  itemId: string;
  responseId: string | undefined;
  partial: string;
  transcript: string | undefined;
  audioDone: boolean;
  sentMs: number;
  firstPlayAtMs: number | undefined;
  finalized: boolean;
  /** Set by a barge-in: what was heard of it then, and the text known at that moment. */
  cut?: { heardMs: number; sentMs: number; textAtCut: string };
}

export interface AgentTurnsDeps {
  callId: string;
  callManager: CallManager;
  log: Logger;
  tracker: PlaybackTracker;
  stats: CallStats;
  /** The conversation so far (shared with the caller's turns). */
  context: ConversationTurn[];
  /** Call time now (the caller's clock). */
  clock(): number;
  /** Runs fn after ms unless the call ends first. */
  later(ms: number, fn: () => void): void;
  /** A stored agent turn (what the caller heard), e.g. for a channel that shows or sends text. */
  onTurn(text: string): void;
  /** Text-only call: items have no audio, a turn is complete with its transcript. */
  textOnly: boolean;
}

export class AgentTurns {
  private readonly items = new Map<string, AgentItem>();

  constructor(private readonly deps: AgentTurnsDeps) {}

  item(itemId: string, responseId: string | undefined): AgentItem {
    let item = this.items.get(itemId);
    if (!item) {
      item = {
        itemId,
        responseId,
        partial: '',
        transcript: undefined,
        audioDone: this.deps.textOnly,
        sentMs: 0,
        firstPlayAtMs: undefined,
        finalized: false,
      };
      this.items.set(itemId, item);
    }
    return item;
  }

  get(itemId: string): AgentItem | undefined {
    return this.items.get(itemId);
  }

  textDelta(itemId: string, responseId: string | undefined, delta: string): void {
    const item = this.item(itemId, responseId);
    if (!item.finalized) item.partial += delta;
  }

  transcript(itemId: string, responseId: string | undefined, text: string): void {
    const item = this.item(itemId, responseId);
    item.transcript = text;
    this.maybeFinalize(item);
  }

  audioDone(itemId: string, responseId: string | undefined): void {
    const item = this.item(itemId, responseId);
    item.audioDone = true;
    this.maybeFinalize(item);
  }

  /** A playback acknowledgement for this item arrived. */
  played(itemId: string): void {
    const item = this.items.get(itemId);
    if (item) this.maybeFinalize(item);
  }

  /**
   * A barge-in: every item with audio sent is cut where the caller stopped hearing it. Its full
   * text comes with the cancelled response's end; it is stored then, or after a short wait.
   */
  cutAll(): void {
    for (const item of this.items.values()) {
      if (item.finalized || item.sentMs === 0 || item.cut) continue;
      const heardMs = Math.min(this.deps.tracker.item(item.itemId)?.msPlayed ?? 0, item.sentMs);
      item.cut = { heardMs, sentMs: item.sentMs, textAtCut: item.transcript ?? item.partial };
      this.deps.later(CUT_TRANSCRIPT_WAIT_MS, () => this.finalize(item, true));
    }
  }

  /** A response ended: its items' full transcripts complete the turns a barge-in cut. */
  responseDone(summary: ResponseSummary): void {
    for (const out of summary.items) {
      const item = this.items.get(out.itemId);
      if (!item || item.finalized) continue;
      if (out.transcript !== undefined && item.transcript === undefined) item.transcript = out.transcript;
      if (item.cut) this.finalize(item, true);
    }
  }

  /** The call ends: every turn with something said or sent is stored now. */
  finalizeAll(): void {
    for (const item of [...this.items.values()]) {
      if (item.finalized) continue;
      const played = this.deps.tracker.item(item.itemId);
      const interrupted =
        Boolean(item.cut) || !item.audioDone || (played !== undefined && played.msPlayed < played.msSent);
      if (item.sentMs > 0 || item.transcript) this.finalize(item, interrupted);
    }
  }

  private maybeFinalize(item: AgentItem): void {
    if (item.finalized || item.transcript === undefined) return;
    if (item.cut) {
      this.finalize(item, true);
      return;
    }
    const played = this.deps.tracker.item(item.itemId);
    const fullyPlayed =
      item.audioDone && (item.sentMs === 0 || (played !== undefined && played.msPlayed >= played.msSent));
    if (fullyPlayed) this.finalize(item, false);
  }

  /** Stores the agent turn as the caller heard it; the cut-off part is kept apart and marked. */
  private finalize(item: AgentItem, interrupted: boolean): void {
    if (item.finalized) return;
    item.finalized = true;
    const { tracker, stats } = this.deps;
    const text = (item.transcript ?? item.partial).trim();
    const heardMs = item.cut?.heardMs ?? Math.min(tracker.item(item.itemId)?.msPlayed ?? 0, item.sentMs);
    let split = { heard: text, unheard: '' };
    if (interrupted) {
      // The text known at the cut covers about the audio sent by then: split it by what was heard,
      // and everything after the heard words (including text that came later) is the unheard part.
      const known = item.cut?.textAtCut.trim() || text;
      const heard = splitHeardText(known, heardMs, item.cut?.sentMs ?? item.sentMs).heard;
      split = text.startsWith(heard)
        ? { heard, unheard: text.slice(heard.length).trim() }
        : splitHeardText(text, heardMs, item.sentMs);
    }
    const startMs = item.firstPlayAtMs ?? this.deps.clock();
    const endMs = startMs + (interrupted ? heardMs : item.sentMs);
    if (endMs > startMs) stats.agentSegments.push({ startMs, endMs });
    if (split.heard || split.unheard) {
      stats.agentTurns++;
      if (split.heard) this.deps.context.push({ role: 'assistant', text: split.heard });
      this.deps.callManager.addTranscript(this.deps.callId, {
        speaker: 'agent',
        text: split.heard,
        unheardText: split.unheard || null,
        interrupted: interrupted && split.unheard.length > 0,
        startMs,
        endMs,
        itemId: item.itemId,
      });
      if (split.heard) this.deps.onTurn(split.heard);
    }
    this.items.delete(item.itemId);
    tracker.forget(item.itemId);
  }
}
