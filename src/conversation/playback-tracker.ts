/**
 * What the caller has actually heard of the agent's audio, from Twilio mark echoes.
 *
 * Every chunk of agent audio sent to Twilio is followed by a mark named `<generation>.<seq>`. Twilio
 * echoes a mark once all audio sent before it has played. So the last echoed mark of an item gives
 * the exact position the caller heard (never a wall-clock estimate). A barge-in bumps the
 * generation: Twilio echoes every pending mark when it is cleared, and those late echoes (and late
 * audio of the cancelled response) must not count as heard.
 */
export interface PendingMark {
  name: string;
  generation: number;
  itemId: string;
  /** Audio of this item sent up to and including the chunk before this mark. */
  itemMsSent: number;
}

export interface ItemPlayback {
  itemId: string;
  msSent: number;
  msPlayed: number;
}

export interface CutResult {
  itemId: string;
  /** Position to truncate at: what the caller heard (last acknowledged mark), never beyond what was sent. */
  audioEndMs: number;
  msSent: number;
}

export class PlaybackTracker {
  private gen = 0;
  private seq = 0;
  private readonly pending: PendingMark[] = [];
  private head = 0;
  private readonly items = new Map<string, ItemPlayback>();
  private currentItemId: string | undefined;
  /** Marks echoed after their generation ended (ignored). */
  staleMarks = 0;
  unknownMarks = 0;

  get generation(): number {
    return this.gen;
  }

  /** Records `ms` of audio of `itemId` sent to Twilio and returns the name of the mark to send after it. */
  sent(itemId: string, ms: number): string {
    let item = this.items.get(itemId);
    if (!item) {
      item = { itemId, msSent: 0, msPlayed: 0 };
      this.items.set(itemId, item);
    }
    this.currentItemId = itemId;
    item.msSent += ms;
    const name = `${this.gen}.${++this.seq}`;
    this.pending.push({ name, generation: this.gen, itemId, itemMsSent: item.msSent });
    return name;
  }

  /** A mark echoed by Twilio. Returns the item it completed, or undefined for stale/unknown marks. */
  acknowledge(name: string): { itemId: string; msPlayed: number; itemFinished: boolean } | undefined {
    const dot = name.indexOf('.');
    const generation = dot > 0 ? Number(name.slice(0, dot)) : NaN;
    if (generation !== this.gen) {
      if (Number.isFinite(generation) && generation < this.gen) this.staleMarks++;
      else this.unknownMarks++;
      return undefined;
    }
    // Marks are echoed in order; everything before this one has played too.
    let idx = -1;
    for (let i = this.head; i < this.pending.length; i++) {
      if (this.pending[i].name === name) {
        idx = i;
        break;
      }
    }
    if (idx < 0) {
      this.unknownMarks++;
      return undefined;
    }
    const mark = this.pending[idx];
    this.head = idx + 1;
    this.compact();
    const item = this.items.get(mark.itemId)!;
    item.msPlayed = Math.max(item.msPlayed, mark.itemMsSent);
    return { itemId: mark.itemId, msPlayed: item.msPlayed, itemFinished: item.msPlayed >= item.msSent };
  }

  /** True while some agent audio sent to Twilio has not been acknowledged as played. */
  hasUnplayedAudio(): boolean {
    return this.head < this.pending.length;
  }

  /** Milliseconds of agent audio sent but not yet acknowledged. */
  unplayedMs(): number {
    let ms = 0;
    const seen = new Set<string>();
    for (let i = this.pending.length - 1; i >= this.head; i--) {
      const m = this.pending[i];
      if (seen.has(m.itemId)) continue;
      seen.add(m.itemId);
      const item = this.items.get(m.itemId)!;
      ms += item.msSent - item.msPlayed;
    }
    return ms;
  }

  item(itemId: string): ItemPlayback | undefined {
    return this.items.get(itemId);
  }

  /**
   * Barge-in: ends the current generation. Returns where to truncate the item being played, if any
   * of its audio was unplayed.
   */
  cut(): CutResult | undefined {
    let result: CutResult | undefined;
    if (this.hasUnplayedAudio()) {
      const first = this.pending[this.head];
      const item = this.items.get(first.itemId)!;
      result = { itemId: item.itemId, audioEndMs: Math.min(item.msPlayed, item.msSent), msSent: item.msSent };
    }
    this.gen++;
    this.pending.length = 0;
    this.head = 0;
    return result;
  }

  /** Forgets finished items (keeps memory bounded over long calls). */
  forget(itemId: string): void {
    if (itemId !== this.currentItemId) this.items.delete(itemId);
  }

  private compact(): void {
    if (this.head > 256 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
  }
}
