/**
 * The Realtime client's options, events, stats and reconnect backoff (realtime-client.ts).
 */
import type { Logger } from '../../logging/logger';
import type { AudioFormatName, RealtimeClientEvent, RealtimeServerEvent } from './protocol';

export type RealtimeClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed' | 'failed';

export interface ReconnectPolicy {
  /** Reconnect attempts after a drop (0 = give up at once). */
  attempts: number;
  /** Backoff ceiling of the first attempt; doubles each attempt. */
  baseMs: number;
  /** Upper bound of any backoff delay. */
  maxMs: number;
}

export interface RealtimeOpenInfo {
  /** True when a session was open before on this client (the conversation must be re-created). */
  reconnect: boolean;
  /** Attempt number that succeeded: 0 for a first try or a planned replacement. */
  attempt: number;
  /** True for a planned replacement (replaceSession). */
  replacement: boolean;
}

export interface RealtimeClientOptions {
  url: string;
  model: string;
  apiKey?: string;
  logger: Logger;
  reconnect: ReconnectPolicy;
  /** A connect that does not complete in this time counts as a failed attempt. Default 10 000. */
  connectTimeoutMs?: number;
  /** No server message for this long while a response is pending/in progress → treated as a drop. */
  idleTimeoutMs?: number;
  /**
   * Send a WebSocket ping this often while open; a ping not answered by the next one means the
   * connection is dead (a network black hole between responses, which idleTimeoutMs cannot see).
   * Default 10 000; 0 disables.
   */
  keepaliveMs?: number;
  /** Caller audio kept while disconnected. Default 2000. */
  maxBufferedAudioMs?: number;
  /** Format of appended audio, to size the buffer in ms. Default 'pcmu'. */
  audioFormat?: AudioFormatName;
  /** Non-audio events kept while disconnected. Default 1000; beyond, the oldest are dropped. */
  maxQueuedEvents?: number;
  /** Called on every (re)connect; its messages are sent first, before anything queued. */
  onOpen: (info: RealtimeOpenInfo) => RealtimeClientEvent[];
  /** Randomness for the jitter (tests). Default Math.random. */
  random?: () => number;
}

export interface RealtimeClientStats {
  /** Successful reconnects after a drop. */
  reconnects: number;
  /** Connection attempts made after drops (successful or not). */
  reconnectAttempts: number;
  /** Planned replacements completed (replaceSession). */
  replacements: number;
  audioFramesSent: number;
  /** Frames queued while disconnected (cumulative). */
  audioFramesBuffered: number;
  /** Frames dropped because the buffer was full or the client was closed/failed (cumulative). */
  audioFramesDropped: number;
  eventsDropped: number;
  protocolErrors: number;
  messagesIn: number;
  messagesOut: number;
}

export interface RealtimeClientEvents {
  open: [RealtimeOpenInfo];
  /** Every server event but agent audio, parsed and checked (parseServerEvent). */
  event: [RealtimeServerEvent];
  /** Agent audio (`response.output_audio.delta`, or its beta name), decoded: its item, response and bytes. */
  audio: [itemId: string, responseId: string, audio: Buffer];
  reconnecting: [{ attempt: number; delayMs: number; reason: string }];
  replaced: [{ reason: string }];
  'replace-failed': [{ reason: string; error: string }];
  failed: [{ reason: string; attempts: number }];
  'protocol-error': [{ reason: string }];
  closed: [];
}

/** Full-jitter exponential backoff: uniform in [0, min(maxMs, baseMs * 2^(attempt-1))]. */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
