/**
 * A human as the call's agent engine: a supervisor who took the call over in their browser's
 * softphone (take-over-softphone.ts). The call core keeps driving "the agent" through the one
 * AgentEngine seam, so nothing else changes for the caller's channel, the recording, listeners in
 * or the timeline:
 * - caller audio (appendAudio, already converted by the seam to PCM16/48 kHz) is queued to the
 *   supervisor's peer connection, which paces it to their browser;
 * - the supervisor's microphone (the peer's 20 ms PCM16/48 kHz frames) comes out as `agent-audio`
 *   of one agent item, which the seam converts once to the caller's format.
 * There is no model: responses, truncation and cancelling are no-ops, `ask` is absent (summaries
 * and sentiment fall back to the transcript), and whispered context is shown on the softphone's
 * control channel instead.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { PCM16_48K, type AudioFormat } from '../conversation/audio-format';
import type { AgentEngine, AgentEngineEvents } from '../conversation/engine';
import type { CallerAudioFrame } from '../conversation/channel';

/** What the engine needs of the supervisor's peer (a WebRtcChannel). */
export interface HumanPeer {
  on(event: 'audio', listener: (frame: CallerAudioFrame) => void): unknown;
  off(event: 'audio', listener: (frame: CallerAudioFrame) => void): unknown;
  sendAudio(chunk: Buffer, marker: string): void;
  sendText?(text: string, role: 'agent' | 'caller'): void;
  end(reason: string): void;
}

export class HumanEngine extends EventEmitter<AgentEngineEvents> implements AgentEngine {
  readonly kind = 'human';
  readonly inputFormat: AudioFormat = PCM16_48K;
  readonly outputFormat: AudioFormat = PCM16_48K;
  readonly reconnecting = false;
  /** The supervisor's speech, as one agent item for the rest of the call. */
  readonly itemId = `human_${randomUUID()}`;
  private closed = false;
  private readonly onMicrophone = (frame: CallerAudioFrame): void => {
    if (!this.closed) this.emit('agent-audio', this.itemId, undefined, frame.bytes, frame.receivedAt);
  };

  constructor(private readonly peer: HumanPeer) {
    super();
    peer.on('audio', this.onMicrophone);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  appendAudio(bytes: Buffer): void {
    if (!this.closed) this.peer.sendAudio(bytes, '');
  }

  sendText(text: string): void {
    this.peer.sendText?.(text, 'caller');
  }

  addContext(text: string): void {
    this.peer.sendText?.(`[supervisor note] ${text}`, 'agent');
  }

  truncate(): void {}

  cancel(): void {}

  sendToolResult(): void {}

  createResponse(): void {}

  /** The call ended: the supervisor's softphone is told (`ended`) and its peer closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.peer.off('audio', this.onMicrophone);
    this.peer.end('call-ended');
  }
}
