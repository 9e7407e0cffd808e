/**
 * The echo engine: plays the caller's own audio back after a fixed delay (ECHO_DELAY_MS). For
 * microphone checks and round-trip measurement: what the caller hears is exactly what they sent,
 * `delayMs` later, in the same format (mu-law 8 kHz, so nothing is converted at the seam).
 *
 * Playback is scheduled by the audio's own timestamps (`callMs`), not by when each frame reached
 * the engine: a frame is due `delayMs` after the call time it ends at, mapped to the clock by the
 * earliest arrival seen (the on-time path; it may creep later by DRIFT_ALLOWANCE to follow a caller
 * clock slower than ours). Frames held up by a stall (set-up, a busy event loop) and delivered in a
 * burst are therefore late, not re-timed: a late silent frame is dropped (`lateDropped`), a late
 * frame with sound is played at once. So a stall costs at most one burst, never a lasting delay.
 * Lateness is judged from when the drain timer was meant to fire, so a timer that merely fires a
 * little late (TIMER_JITTER_MS) drops nothing that was on time.
 *
 * One timer per call drains a queue of frames as they come due (never one timer per frame). Each
 * stretch of audio that follows a pause of the queue is one agent item (its own response), so a
 * core that truncates on barge-in has an item to name. The engine never reports caller speech, so
 * it never triggers a barge-in itself.
 */
import { EventEmitter } from 'node:events';
import { PCMU_8K, type AudioFormat } from '../../conversation/audio-format';
import type { AgentEngine, AgentEngineEvents, EngineContext } from '../../conversation/engine';

/** Most audio held back at once (a delay of 10 s at 50 frames/s is 500 frames). */
const MAX_QUEUED_FRAMES = 1000;
/** A frame this far past its due time is late (one 20 ms frame of slack). */
const LATE_AFTER_MS = 20;
/**
 * A drain timer that fires up to this much after it was meant to (a busy machine) is jitter: what
 * was on time when it was set still plays. Beyond it, our own event loop stalled.
 */
const TIMER_JITTER_MS = 100;
/** How fast the call-time → clock mapping may move later on its own: 1 ms per second of audio. */
const DRIFT_ALLOWANCE = 0.001;
/** mu-law bytes whose segment (exponent) is at most this are quiet (|sample| ≤ 372 of 32124). */
const QUIET_SEGMENT = 1;

interface QueuedFrame {
  bytes: Buffer;
  /** The end of the frame in call time. */
  callMs: number;
}

/** True when every sample of a mu-law frame is quiet (silence, or nearly). */
function isQuiet(ulaw: Buffer): boolean {
  for (let i = 0; i < ulaw.length; i++) if (((~ulaw[i] >> 4) & 7) > QUIET_SEGMENT) return false;
  return true;
}

export interface EchoEngineOptions {
  delayMs: number;
}

export class EchoEngine extends EventEmitter<AgentEngineEvents> implements AgentEngine {
  readonly kind = 'echo';
  readonly inputFormat: AudioFormat = PCMU_8K;
  readonly outputFormat: AudioFormat = PCMU_8K;
  readonly reconnecting = false;
  private readonly queue: QueuedFrame[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When the pending drain timer was meant to fire (lateness is judged from there). */
  private timerFor = 0;
  private item: { itemId: string; responseId: string } | undefined;
  private items = 0;
  private closed = false;
  /** performance.now() − callMs of the on-time path (undefined until the first frame). */
  private lag: number | undefined;
  private lastCallMs = 0;
  /** Frames dropped because the queue was full. */
  dropped = 0;
  /** Silent frames dropped because a stall made them late. */
  lateDropped = 0;

  constructor(private readonly options: EchoEngineOptions) {
    super();
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  appendAudio(bytes: Buffer, _base64?: string, callMs?: number): void {
    if (this.closed || bytes.length === 0) return;
    if (this.queue.length - this.head >= MAX_QUEUED_FRAMES) {
      this.dropped++;
      return;
    }
    const now = performance.now();
    const time = Number.isFinite(callMs) && callMs! > this.lastCallMs ? callMs! : this.lastCallMs + 20;
    const lag = now - time;
    const allowed = this.lag === undefined ? lag : this.lag + (time - this.lastCallMs) * DRIFT_ALLOWANCE;
    const earlier = this.lag !== undefined && lag < this.lag - 1;
    this.lag = Math.min(allowed, lag);
    this.lastCallMs = time;
    // The caller's buffer may be reused by the channel: keep a copy.
    this.queue.push({ bytes: Buffer.from(bytes), callMs: time });
    if (!this.timer) this.schedule();
    else if (earlier) {
      // The frames before this one arrived late (a stall): what is queued is due sooner than planned.
      clearTimeout(this.timer);
      this.schedule();
    }
  }

  sendText(): void {}
  addContext(): void {}
  sendToolResult(): void {}
  createResponse(): void {}

  truncate(itemId: string, _heardMs?: number): void {
    if (this.item?.itemId === itemId) this.cancel();
  }

  /** Drops the audio not yet played back and ends the current item. */
  cancel(): void {
    this.queue.length = 0;
    this.head = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.finishItem('cancelled');
  }

  close(): void {
    if (this.closed) return;
    this.cancel();
    this.closed = true;
    this.removeAllListeners();
  }

  private schedule(): void {
    const next = this.queue[this.head];
    if (!next) {
      this.timer = undefined;
      this.queue.length = 0;
      this.head = 0;
      this.finishItem('completed');
      return;
    }
    const now = performance.now();
    this.timerFor = Math.max(now, this.dueAt(next));
    this.timer = setTimeout(() => this.drain(), this.timerFor - now);
  }

  /** When a frame plays: `delayMs` after its call time, on the on-time path's clock. */
  private dueAt(frame: QueuedFrame): number {
    return frame.callMs + (this.lag ?? 0) + this.options.delayMs;
  }

  private drain(): void {
    const now = performance.now();
    const lateBefore = Math.max(this.timerFor, now - TIMER_JITTER_MS) - LATE_AFTER_MS;
    while (this.head < this.queue.length && this.dueAt(this.queue[this.head]) <= now + 1) {
      const frame = this.queue[this.head++];
      if (this.dueAt(frame) < lateBefore && isQuiet(frame.bytes)) {
        this.lateDropped++;
        continue;
      }
      if (!this.item) {
        this.items++;
        this.item = { itemId: `echo_item_${this.items}`, responseId: `echo_resp_${this.items}` };
        this.emit('response-started', this.item.responseId);
      }
      this.emit('agent-audio', this.item.itemId, this.item.responseId, frame.bytes, performance.now());
      if (this.closed) return;
    }
    if (this.head > 256 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.schedule();
  }

  private finishItem(status: 'completed' | 'cancelled'): void {
    const item = this.item;
    if (!item) return;
    this.item = undefined;
    this.emit('agent-audio-done', item.itemId, item.responseId);
    this.emit('response-done', { responseId: item.responseId, status, items: [{ itemId: item.itemId }] });
  }
}

export function createEchoEngine(ctx: EngineContext): AgentEngine {
  return new EchoEngine({ delayMs: ctx.config.pipeline.echoDelayMs });
}
