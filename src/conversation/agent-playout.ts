/**
 * Agent audio on its way to the caller: cut into whole 20 ms frames of the channel's format, sent in
 * chunks of at most 100 ms, each with a playback marker (`<generation>.<seq>`, PlaybackTracker) that
 * the channel acknowledges once played; placed on the call's clock back to back (where the
 * recording puts it, and where listeners in hear it). A barge-in drops what is queued on all sides
 * and starts a new generation, so late acknowledgements of the cleared audio never count as heard.
 */
import { MulawFramer } from '../audio/framer';
import { ALAW_SILENCE, MULAW_SILENCE } from '../audio/g711';
import type { Metrics } from '../observability/metrics';
import { bytesPerMs, durationMs, frameBytes, type AudioFormat } from './audio-format';
import type { AgentTurns } from './agent-turns';
import type { CallStats } from './call-stats';
import type { CallerChannel } from './channel';
import type { PlaybackTracker, CutResult } from './playback-tracker';
import type { RecordingTap } from './recording-tap';
import type { ConversationAudioTap } from './conversation';
import { CallerClock } from './caller-clock';
import { UnplayedAudio } from './unplayed-audio';

/** Agent audio goes to the channel in chunks of at most this many 20 ms frames, each with a marker. */
export const MAX_FRAMES_PER_CHUNK = 5;
/** Agent audio kept after sending until the call's clock reaches it (for a listener joining mid-answer). */
const MAX_UNPLAYED_KEPT_MS = 3000;

export class AgentPlayout {
  private readonly framer: MulawFramer;
  private readonly frameBytes: number;
  private readonly maxChunkBytes: number;
  private readonly silence: number;
  /** Where the caller's channel is now (the conversation reports each caller frame to it). */
  readonly callerClock = new CallerClock();
  /** Where the next agent chunk starts playing, in call time (the channel plays queued audio back to back). */
  private queueEndMs = 0;
  /** Sent agent audio the caller has not heard yet (by the call's clock), at most 3 s of it. */
  private readonly unplayed: UnplayedAudio;

  constructor(
    private readonly channel: CallerChannel,
    private readonly format: AudioFormat,
    readonly tracker: PlaybackTracker,
    private readonly turns: AgentTurns,
    private readonly stats: CallStats,
    private readonly tap: RecordingTap | undefined,
    private readonly metrics: Metrics | undefined,
    /** Supervisors listening in, if any (they hear what the caller hears, cut included). */
    private readonly listenTap: () => ConversationAudioTap | undefined = () => undefined,
  ) {
    this.frameBytes = frameBytes(format);
    this.maxChunkBytes = this.frameBytes * MAX_FRAMES_PER_CHUNK;
    this.framer = new MulawFramer(this.frameBytes);
    // 3 s, a chunk at each end of it that is partly outside, and one more for the ring's wrap.
    this.unplayed = new UnplayedAudio(Math.ceil(bytesPerMs(format) * MAX_UNPLAYED_KEPT_MS) + 3 * this.maxChunkBytes);
    this.silence = format.encoding === 'pcmu' ? MULAW_SILENCE : format.encoding === 'pcma' ? ALAW_SILENCE : 0;
  }

  /** Audio of the agent not yet acknowledged as played (or still held back for a whole frame). */
  hasUnplayedAudio(): boolean {
    return this.tracker.hasUnplayedAudio() || this.framer.pendingBytes > 0;
  }

  /** Agent audio in the channel's format; whole frames go out now, the remainder waits. */
  play(itemId: string, responseId: string | undefined, bytes: Buffer, callMs: number): void {
    const frames = this.framer.push(bytes);
    if (frames) this.send(itemId, responseId, frames, callMs);
  }

  /** The item's audio is complete: its last partial frame goes out, padded with silence. */
  flush(itemId: string, responseId: string | undefined, callMs: number): void {
    const rest = this.framer.flush(true, this.silence);
    if (rest) this.send(itemId, responseId, rest, callMs);
  }

  /** The engine's stream broke off (reconnect, cancel): a held partial frame belongs to nothing now. */
  dropPartial(): void {
    this.framer.reset();
  }

  /** A playback marker came back: the item it completed, if it counts. */
  acknowledge(marker: string): string | undefined {
    const itemId = this.tracker.acknowledge(marker)?.itemId;
    // The channel has played everything sent: nothing is left for a listener who joins now.
    if (!this.tracker.hasUnplayedAudio()) this.unplayed.clear();
    return itemId;
  }

  /** The call ended: the audio kept for listeners is given back. */
  close(): void {
    this.unplayed.clear();
  }

  /**
   * Barge-in at the call's clock (clockMs): the channel's queue is cleared; returns where the current
   * item was cut. The recording and listeners lose the agent audio from where the caller's channel
   * really is (callerClock, as the audio was placed), not from a clock left stale by late frames.
   */
  cut(clockMs: number): CutResult | undefined {
    const atMs = this.callerClock.nowMs(clockMs);
    this.channel.clear();
    const cut = this.tracker.cut();
    this.framer.reset();
    this.tap?.cutAgentAfter(atMs);
    this.listenTap()?.cut(atMs);
    this.unplayed.clear();
    this.queueEndMs = atMs;
    return cut;
  }

  /** Agent audio already sent to the channel that plays from call time nowMs on (a new listener hears it). */
  unplayedAudio(nowMs: number): readonly { chunk: Buffer; playAtMs: number }[] {
    return this.unplayed.from(nowMs);
  }

  private send(itemId: string, responseId: string | undefined, frames: Buffer, clockMs: number): void {
    // Where the caller's channel is now: a chunk sent to an idle channel starts playing there.
    const callMs = this.callerClock.nowMs(clockMs);
    const item = this.turns.item(itemId, responseId);
    const listen = this.listenTap();
    this.stats.agentResponded();
    this.unplayed.dropPlayed(callMs);
    for (let offset = 0; offset < frames.length; offset += this.maxChunkBytes) {
      const chunk = frames.subarray(offset, Math.min(frames.length, offset + this.maxChunkBytes));
      const chunkMs = durationMs(this.format, chunk.length);
      const playAtMs = Math.max(callMs, this.queueEndMs);
      this.queueEndMs = playAtMs + chunkMs;
      item.firstPlayAtMs ??= playAtMs;
      item.sentMs += chunkMs;
      this.tap?.writeAgent(chunk, playAtMs);
      listen?.agent(chunk, this.format, playAtMs);
      if (playAtMs - callMs < MAX_UNPLAYED_KEPT_MS) this.unplayed.add(chunk, playAtMs, this.queueEndMs);
      this.channel.sendAudio(chunk, this.tracker.sent(itemId, chunkMs));
      this.stats.counts.framesOut += chunk.length / this.frameBytes;
    }
    this.metrics?.framesOut.inc(frames.length / this.frameBytes);
  }
}
