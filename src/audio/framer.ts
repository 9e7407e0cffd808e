/**
 * Cuts a stream of mu-law bytes (model audio arrives in arbitrary chunk sizes) into whole 20 ms frames for
 * Twilio, which plays whole frames without jitter.
 *
 * Copies are kept to a minimum: when no remainder is pending, `push` returns a view (subarray) of the chunk
 * it was given, without copying; only the sub-frame tail (< frameBytes) is copied into a preallocated buffer.
 * A concatenation is allocated only when a pending remainder must be joined with new bytes. The returned
 * Buffer may therefore share memory with the pushed chunk: do not modify the chunk until it has been sent.
 */
import { MULAW_SILENCE } from './g711';
import { FRAME_BYTES } from './pcm';

export class MulawFramer {
  readonly frameBytes: number;
  private readonly remainder: Buffer;
  private remainderLength = 0;

  constructor(frameBytes: number = FRAME_BYTES) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) {
      throw new RangeError(`MulawFramer: frameBytes must be a positive integer, got ${frameBytes}`);
    }
    this.frameBytes = frameBytes;
    this.remainder = Buffer.alloc(frameBytes);
  }

  /** Bytes held back until a whole frame is available. */
  get pendingBytes(): number {
    return this.remainderLength;
  }

  /**
   * Adds bytes and returns the largest whole-frame prefix now available (remainder from earlier pushes
   * first), or null when less than one frame is available.
   */
  push(chunk: Buffer): Buffer | null {
    const frameBytes = this.frameBytes;
    const pending = this.remainderLength;
    const total = pending + chunk.length;
    const wholeBytes = total - (total % frameBytes);
    if (wholeBytes === 0) {
      chunk.copy(this.remainder, pending);
      this.remainderLength = total;
      return null;
    }
    const fromChunk = wholeBytes - pending; // bytes of this chunk that go out now
    let out: Buffer;
    if (pending === 0) {
      out = fromChunk === chunk.length ? chunk : chunk.subarray(0, fromChunk);
    } else {
      out = Buffer.allocUnsafe(wholeBytes);
      this.remainder.copy(out, 0, 0, pending);
      chunk.copy(out, pending, 0, fromChunk);
    }
    const tail = chunk.length - fromChunk;
    if (tail > 0) chunk.copy(this.remainder, 0, fromChunk);
    this.remainderLength = tail;
    return out;
  }

  /**
   * Returns the pending remainder, padded with silence (`silence`: mu-law 0xFF by default; A-law 0xD5,
   * PCM16 0x00) to a whole frame when `pad` is true, or null when nothing is pending. The framer is
   * empty afterwards.
   */
  flush(pad = true, silence: number = MULAW_SILENCE): Buffer | null {
    const pending = this.remainderLength;
    if (pending === 0) return null;
    const out = pad ? Buffer.alloc(this.frameBytes, silence) : Buffer.allocUnsafe(pending);
    this.remainder.copy(out, 0, 0, pending);
    this.remainderLength = 0;
    return out;
  }

  /** Drops the pending remainder (barge-in: the rest of the response must not be played). */
  reset(): void {
    this.remainderLength = 0;
  }
}
