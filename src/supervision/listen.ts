/**
 * Listen in: supervisors hear a live call as a stream of 16-bit PCM at 8 kHz, mono
 * (`audio/L16; rate=8000; channels=1`), of one side (`caller`, `agent`) or both mixed (`both`).
 *
 * The call's own audio path only hands each frame to the tap (Conversation.audioTap, unset while
 * nobody listens). The tap follows what the caller hears, on the call's clock: it is paced by the
 * caller's frames (real time, 20 ms), and agent audio, which the engine sends ahead of playback,
 * waits (bounded, 30 s) until the call time the playout placed it at, as the recording does. A
 * barge-in cuts it where the caller's channel dropped its queue (`cut`), so listeners never hear the
 * cut-off rest of an answer, nor hear it earlier than the caller does. Audio goes out in blocks of
 * 100 ms (one write per listener and block, one buffer per side shared by its listeners) rather than
 * a write per 20 ms frame: ten listeners cost the call's thread 100 writes a second, not 500. A
 * listener whose connection cannot keep up (over 32 KiB unsent, ~2 s) is dropped; the call never
 * waits for anyone. Every listen is on the call's timeline: who, which side, started and stopped.
 */
import type { ServerResponse } from 'node:http';
import { decodeAlaw, decodeMulaw } from '../audio/g711';
import type { AudioFormat } from '../conversation/audio-format';
import type { ConversationAudioTap } from '../conversation/conversation';

export const LISTEN_SIDES = ['both', 'caller', 'agent'] as const;
export type ListenSide = (typeof LISTEN_SIDES)[number];
export const LISTEN_CONTENT_TYPE = 'audio/L16; rate=8000; channels=1';
export const MAX_LISTENERS_PER_CALL = 10;
/** Unsent bytes beyond which a listener is too slow and is dropped (~2 s of audio). */
export const MAX_LISTENER_BACKLOG_BYTES = 32 * 1024;
/** Agent audio kept ahead of the caller's clock (30 s, ~480 KB while anyone listens). */
const AGENT_BUFFER_SAMPLES = 30 * 8000;
/** Samples per write to listeners (100 ms at 8 kHz): well inside the 500 ms listen-delay budget. */
export const LISTEN_BLOCK_SAMPLES = 800;

export interface Listener {
  res: ServerResponse;
  side: ListenSide;
  by: string;
  startedAt: number;
  /** Called once when the listener is removed: 'client' (it left), 'slow', 'call-ended'. */
  onEnd: (reason: 'client' | 'slow' | 'call-ended') => void;
}

/** Any supported channel format to PCM16 at 8 kHz (G.711 decoded; PCM16 decimated to 8 kHz). */
export function toPcm8k(bytes: Buffer, format: AudioFormat): Int16Array {
  if (format.encoding === 'pcmu') return decodeMulaw(bytes);
  if (format.encoding === 'pcma') return decodeAlaw(bytes);
  const samples = new Int16Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.length / 2));
  const step = Math.max(1, Math.round(format.sampleRateHz / 8000));
  if (step === 1) return Int16Array.from(samples);
  const out = new Int16Array(Math.floor(samples.length / step));
  for (let i = 0; i < out.length; i++) out[i] = samples[i * step];
  return out;
}

/** A side's audio not yet written, as its own buffer (the block itself is reused). */
function pendingAudio(block: { samples: Int16Array; used: number }): Buffer {
  return Buffer.from(block.samples.slice(0, block.used).buffer);
}

export class CallListenTap implements ConversationAudioTap {
  private readonly members = new Set<Listener>();
  get listeners(): ReadonlySet<Listener> {
    return this.members;
  }
  /** Agent audio not yet reached by the caller's clock, in play order, each at its call-time sample. */
  private agentChunks: { at: number; samples: Int16Array }[] = [];
  private agentSamples = 0;
  /** Per side: audio not yet written (up to one block) and how many listeners hear that side. */
  private readonly blocks: Record<ListenSide, { samples: Int16Array; used: number; listeners: number }> = {
    both: { samples: new Int16Array(LISTEN_BLOCK_SAMPLES), used: 0, listeners: 0 },
    caller: { samples: new Int16Array(LISTEN_BLOCK_SAMPLES), used: 0, listeners: 0 },
    agent: { samples: new Int16Array(LISTEN_BLOCK_SAMPLES), used: 0, listeners: 0 },
  };
  dropped = 0;

