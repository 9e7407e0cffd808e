/**
 * The echo engine: plays the caller's own audio back after a fixed delay (ECHO_DELAY_MS). For
 * microphone checks and round-trip measurement: what the caller hears is exactly what they sent,
 * `delayMs` later, in the same format (mu-law 8 kHz, so nothing is converted at the seam).
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

interface QueuedFrame {
  bytes: Buffer;
  dueAt: number;
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
  private item: { itemId: string; responseId: string } | undefined;
  private items = 0;
  private closed = false;
  /** Frames dropped because the queue was full. */
  dropped = 0;

  constructor(private readonly options: EchoEngineOptions) {
    super();
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  appendAudio(bytes: Buffer, _base64?: string, _callMs?: number): void {
    if (this.closed || bytes.length === 0) return;
    if (this.queue.length - this.head >= MAX_QUEUED_FRAMES) {
      this.dropped++;
      return;
    }
    // The caller's buffer may be reused by the channel: keep a copy.
    this.queue.push({ bytes: Buffer.from(bytes), dueAt: performance.now() + this.options.delayMs });
    if (!this.timer) this.schedule();
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
    this.timer = setTimeout(() => this.drain(), Math.max(0, next.dueAt - performance.now()));
  }

  private drain(): void {
    const now = performance.now();
    while (this.head < this.queue.length && this.queue[this.head].dueAt <= now + 1) {
      const frame = this.queue[this.head++];
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
