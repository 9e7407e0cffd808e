/**
 * One call's recording audio on its way from the main thread to the recording thread: a
 * single-producer single-consumer ring of records in a SharedArrayBuffer. The main thread appends
 * (a caller frame, an agent chunk, a barge-in cut) without allocating anything and without waiting:
 * a base64 caller frame is decoded straight into the ring. The recording thread reads whatever has
 * been published, in order, on its own schedule. A write that does not fit (the ring is full) is
 * refused, and the writer's owner keeps it for later (LiveRecording's backlog).
 *
 * Layout: 16 bytes of control (Int32 write index, Int32 read index, both byte offsets into the
 * data), then `capacity` bytes of records. A record is a 16-byte header (Uint32 kind, Uint32
 * payload length, Float64 call time in ms) and its payload, padded to 16 bytes; a record never
 * wraps: when one does not fit before the end, a WRAP header sends the reader back to 0. The writer
 * never catches up with the reader (one record's gap), so equal indices mean empty.
 */
export enum RecordKind {
  /** Caller mu-law captured at atMs. */
  Caller = 1,
  /** Agent mu-law scheduled to play at atMs. */
  Agent = 2,
  /** Barge-in: agent audio scheduled at or after atMs was never heard (no payload). */
  Cut = 3,
  /** The rest of the data area is unused: continue at 0. */
  Wrap = 4,
}

const CONTROL_BYTES = 16;
const HEADER_BYTES = 16;
const W = 0;
const R = 1;

/**
 * How often the recording thread reads the rings. 100 ms, not the 20 ms it was: the thread woke 50
 * times a second to read a frame or two per call; a fifth as many wake-ups cost its CPU about a
 * third less at 100 calls (docs/benchmarks/bridge.md, "The recording thread reads every 100 ms"),
 * and 100 ms is well inside the recorder's 500 ms jitter window.
 */
export const READ_INTERVAL_MS = 100;

/**
 * Default ring: ~1 s of both sides at 8 kHz mu-law, ten times what arrives between two reads of
 * the recording thread (READ_INTERVAL_MS); a longer burst waits in LiveRecording's backlog. 16 KB,
 * not the 32 KB it was: the ring is per call (docs/benchmarks/bridge.md, "Per-call memory of a recording").
 */
export const DEFAULT_RING_BYTES = 16 * 1024;

function padded(length: number): number {
  return HEADER_BYTES + ((length + 15) & ~15);
}

class RingViews {
  readonly control: Int32Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  readonly bytes: Buffer;
  readonly capacity: number;

  constructor(readonly buffer: SharedArrayBuffer) {
    if (buffer.byteLength <= CONTROL_BYTES + 4 * HEADER_BYTES || buffer.byteLength % 16 !== 0) {
      throw new RangeError('a frame ring needs a SharedArrayBuffer of a multiple of 16 bytes, at least 96');
    }
    this.capacity = buffer.byteLength - CONTROL_BYTES;
    this.control = new Int32Array(buffer, 0, 2);
    this.u32 = new Uint32Array(buffer, CONTROL_BYTES);
    this.f64 = new Float64Array(buffer, CONTROL_BYTES);
    this.bytes = Buffer.from(buffer, CONTROL_BYTES, this.capacity);
  }
}

/** The main thread's end. */
export class FrameRingWriter {
  private readonly v: RingViews;
  /** The largest payload one record carries; longer audio is split. */
  readonly maxPayload: number;
  private w = 0;
  /**
   * The reader's index as last loaded. The reader only ever moves it towards w, so room reckoned
   * from an old value is room that is really free: the shared index is loaded again only when the
   * old value says a record does not fit (about once per ring's worth of audio, not once per frame:
   * an Atomics.load per frame was 1.4 % of the main thread at 100 calls, docs/benchmarks/bridge.md).
   */
  private r = 0;

  constructor(buffer: SharedArrayBuffer) {
    this.v = new RingViews(buffer);
    this.w = Atomics.load(this.v.control, W);
    this.r = Atomics.load(this.v.control, R);
    this.maxPayload = Math.floor(this.v.capacity / 4) & ~15;
  }

  static allocate(bytes = DEFAULT_RING_BYTES): SharedArrayBuffer {
    return new SharedArrayBuffer(CONTROL_BYTES + bytes);
  }

