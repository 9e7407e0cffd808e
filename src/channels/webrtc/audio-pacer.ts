/**
 * One 10 ms clock for every WebRTC call in the process: each tick, every registered output is asked
 * for the 10 ms frames that are due by wall-clock time since it joined. Frames due are counted
 * against the clock, not the ticks, so a late timer is caught up at the next tick instead of
 * slowing playback down; after a long stall (an event-loop block) the backlog is skipped, not
 * burst out, so the browser's jitter buffer never receives seconds of audio at once.
 */

export const PACER_FRAME_MS = 10;
/** At most this many frames are caught up at one tick; beyond, the clock is moved on. */
const MAX_CATCH_UP_FRAMES = 6;

export interface PacedOutput {
  /** Feeds one 10 ms frame to the track. */
  pump(): void;
  /** `frames` of real time went by unplayed (a stall of the event loop). */
  skipped?(frames: number): void;
}

interface Entry {
  startedAt: number;
  framesFed: number;
}

export class AudioPacer {
  private readonly outputs = new Map<PacedOutput, Entry>();
  private timer: NodeJS.Timeout | undefined;
  /** Frames skipped after stalls (all outputs). */
  skippedFrames = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  get size(): number {
    return this.outputs.size;
  }

  add(output: PacedOutput): void {
    if (this.outputs.has(output)) return;
    this.outputs.set(output, { startedAt: this.now(), framesFed: 0 });
    output.pump();
    this.outputs.get(output)!.framesFed = 1;
    this.timer ??= setInterval(() => this.tick(), PACER_FRAME_MS);
  }

  remove(output: PacedOutput): void {
    this.outputs.delete(output);
    if (this.outputs.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    const now = this.now();
    for (const [output, entry] of this.outputs) {
      const due = Math.floor((now - entry.startedAt) / PACER_FRAME_MS) + 1;
      let behind = due - entry.framesFed;
      if (behind > MAX_CATCH_UP_FRAMES) {
        this.skippedFrames += behind - MAX_CATCH_UP_FRAMES;
        output.skipped?.(behind - MAX_CATCH_UP_FRAMES);
        entry.framesFed = due - MAX_CATCH_UP_FRAMES;
        behind = MAX_CATCH_UP_FRAMES;
      }
      for (let i = 0; i < behind; i++) {
        entry.framesFed++;
        try {
          output.pump();
        } catch {
          // An output that throws is closed by its owner; the clock goes on for the others.
        }
        if (!this.outputs.has(output)) break;
      }
    }
  }
}

/** The process's pacer (one timer for every call). */
export const sharedPacer = new AudioPacer();
