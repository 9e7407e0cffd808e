/**
 * Outgoing webhooks: subscriptions (URL + events) get each event POSTed as JSON, signed with the
 * subscription's own secret:
 *   X-Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *   X-Switchboard-Event: call.ended        X-Switchboard-Delivery: <delivery id>
 * A receiver recomputes the HMAC over the timestamp and the raw body, compares in constant time and
 * refuses old timestamps (replay). Deliveries retry with exponential backoff (1 s, 2 s, 4 s, 8 s) on
 * a network error, a timeout (5 s) or a non-2xx answer; each subscription delivers in order, one at
 * a time, from a bounded queue (a dead receiver loses its oldest events, counted, never memory).
 * Nothing here runs on a call's path: the bus listener only queues.
 *
 * Events: call.started, call.ended (sent with the call's analytics once they are computed, or
 * without them after 15 s), alert.fired, transcript.added.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { Counter, type Registry } from 'prom-client';
import type { AnyBusEvent, EventBus } from '../events/event-bus';
import type { Logger } from '../logging/logger';

export const WEBHOOK_EVENTS = ['call.started', 'call.ended', 'alert.fired', 'transcript.added'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export const MAX_SUBSCRIPTIONS = 20;
const QUEUE_MAX = 1000;
const LOG_MAX = 100;
const ATTEMPTS = 5;
const TIMEOUT_MS = 5000;
const ANALYTICS_WAIT_MS = 15_000;

export interface Subscription {
  id: string;
  url: string;
  events: WebhookEvent[];
  secret: string;
  createdAt: string;
}

export interface DeliveryRecord {
  deliveryId: string;
  event: WebhookEvent;
  attempt: number;
  at: string;
  ok: boolean;
  status: number | null;
  error: string | null;
  durationMs: number;
}

interface Pending {
  deliveryId: string;
  event: WebhookEvent;
  body: string;
}

interface SubState {
  sub: Subscription;
  queue: Pending[];
  busy: boolean;
  log: DeliveryRecord[];
  dropped: number;
  timer: NodeJS.Timeout | undefined;
  closed: boolean;
}

export interface WebhooksOptions {
  bus: EventBus;
  logger: Logger;
  registry?: Registry;
  /** Backoff before retry n (1-based); default 1 s · 2^(n-1). */
  retryDelayMs?: (attempt: number) => number;
  /**
   * JSON file keeping the subscriptions (secrets included) across restarts, written owner-only
   * (0600) on every change; read at construction. Without it they live in memory only.
   */
  file?: string;
}

/** Reads a subscriptions file; throws an Error naming what is wrong (never echoing a secret). */
export function loadSubscriptions(file: string): Subscription[] {
  if (!existsSync(file)) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`WEBHOOKS_FILE ${file}: not JSON (${(err as Error).message})`);
  }
  const list = (parsed as { subscriptions?: unknown } | null)?.subscriptions;
  if (!Array.isArray(list)) throw new Error(`WEBHOOKS_FILE ${file}: expected {"subscriptions": [...]}`);
  if (list.length > MAX_SUBSCRIPTIONS)
    throw new Error(`WEBHOOKS_FILE ${file}: at most ${MAX_SUBSCRIPTIONS} subscriptions`);
  return list.map((raw, i) => {
    const s = raw as Partial<Subscription> | null;
    const ok =
      s !== null &&
      typeof s.id === 'string' &&
      typeof s.url === 'string' &&
      /^https?:\/\//.test(s.url) &&
      typeof s.secret === 'string' &&
      s.secret.length >= 16 &&
      typeof s.createdAt === 'string' &&
      Array.isArray(s.events) &&
      s.events.length > 0 &&
      s.events.every((e) => (WEBHOOK_EVENTS as readonly string[]).includes(e as string));
    if (!ok) throw new Error(`WEBHOOKS_FILE ${file}: subscription ${i} is malformed`);
    return { id: s.id!, url: s.url!, events: [...s.events!], secret: s.secret!, createdAt: s.createdAt! };
  });
}

