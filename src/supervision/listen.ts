/**
 * Listen in: supervisors hear a live call as a stream of 16-bit PCM at 8 kHz, mono
 * (`audio/L16; rate=8000; channels=1`), of one side (`caller`, `agent`) or both mixed (`both`).
 *
 * The call's own audio path only hands each frame to the tap (Conversation.audioTap, unset while
 * nobody listens). The tap is paced by the caller's frames (real time, 20 ms): agent audio, which
 * arrives ahead of playback, waits in a bounded buffer (3 s) and is mixed in at the caller's pace.
 * A listener whose connection cannot keep up (over 32 KiB unsent, ~2 s) is dropped; the call never
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
const AGENT_BUFFER_SAMPLES = 3 * 8000;

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

export class CallListenTap implements ConversationAudioTap {
  readonly listeners = new Set<Listener>();
  private agentChunks: Int16Array[] = [];
  private agentOffset = 0;
  private agentSamples = 0;
  dropped = 0;

  caller(bytes: Buffer, format: AudioFormat): void {
    if (this.listeners.size === 0) return;
    const caller = toPcm8k(bytes, format);
    const agent = this.takeAgent(caller.length);
    let both: Int16Array | undefined;
    for (const l of this.listeners) {
      let frame: Int16Array;
      if (l.side === 'caller') frame = caller;
      else if (l.side === 'agent') frame = agent;
      else {
        if (!both) {
          both = new Int16Array(caller.length);
          for (let i = 0; i < both.length; i++) both[i] = Math.max(-32768, Math.min(32767, caller[i] + agent[i]));
        }
        frame = both;
      }
      this.send(l, frame);
    }
  }

  agent(bytes: Buffer, format: AudioFormat): void {
    if (this.listeners.size === 0) return;
    const samples = toPcm8k(bytes, format);
    this.agentChunks.push(samples);
    this.agentSamples += samples.length;
    // Bounded: the oldest agent audio goes first.
    while (this.agentSamples - this.agentOffset > AGENT_BUFFER_SAMPLES && this.agentChunks.length > 1) {
      const first = this.agentChunks.shift()!;
      this.agentSamples -= first.length;
      this.agentOffset = 0;
    }
  }

  private takeAgent(n: number): Int16Array {
    const out = new Int16Array(n);
    let filled = 0;
    while (filled < n && this.agentChunks.length > 0) {
      const chunk = this.agentChunks[0];
      const take = Math.min(n - filled, chunk.length - this.agentOffset);
      out.set(chunk.subarray(this.agentOffset, this.agentOffset + take), filled);
      filled += take;
      this.agentOffset += take;
      if (this.agentOffset >= chunk.length) {
        this.agentChunks.shift();
        this.agentSamples -= chunk.length;
        this.agentOffset = 0;
      }
    }
    return out;
  }

  private send(l: Listener, frame: Int16Array): void {
    if (l.res.writableLength > MAX_LISTENER_BACKLOG_BYTES) {
      this.dropped++;
      this.remove(l, 'slow');
      l.res.destroy();
      return;
    }
    l.res.write(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
  }

  remove(l: Listener, reason: 'client' | 'slow' | 'call-ended'): void {
    if (!this.listeners.delete(l)) return;
    if (this.listeners.size === 0) {
      this.agentChunks = [];
      this.agentSamples = 0;
      this.agentOffset = 0;
    }
    l.onEnd(reason);
  }
}