  /** Empties a ring whose reader is gone, for reuse by another call. */
  static reset(buffer: SharedArrayBuffer): void {
    const control = new Int32Array(buffer, 0, 2);
    Atomics.store(control, W, 0);
    Atomics.store(control, R, 0);
  }

  /**
   * Appends mu-law audio (8 kHz: byte i plays at atMs + i / 8), split into records of at most
   * maxPayload bytes. Returns how many bytes went in: fewer than data.length when the ring filled up.
   */
  audio(kind: RecordKind.Caller | RecordKind.Agent, data: Uint8Array, atMs: number): number {
    let offset = 0;
    while (offset < data.length) {
      const length = Math.min(this.maxPayload, data.length - offset);
      const at = this.reserve(length);
      if (at < 0) break;
      this.v.bytes.set(length === data.length ? data : data.subarray(offset, offset + length), at + HEADER_BYTES);
      this.publish(at, kind, length, atMs + offset / 8);
      offset += length;
    }
    return offset;
  }

  /** Appends audio given as base64 of `length` bytes, decoded straight into the ring; false when full. */
  base64(kind: RecordKind.Caller | RecordKind.Agent, base64: string, length: number, atMs: number): boolean {
    if (length > this.maxPayload) return false;
    const at = this.reserve(length);
    if (at < 0) return false;
    const written = this.v.bytes.write(base64, at + HEADER_BYTES, length, 'base64');
    this.publish(at, kind, written, atMs);
    return true;
  }

  /** Appends a barge-in cut at atMs; false when full. */
  cut(atMs: number): boolean {
    const at = this.reserve(0);
    if (at < 0) return false;
    this.publish(at, RecordKind.Cut, 0, atMs);
    return true;
  }

  /** Where a record of `length` payload bytes goes (writing a WRAP first if needed), or -1 when full. */
  private reserve(length: number): number {
    const size = padded(length);
    const at = this.place(size, this.r);
    if (at >= 0) return at;
    const r = Atomics.load(this.v.control, R);
    if (r === this.r) return -1;
    this.r = r;
    return this.place(size, r);
  }

  /** reserve() against the reader's index `r`. */
  private place(size: number, r: number): number {
    const capacity = this.v.capacity;
    let w = this.w;
    if (w >= r) {
      const end = w + size;
      if (end < capacity || (end === capacity && r !== 0)) return w;
      // Does not fit before the end: wrap, if the start has room (and the gap stays).
      if (size >= r) return -1;
      this.v.u32[w >> 2] = RecordKind.Wrap;
      this.v.u32[(w >> 2) + 1] = 0;
      w = 0;
      this.w = 0;
      return w;
    }
    return w + size < r ? w : -1;
  }

  private publish(at: number, kind: RecordKind, length: number, atMs: number): void {
    const v = this.v;
    v.u32[at >> 2] = kind;
    v.u32[(at >> 2) + 1] = length;
    v.f64[(at >> 3) + 1] = atMs;
    let next = at + padded(length);
    if (next === v.capacity) next = 0;
    this.w = next;
    Atomics.store(v.control, W, next);
  }
}

/** The recording thread's end. */
export class FrameRingReader {
  private readonly v: RingViews;

  constructor(buffer: SharedArrayBuffer) {
    this.v = new RingViews(buffer);
  }

  /**
   * Hands every published record to `onRecord` in order (the payload is a view into the ring, valid
   * only during the call), then frees their space. Returns how many records were read.
   */
  read(onRecord: (kind: RecordKind, payload: Uint8Array, atMs: number) => void): number {
    const v = this.v;
    const w = Atomics.load(v.control, W);
    let r = Atomics.load(v.control, R);
    let count = 0;
    while (r !== w) {
      const kind = v.u32[r >> 2] as RecordKind;
      if (kind === RecordKind.Wrap) {
        r = 0;
        continue;
      }
      const length = v.u32[(r >> 2) + 1];
      const atMs = v.f64[(r >> 3) + 1];
      onRecord(kind, v.bytes.subarray(r + HEADER_BYTES, r + HEADER_BYTES + length), atMs);
      count++;
      r += padded(length);
      if (r === v.capacity) r = 0;
    }
    Atomics.store(v.control, R, r);
    return count;
  }
}
