/**
 * The JetStream side of the cluster event bus (src/cluster/nats/bus.ts): creating or updating the
 * `<PREFIX>_EVENTS` stream at start, and reading a range of it back for an SSE client that reconnects
 * with Last-Event-ID (on any instance).
 *
 * The stream keeps events by limits only (max age, max messages, max bytes; the oldest go first), on
 * file storage, with a 2-minute duplicate window so a publish retried after a lost ack (same msgID) is
 * stored once. Reading uses an ordered consumer (ephemeral, flow-controlled, no acks) started at the
 * wanted sequence; it tells when the stream no longer holds the start of the range.
 */
import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Logger } from '../../logging/logger';
import { streamName, streamSubjects } from './bus-codec';

export interface StreamLimits {
  /** How long the stream keeps an event (default 1 h). */
  maxAgeMs?: number;
  /** Most events kept (default 1,000,000). */
  maxMsgs?: number;
  /** Most bytes kept (default 1 GiB). */
  maxBytes?: number;
  /** Replicas in a clustered NATS (default 1). */
  replicas?: number;
}

export const DEFAULT_STREAM_LIMITS = {
  maxAgeMs: 60 * 60 * 1000,
  maxMsgs: 1_000_000,
  maxBytes: 1024 * 1024 * 1024,
  replicas: 1,
} as const;

/** JetStream's code for "stream name already in use with a different configuration". */
const STREAM_NAME_IN_USE = 10058;

export function eventStreamConfig(prefix: string, limits: StreamLimits = {}): Partial<StreamConfig> & { name: string } {
  const l = { ...DEFAULT_STREAM_LIMITS, ...limits };
  return {
    name: streamName(prefix),
    description: 'Switchboard call events of every instance (src/cluster/nats/bus.ts)',
    subjects: streamSubjects(prefix),
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(l.maxAgeMs),
    max_msgs: l.maxMsgs,
    max_bytes: l.maxBytes,
    max_msg_size: 1024 * 1024,
    duplicate_window: nanos(Math.min(120_000, l.maxAgeMs)),
    num_replicas: l.replicas,
  };
}

/** Creates the stream, or updates its limits when it exists with other settings. Returns its last sequence. */
export async function ensureEventStream(
  jsm: JetStreamManager,
  prefix: string,
  limits: StreamLimits,
  logger: Logger,
): Promise<number> {
  const config = eventStreamConfig(prefix, limits);
  const name = config.name;
  try {
    const info = await jsm.streams.add(config);
    return info.state.last_seq;
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NAME_IN_USE) throw err;
  }
  const info = await jsm.streams.update(name, config);
  logger.info('cluster event stream settings updated', { stream: name });
  return info.state.last_seq;
}

/**
 * Messages after `afterSeq` up to `uptoSeq` (inclusive). `complete` is false when the range is longer
 * than `cap`, when the stream no longer holds its first message, or when it ends early (purged).
 */
export async function readEventRange(
  js: JetStreamClient,
  stream: string,
  afterSeq: number,
  uptoSeq: number,
  options: { cap: number; timeoutMs: number },
): Promise<{ msgs: JsMsg[]; complete: boolean }> {
  if (uptoSeq <= afterSeq) return { msgs: [], complete: true };
  if (uptoSeq - afterSeq > options.cap) return { msgs: [], complete: false };
  const consumer = await js.consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: afterSeq + 1,
  });
  const messages = await consumer.consume({ max_messages: Math.min(uptoSeq - afterSeq, 1000) });
  const msgs: JsMsg[] = [];
  let complete = false;
  const timer = setTimeout(() => void messages.close(), options.timeoutMs);
  try {
    for await (const m of messages) {
      if (msgs.length === 0 && m.seq !== afterSeq + 1) break; // aged out of the stream
      msgs.push(m);
      if (m.seq >= uptoSeq) {
        complete = true;
        break;
      }
      if (m.info.pending === 0) break; // the stream ends before uptoSeq
    }
  } finally {
    clearTimeout(timer);
    await messages.close().catch(() => undefined);
  }
  return { msgs, complete };
}
