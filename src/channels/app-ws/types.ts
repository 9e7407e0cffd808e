/** What the app WebSocket channels need from the server (wired by the channel module). */
import type { ConversationMode } from '../../conversation/engine';
import type { CallerChannel, ChannelStart } from '../../conversation/channel';

export interface ConversationRequest {
  mode: ConversationMode;
  /** The agent profile (a session token fixes it; otherwise the default). */
  profile?: string;
  languageHint?: string;
}

/**
 * Starts a conversation (a call record with transcripts, events and, for voice, a recording) over
 * the channel; resolves with the call's id. Rejects with an ApiError `unavailable` when the server
 * is full or draining.
 */
export type ConversationStarter = (
  channel: CallerChannel,
  start: ChannelStart,
  request: ConversationRequest,
) => Promise<{ callId: string }>;

export interface AppWsCounters {
  connections: number;
  accepted: number;
  /** Upgrades refused, by reason (auth, capacity). */
  refused: Record<string, number>;
  /** Bad client messages answered with an `error`, by code. */
  protocolErrors: Record<string, number>;
  conversations: number;
  /** Agent audio dropped because a client read too slowly. */
  droppedAudioChunks: number;
}
