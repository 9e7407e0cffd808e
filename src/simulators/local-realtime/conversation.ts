/**
 * One session's conversation as the local Realtime server keeps it: the item chain, what the caller
 * said, the declared tools, and the token accounting behind each response's plausible `usage`.
 */
import type { RealtimeUsage, ToolDefinition } from '../../engines/realtime/protocol';

export class ConversationState {
  lastItemId: string | null = null;
  readonly knownItems = new Set<string>();
  /** Bytes of audio sent per assistant item (truncate checks). */
  readonly assistantAudioBytes = new Map<string, number>();
  tools: ToolDefinition[] = [];
  callerTurns = 0;
  lastCallerText = '';
  /** Everything the caller said in this session (transcripts and user text items), for out-of-band answers. */
  readonly callerTexts: string[] = [];
  audioMs = 0;
  /** A supervisor's whisper not yet reflected in a reply (replies.ts, supervisorNoteOf). */
  supervisorNote: string | undefined;
  textChars = 0;
  private lastInputTokens = 0;

  /** Appends an item to the chain; returns the id of the item before it. */
  append(itemId: string): string | null {
    const previous = this.lastItemId;
    this.lastItemId = itemId;
    this.knownItems.add(itemId);
    return previous;
  }

  /** Plausible usage: ~10 audio tokens per second, ~4 characters per text token, prefix cache. */
  usageFor(outputTextTokens: number, outputAudioMs: number): RealtimeUsage {
    const audioTokens = Math.round(this.audioMs / 100);
    const textTokens = Math.ceil(this.textChars / 4) + 8;
    const inputTokens = audioTokens + textTokens;
    const cached = Math.min(this.lastInputTokens, inputTokens) - (Math.min(this.lastInputTokens, inputTokens) % 64);
    this.lastInputTokens = inputTokens;
    const outAudio = Math.round(outputAudioMs / 100);
    const outputTokens = outAudio + outputTextTokens;
    return {
      total_tokens: inputTokens + outputTokens,
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      input_token_details: { audio_tokens: audioTokens, text_tokens: textTokens, cached_tokens: cached },
      output_token_details: { audio_tokens: outAudio, text_tokens: outputTextTokens },
    };
  }
}
