/**
 * Frame tags for the caller-side latency of `npm run bench`: a 32-bit id written into the audio
 * bytes of selected 20 ms frames, so that one frame can be matched across the bridge (which passes
 * G.711 mu-law through untouched) between the process that sends it and the process that receives
 * it, each stamping it on one clock (`now()`).
 *
 * A tag is 16 mu-law bytes: a 6-byte magic pattern, the id as 8 nibbles, and an 8-bit checksum as
 * 2 nibbles. Every byte is 0xF0 | nibble, i.e. a mu-law code of the smallest positive amplitudes
 * (at most 120 of 32,767, about -48 dBFS): the tag is near-silence, below any VAD threshold, and
 * takes 2 ms of a 20 ms frame.
 */
import { performance } from 'node:perf_hooks';

export const TAG_BYTES = 16;
const MAGIC = Buffer.from([0xfa, 0xf5, 0xfc, 0xf3, 0xf9, 0xf6]);
const ID_NIBBLES = 8;

/**
 * Milliseconds on a clock shared by every process on this machine: CLOCK_MONOTONIC (process.hrtime,
 * time since boot), which is one clock for the whole system and never stepped. (Until 2026-12-04
 * this was performance.timeOrigin + performance.now(): timeOrigin is the wall clock read when each
 * process starts, so an NTP correction between two processes' starts put a constant offset between
 * them; one burst run measured uplink p50 3.4 ms and downlink p50 -1.1 ms, a 2.7 ms skew.)
 */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * CLOCK_MONOTONIC at this process's performance.now() zero, taken once. Both read the same clock,
 * but the first reading of each initializes it (up to 2.5 ms here: a zero taken from the first
 * readings put every receive stamp of a process 1–2.5 ms off), so both are read once first, and the
 * zero comes from the tightest of ten now()/performance.now()/now() brackets (agreement ~0.02 ms).
 */
function perfZeroMs(): number {
  now();
  performance.now();
  let widest = Infinity;
  let zero = 0;
  for (let i = 0; i < 10; i++) {
    const before = now();
    const perf = performance.now();
    const after = now();
    if (after - before < widest) {
      widest = after - before;
      zero = (before + after) / 2 - perf;
    }
  }
  return zero;
}
const PERF_ZERO_MS = perfZeroMs();

/** Converts a performance.now() reading of this process to the shared clock. */
export function fromPerfNow(perfNowMs: number): number {
  return PERF_ZERO_MS + perfNowMs;
}

/** Writes the tag for `id` (0..2^32-1) into buf at offset (needs TAG_BYTES bytes). */
export function writeTag(buf: Buffer, offset: number, id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`tag id out of range: ${id}`);
  if (offset < 0 || offset + TAG_BYTES > buf.length) throw new RangeError('tag does not fit');
  MAGIC.copy(buf, offset);
  let sum = 0;
  for (let i = 0; i < ID_NIBBLES; i++) {
    const nibble = Math.floor(id / 16 ** (ID_NIBBLES - 1 - i)) & 0xf;
    sum += nibble;
    buf[offset + MAGIC.length + i] = 0xf0 | nibble;
  }
  buf[offset + MAGIC.length + ID_NIBBLES] = 0xf0 | ((sum >> 4) & 0xf);
  buf[offset + MAGIC.length + ID_NIBBLES + 1] = 0xf0 | (sum & 0xf);
}

/** Reads a tag at offset; -1 when there is none (no magic, bad byte or checksum). */
function readAt(buf: Buffer, offset: number): number {
  if (offset + TAG_BYTES > buf.length) return -1;
  for (let i = 0; i < MAGIC.length; i++) if (buf[offset + i] !== MAGIC[i]) return -1;
  let id = 0;
  let sum = 0;
  for (let i = 0; i < ID_NIBBLES + 2; i++) {
    const b = buf[offset + MAGIC.length + i];
    if ((b & 0xf0) !== 0xf0) return -1;
    const nibble = b & 0xf;
    if (i < ID_NIBBLES) {
      id = id * 16 + nibble;
      sum += nibble;
    } else if (nibble !== (i === ID_NIBBLES ? (sum >> 4) & 0xf : sum & 0xf)) {
      return -1;
    }
  }
  return id;
}

/** Calls fn(id) for every tag in buf (anywhere: the reader does not assume frame alignment). */
export function readTags(buf: Buffer, fn: (id: number) => void): void {
  let from = 0;
  for (;;) {
    const at = buf.indexOf(MAGIC, from);
    if (at < 0) return;
    const id = readAt(buf, at);
    if (id >= 0) {
      fn(id);
      from = at + TAG_BYTES;
    } else {
      from = at + 1;
    }
  }
}

/** The first tag in buf, or -1. */
export function readTag(buf: Buffer): number {
  let found = -1;
  readTags(buf, (id) => {
    if (found < 0) found = id;
  });
  return found;
}

/** A copy of a base64 frame with the tag for `id` written at its start. */
export function tagBase64Frame(payloadB64: string, id: number): string {
  const bytes = Buffer.from(payloadB64, 'base64');
  writeTag(bytes, 0, id);
  return bytes.toString('base64');
}

/** Send times by id (ids are small consecutive integers from 1): a growable Float64Array, NaN = none. */
export class SendTimes {
  private times = new Float64Array(1024).fill(NaN);
  private top = 0;

  set(id: number, t: number): void {
    if (id >= this.times.length) {
      const bigger = new Float64Array(Math.max(id + 1, this.times.length * 2)).fill(NaN);
      bigger.set(this.times);
      this.times = bigger;
    }
    this.times[id] = t;
    if (id >= this.top) this.top = id + 1;
  }

  /** Plain array for IPC/JSON (index = id; null = none). */
  toJSON(): (number | null)[] {
    return Array.from(this.times.subarray(0, this.top), (t) => (Number.isNaN(t) ? null : t));
  }
}