export function signBody(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

export class Webhooks {
  private readonly subs = new Map<string, SubState>();
  private readonly unsubscribe: () => void;
  private readonly endedCalls = new Map<string, { call: unknown; timer: NodeJS.Timeout }>();
  private readonly analytics = new Map<string, unknown>();
  private readonly counter: Counter<'result'> | undefined;
  private readonly retryDelayMs: (attempt: number) => number;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly opts: WebhooksOptions) {
    this.retryDelayMs = opts.retryDelayMs ?? ((n) => 1000 * 2 ** (n - 1));
    for (const sub of opts.file ? loadSubscriptions(opts.file) : []) this.track(sub);
    this.counter = opts.registry
      ? new Counter({
          name: 'switchboard_webhook_deliveries_total',
          help: 'Outgoing webhook delivery attempts, by result (ok, failed, dropped)',
          labelNames: ['result'],
          registers: [opts.registry],
        })
      : undefined;
    this.unsubscribe = opts.bus.subscribe((event) => this.onEvent(event));
  }

  list(): Subscription[] {
    return [...this.subs.values()].map((s) => s.sub);
  }

  get(id: string): SubState | undefined {
    return this.subs.get(id);
  }

  add(url: string, events: WebhookEvent[]): Subscription {
    const sub: Subscription = {
      id: `wh_${randomUUID()}`,
      url,
      events: [...new Set(events)],
      secret: `whsec_${randomBytes(24).toString('base64url')}`,
      createdAt: new Date().toISOString(),
    };
    this.track(sub);
    void this.save();
    return sub;
  }

  /** Resolves when every change so far is on disk (no-op without a file). */
  saved(): Promise<void> {
    return this.saving;
  }

  private track(sub: Subscription): void {
    this.subs.set(sub.id, { sub, queue: [], busy: false, log: [], dropped: 0, timer: undefined, closed: false });
  }

  /** Writes the subscriptions (atomically, 0600), one write at a time; a failure is logged, never thrown. */
  private save(): Promise<void> {
    const file = this.opts.file;
    if (!file) return this.saving;
    const body = `${JSON.stringify({ subscriptions: this.list() }, null, 2)}\n`;
    this.saving = this.saving.then(async () => {
      try {
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, body, { mode: 0o600 });
        await rename(tmp, file);
      } catch (err) {
        this.opts.logger.error('could not save the webhook subscriptions', { error: (err as Error).message });
      }
    });
    return this.saving;
  }

  remove(id: string): boolean {
    if (!this.drop(id)) return false;
    void this.save();
    return true;
  }

  /** Stops a subscription's deliveries and forgets it (not saved: close() uses it too). */
  private drop(id: string): boolean {
    const s = this.subs.get(id);
    if (!s) return false;
    s.closed = true;
    if (s.timer) clearTimeout(s.timer);
    this.subs.delete(id);
    return true;
  }

  close(): void {
    this.unsubscribe();
    for (const id of [...this.subs.keys()]) this.drop(id);
    for (const { timer } of this.endedCalls.values()) clearTimeout(timer);
    this.endedCalls.clear();
    this.analytics.clear();
  }

  private onEvent(event: AnyBusEvent): void {
    if (this.subs.size === 0) return;
    switch (event.type) {
      case 'call.started':
        this.publish('call.started', event.at, { call: event.data.call });
        break;
      case 'transcript.added':
        this.publish('transcript.added', event.at, event.data);
        break;
      case 'alert.fired':
        this.publish('alert.fired', event.at, event.data);
        break;
      case 'call.ended': {
        // Sent with the call's analytics (computed around the end, before or after this event).
        const id = event.data.call.id;
        const analytics = this.analytics.get(id);
        if (analytics) {
          this.analytics.delete(id);
          this.publish('call.ended', event.at, { call: event.data.call, analytics });
          break;
        }
        const timer = setTimeout(() => {
          this.endedCalls.delete(id);
          this.publish('call.ended', event.at, { call: event.data.call, analytics: null });
        }, ANALYTICS_WAIT_MS);
        timer.unref();
        const before = this.endedCalls.get(id);
        if (before) clearTimeout(before.timer);
        this.endedCalls.set(id, { call: event.data.call, timer });
        break;
      }
      case 'analytics.ready': {
        const ended = this.endedCalls.get(event.data.callId);
        if (!ended) {
          // The analytics came first: kept (bounded) until the call's end arrives.
          this.analytics.set(event.data.callId, event.data.analytics);
          if (this.analytics.size > 1000) this.analytics.delete(this.analytics.keys().next().value as string);
          break;
        }
        clearTimeout(ended.timer);
        this.endedCalls.delete(event.data.callId);
        this.publish('call.ended', event.at, { call: ended.call, analytics: event.data.analytics });
        break;
      }
      default:
        break;
    }
  }

  private publish(type: WebhookEvent, at: string, data: unknown): void {
    let body: string | undefined;
    for (const s of this.subs.values()) {
      if (!s.sub.events.includes(type)) continue;
      const deliveryId = `dlv_${randomUUID()}`;
      body ??= JSON.stringify({ type, at, data });
      if (s.queue.length >= QUEUE_MAX) {
        s.queue.shift();
        s.dropped++;
        this.counter?.inc({ result: 'dropped' });
      }
      s.queue.push({ deliveryId, event: type, body });
      this.pump(s);
    }
  }

  private pump(s: SubState): void {
    if (s.busy || s.closed || s.queue.length === 0) return;
    s.busy = true;
    void this.deliver(s, s.queue[0], 1);
  }

  private async deliver(s: SubState, p: Pending, attempt: number): Promise<void> {
    const started = Date.now();
    const timestamp = Math.floor(started / 1000);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(s.sub.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Switchboard-Webhooks/1',
          'x-switchboard-event': p.event,
          'x-switchboard-delivery': p.deliveryId,
          'x-switchboard-signature': `t=${timestamp},v1=${signBody(s.sub.secret, timestamp, p.body)}`,
        },
        body: p.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      status = res.status;
      // The receiver's body is never read into memory beyond what closes the connection.
      await res.body?.cancel().catch(() => undefined);
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (err) {
      error = (err as Error).name === 'TimeoutError' ? 'timeout' : 'network error';
    }
    const ok = error === null;
    s.log.push({
      deliveryId: p.deliveryId,
      event: p.event,
      attempt,
      at: new Date(started).toISOString(),
      ok,
      status,
      error,
      durationMs: Date.now() - started,
    });
    if (s.log.length > LOG_MAX) s.log.shift();
    this.counter?.inc({ result: ok ? 'ok' : 'failed' });
    if (s.closed) return;
    if (!ok && attempt < ATTEMPTS) {
      s.timer = setTimeout(() => {
        s.timer = undefined;
        if (!s.closed) void this.deliver(s, p, attempt + 1);
      }, this.retryDelayMs(attempt));
      s.timer.unref();
      return;
    }
    if (!ok)
      this.opts.logger.warn('webhook delivery gave up', { subscription: s.sub.id, event: p.event, attempts: attempt });
    if (s.queue[0] === p) s.queue.shift();
    s.busy = false;
    this.pump(s);
  }
}
