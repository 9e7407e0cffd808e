/**
 * GET /api/status: live call activity as Server-Sent Events.
 *
 * On connect the client gets `retry: 2000` and an event `snapshot` ({ activeCalls, stats }: `stats`
 * maps an active call's id to its last `call.stats`, so a page opened mid-call shows latency and
 * interruptions at once) whose id is the bus's last id; then every bus event as `id: N` / `event: <type>` / `data: {id,type,at,data}`.
 * A reconnecting client (Last-Event-ID header, or `?lastEventId=` for clients that cannot set
 * headers) is replayed what it missed from the bus's ring instead; when the ring no longer holds
 * those events (or the id is from before a restart) it gets a fresh snapshot. Comment lines
 * `: ping` keep proxies from closing an idle stream. A client that stops reading is disconnected
 * once too much is queued for it (it reconnects and is replayed what it missed).
 *
 * Clustered (NATS_URL: the bus has a `cluster` feed, src/cluster/nats/bus.ts), the stream carries
 * every instance's events in the cluster stream's order: `id:` is the JetStream stream sequence and
 * `data` also names the `instance` the event happened on. Last-Event-ID then works on any instance:
 * the missed events are read back from the stream (up to the bus's replay cap); an id the stream no
 * longer holds, or one from another stream, gets a fresh snapshot as with the ring. The snapshot's
 * `activeCalls` are this instance's calls.
 *
 * Open streams are capped in total and per API token (per client IP when the API is open):
 * SSE_MAX_CLIENTS / SSE_MAX_CLIENTS_PER_TOKEN; one more is a 429 JSON error. The count is in
 * /metrics (`switchboard_sse_clients`).
 */
import type { Request, RequestHandler, Response } from 'express';
import type { ApiDeps } from './api-deps';
import type { AnyBusEvent, ClusterBusEvent, ClusterFeed, EventBus, LiveCallStats } from '../events/event-bus';
import { ApiError, sendError } from './errors';
import { createHash } from 'node:crypto';
import { bearerToken, queryToken } from './auth';

export const DEFAULT_HEARTBEAT_MS = 15_000;
export const SSE_RETRY_MS = 2000;
/** Bytes queued for one slow client before it is cut off. */
export const MAX_SSE_BUFFER_BYTES = 1024 * 1024;

/** Default caps of open streams (SSE_MAX_CLIENTS, SSE_MAX_CLIENTS_PER_TOKEN). */
export const DEFAULT_SSE_MAX_CLIENTS = 100;
export const DEFAULT_SSE_MAX_CLIENTS_PER_TOKEN = 20;

/** Open SSE streams, counted in total and per key (a token's hash, or the client IP). */
export class SseClients {
  private open = 0;
  private readonly perKey = new Map<string, number>();

  constructor(
    readonly maxTotal = DEFAULT_SSE_MAX_CLIENTS,
    readonly maxPerKey = DEFAULT_SSE_MAX_CLIENTS_PER_TOKEN,
  ) {}

  /** Streams open now. */
  get count(): number {
    return this.open;
  }

  /** Takes a slot for `key`: a release function (idempotent), or which cap is full. */
  acquire(key: string): (() => void) | 'total' | 'per-key' {
    if (this.open >= this.maxTotal) return 'total';
    const mine = this.perKey.get(key) ?? 0;
    if (mine >= this.maxPerKey) return 'per-key';
    this.open++;
    this.perKey.set(key, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
      const left = (this.perKey.get(key) ?? 1) - 1;
      if (left > 0) this.perKey.set(key, left);
      else this.perKey.delete(key);
    };
  }
}

/**
 * Whose stream this is, for the per-token cap: the token (hashed; it was checked in front of the
 * route), else the client IP. When the API is open any string passes as a token, so the IP counts.
 */
function clientKey(req: Request, tokensRequired: boolean): string {
  const token = tokensRequired ? (bearerToken(req.headers.authorization) ?? queryToken(req.query)) : undefined;
  if (token) return `token:${createHash('sha256').update(token).digest('hex').slice(0, 32)}`;
  return `ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`;
}

export interface SseOptions {
  heartbeatMs?: number;
  /** Shared counter of open streams (app.ts exposes its count in /metrics); default: one per handler. */
  clients?: SseClients;
}