  caller(bytes: Buffer, format: AudioFormat, atMs: number): void {
    if (this.listeners.size === 0) return;
    const caller = toPcm8k(bytes, format);
    const agent = this.takeAgent(Math.round(atMs * 8), caller.length);
    const n = caller.length;
    for (const side of LISTEN_SIDES) {
      const block = this.blocks[side];
      if (block.listeners === 0) continue;
      const out = block.samples;
      for (let off = 0; off < n;) {
        const at = block.used;
        const k = Math.min(n - off, LISTEN_BLOCK_SAMPLES - at);
        if (side === 'caller') out.set(caller.subarray(off, off + k), at);
        else if (side === 'agent') out.set(agent.subarray(off, off + k), at);
        else
          for (let i = 0; i < k; i++) out[at + i] = Math.max(-32768, Math.min(32767, caller[off + i] + agent[off + i]));
        block.used += k;
        off += k;
        if (block.used === LISTEN_BLOCK_SAMPLES) this.flush(side);
      }
    }
  }

  /** A listener joins (the routes add it to `listeners` through here so the side's block is kept). */
  add(l: Listener): void {
    if (this.members.has(l)) return;
    this.members.add(l);
    this.blocks[l.side].listeners++;
  }

  /** The side's pending block goes to each of its listeners as one shared buffer. */
  private flush(side: ListenSide): void {
    const block = this.blocks[side];
    if (block.used === 0) return;
    const copy = pendingAudio(block);
    block.used = 0;
    for (const l of this.listeners) if (l.side === side) this.send(l, copy);
  }

  agent(bytes: Buffer, format: AudioFormat, playAtMs: number): void {
    if (this.listeners.size === 0) return;
    const samples = toPcm8k(bytes, format);
    this.agentChunks.push({ at: Math.round(playAtMs * 8), samples });
    this.agentSamples += samples.length;
    // Bounded: beyond it the newest audio is not kept (the listener hears a gap, the call nothing).
    while (this.agentSamples > AGENT_BUFFER_SAMPLES && this.agentChunks.length > 1) {
      this.agentSamples -= this.agentChunks.pop()!.samples.length;
    }
  }

  /**
   * Barge-in at call time atMs: the caller's channel dropped the agent audio it had queued, so the
   * listeners must not hear it either: agent audio scheduled from atMs on goes.
   */
  cut(atMs: number): void {
    const at = Math.round(atMs * 8);
    const kept: { at: number; samples: Int16Array }[] = [];
    let total = 0;
    for (const c of this.agentChunks) {
      if (c.at >= at) continue;
      const samples = c.at + c.samples.length > at ? c.samples.subarray(0, at - c.at) : c.samples;
      kept.push({ at: c.at, samples });
      total += samples.length;
    }
    this.agentChunks = kept;
    this.agentSamples = total;
  }

  /** The agent audio playing in samples [from, from + n) of the call, silence where none. */
  private takeAgent(from: number, n: number): Int16Array {
    const out = new Int16Array(n);
    const to = from + n;
    while (this.agentChunks.length > 0) {
      const c = this.agentChunks[0];
      if (c.at >= to) break;
      const a = Math.max(from, c.at);
      const b = Math.min(to, c.at + c.samples.length);
      if (b > a) out.set(c.samples.subarray(a - c.at, b - c.at), a - from);
      if (c.at + c.samples.length > to) break;
      this.agentChunks.shift();
      this.agentSamples -= c.samples.length;
    }
    return out;
  }

  private send(l: Listener, block: Buffer): void {
    if (l.res.writableLength > MAX_LISTENER_BACKLOG_BYTES) {
      this.dropped++;
      this.remove(l, 'slow');
      l.res.destroy();
      return;
    }
    l.res.write(block);
  }

  remove(l: Listener, reason: 'client' | 'slow' | 'call-ended'): void {
    if (!this.listeners.has(l)) return;
    const block = this.blocks[l.side];
    // The call ended: what is pending of the listener's side still reaches it before the end.
    if (reason === 'call-ended' && block.used > 0 && !l.res.destroyed) l.res.write(pendingAudio(block));
    this.members.delete(l);
    if (--block.listeners === 0) block.used = 0;
    if (this.listeners.size === 0) {
      this.agentChunks = [];
      this.agentSamples = 0;
    }
    l.onEnd(reason);
  }
}