/** One SSE message. Multi-line data is split into several `data:` lines as the format requires. */
export function formatSseMessage(message: { id?: number; event?: string; data: unknown }): string {
  let out = '';
  if (message.id !== undefined) out += `id: ${message.id}\n`;
  if (message.event !== undefined) out += `event: ${message.event}\n`;
  for (const line of JSON.stringify(message.data).split('\n')) out += `data: ${line}\n`;
  return `${out}\n`;
}

/** Last-Event-ID header or ?lastEventId=; undefined when absent. A malformed value is a 400. */
export function readLastEventId(req: Request): number | undefined {
  const header = req.headers['last-event-id'];
  const fromQuery = (req.query as Record<string, unknown>).lastEventId;
  const raw = typeof header === 'string' && header.trim() !== '' ? header.trim() : fromQuery;
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw))
    throw ApiError.invalid('lastEventId', 'must be a non-negative whole number (the id of the last event received)');
  return Number(raw);
}

const busMessage = (event: AnyBusEvent): string =>
  formatSseMessage({
    id: event.id,
    event: event.type,
    data: { id: event.id, type: event.type, at: event.at, data: event.data },
  });

const clusterMessage = (event: ClusterBusEvent): string =>
  formatSseMessage({
    id: event.seq,
    event: event.type,
    data: { id: event.seq, type: event.type, at: event.at, data: event.data, instance: event.origin },
  });

/**
 * The last `call.stats` of each call, fed by the bus, for snapshots. An entry goes with `call.ended`;
 * one that outlives its call (a late event) is dropped at the next snapshot.
 */
export class LiveStatsCache {
  private static readonly perBus = new WeakMap<object, LiveStatsCache>();
  private readonly last = new Map<string, LiveCallStats>();

  /** One cache (one bus listener) per bus, however many routers serve it. */
  static for(bus: Pick<EventBus, 'subscribe'>): LiveStatsCache {
    let cache = LiveStatsCache.perBus.get(bus);
    if (!cache) {
      cache = new LiveStatsCache(bus);
      LiveStatsCache.perBus.set(bus, cache);
    }
    return cache;
  }

  private constructor(bus: Pick<EventBus, 'subscribe'>) {
    bus.subscribe((event) => {
      if (event.type === 'call.stats') this.last.set(event.data.callId, event.data.stats);
      else if (event.type === 'call.ended') this.last.delete(event.data.call.id);
    });
  }

  /** Stats of these (active) calls, keyed by call id; calls without stats yet are left out. */
  forCalls(callIds: readonly string[]): Record<string, LiveCallStats> {
    const ids = new Set(callIds);
    const out: Record<string, LiveCallStats> = {};
    for (const [id, stats] of this.last) {
      if (ids.has(id)) out[id] = stats;
      else this.last.delete(id);
    }
    return out;
  }
}

export function createStatusHandler(
  deps: Pick<ApiDeps, 'bus' | 'callManager' | 'logger'> & Partial<Pick<ApiDeps, 'config'>>,
  options: SseOptions = {},
): RequestHandler {
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const clients =
    options.clients ?? new SseClients(deps.config?.http.sseMaxClients, deps.config?.http.sseMaxClientsPerToken);
  const { bus, callManager, logger } = deps;
  const liveStats = LiveStatsCache.for(bus);

  return (req: Request, res: Response) => {
    const lastEventId = readLastEventId(req);
    const release = clients.acquire(clientKey(req, (deps.config?.apiTokens.length ?? 0) > 0));
    if (typeof release !== 'function') {
      logger.warn('SSE client refused: too many open streams', { cap: release, open: clients.count });
      res.setHeader('Retry-After', '30');
      sendError(
        res,
        new ApiError(
          'rate_limited',
          release === 'total'
            ? 'too many open event streams on this server; retry later'
            : 'too many open event streams for this token; close one and retry',
        ),
      );
      return;
    }
    req.socket.setTimeout(0);
    req.socket.setNoDelay(true);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();

    let closed = false;
    const send = (chunk: string): void => {
      if (closed) return;
      res.write(chunk);
      if (res.writableLength > MAX_SSE_BUFFER_BYTES) {
        logger.warn('SSE client too slow, disconnecting', { queuedBytes: res.writableLength });
        cleanup();
        res.destroy();
      }
    };
    const snapshot = (lastId: number): string => {
      const activeCalls = callManager.activeCalls();
      return formatSseMessage({
        id: lastId,
        event: 'snapshot',
        data: {
          activeCalls,
          stats: liveStats.forCalls(activeCalls.map((c) => c.id)),
          lastEventId: lastId,
          at: new Date().toISOString(),
        },
      });
    };
    const heartbeat = setInterval(() => send(': ping\n\n'), heartbeatMs);
    let unsubscribe: () => void = () => undefined;
    const cleanup = (): void => {
      if (closed) return;
      closed = true;
      release();
      clearInterval(heartbeat);
      unsubscribe();
    };
    res.on('close', cleanup);

    if (bus.cluster) {
      unsubscribe = serveClusterFeed(bus.cluster, lastEventId, send, snapshot, () => closed, logger);
      if (closed) unsubscribe(); // cut off (too slow) while the first lines were written
      return;
    }

    let lastSentId = -1;
    const sendEvent = (event: AnyBusEvent): void => {
      // De-duplicates the events both replayed and delivered live.
      if (event.id <= lastSentId) return;
      lastSentId = event.id;
      send(busMessage(event));
    };

    // Subscribe before reading the snapshot or the replay ring: nothing published in between is
    // lost (bus listeners run synchronously, and so does everything below).
    unsubscribe = bus.subscribe(sendEvent);

    send(`retry: ${SSE_RETRY_MS}\n\n`);
    const replay = lastEventId !== undefined && lastEventId <= bus.lastId ? bus.since(lastEventId) : undefined;
    if (replay?.complete) {
      lastSentId = lastEventId as number;
      for (const event of replay.events) sendEvent(event);
    } else {
      lastSentId = bus.lastId;
      send(snapshot(bus.lastId));
    }
  };
}

/**
 * The clustered stream: events of every instance from the cluster feed, ids = stream sequence. A
 * replay is read from the stream (async); live events arriving meanwhile wait and follow it, each
 * sent once. Returns the unsubscribe function.
 */
function serveClusterFeed(
  feed: ClusterFeed,
  lastEventId: number | undefined,
  send: (chunk: string) => void,
  snapshot: (lastId: number) => string,
  isClosed: () => boolean,
  logger: ApiDeps['logger'],
): () => void {
  let lastSentId = -1;
  let waiting: ClusterBusEvent[] | undefined = [];
  const sendEvent = (event: ClusterBusEvent): void => {
    if (event.seq <= lastSentId) return;
    lastSentId = event.seq;
    send(clusterMessage(event));
  };
  const sendSnapshot = (): void => {
    lastSentId = feed.lastSeq;
    send(snapshot(feed.lastSeq));
  };
  const release = (): void => {
    const held = waiting ?? [];
    waiting = undefined;
    for (const event of held) sendEvent(event);
  };
  // Subscribed before the feed's position is read: every later event is held or sent.
  const unsubscribe = feed.subscribe((event) => (waiting ? waiting.push(event) : sendEvent(event)));
  send(`retry: ${SSE_RETRY_MS}\n\n`);
  if (lastEventId === undefined) {
    sendSnapshot();
    release();
    return unsubscribe;
  }
  const upto = feed.lastSeq;
  void (async () => {
    let replayed = false;
    try {
      if (lastEventId <= upto) {
        const replay = await feed.replay(lastEventId, upto);
        if (replay.complete && !isClosed()) {
          lastSentId = lastEventId;
          for (const event of replay.events) sendEvent(event);
          replayed = true;
        }
      } else {
        // The client saw events this instance's feed has not delivered yet (it came from a faster
        // instance): they follow live, and the ones it has are skipped.
        const streamLast = await feed.streamLastSeq();
        if (streamLast !== undefined && lastEventId <= streamLast) {
          lastSentId = lastEventId;
          replayed = true;
        }
      }
    } catch (err) {
      logger.warn('SSE replay from the cluster stream failed; sending a snapshot', {
        error: err instanceof Error ? err.message : String(err),
      });
    }
    if (isClosed()) return;
    if (!replayed) sendSnapshot();
    release();
  })();
  return unsubscribe;
}
