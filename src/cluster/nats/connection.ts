/**
 * One place that opens and closes NATS connections for the cluster code (event bus, membership,
 * ownership, actions), so every part reconnects the same way and logs the same way.
 *
 * `connectNats(NATS_URL, { name, logger })` parses the URL (nats:// or tls://, credentials in the URL
 * as `user:pass@` or a lone token `token@`), connects with "reconnect forever" settings (1 s between
 * attempts plus jitter, pings every 10 s so a dead server is noticed within ~30 s), and logs every
 * disconnect / reconnect / server error as a structured line. The URL's credentials never reach a log
 * (`redactNatsUrl`). By default it rejects when no server answers at start (a clear error naming the
 * redacted URL); `waitForServer: true` instead keeps trying in the background of the returned promise.
 * `closeNats` drains (flushes what is pending) with a bound, then closes.
 */
import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
// The types live in nats-core: with moduleResolution node10 its `/internal` subpath (re-exported by
// transport-node) does not resolve, so they are imported from the package's main entry.
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '../../logging/logger';

export type { NatsConnection } from '@nats-io/nats-core';

export interface ConnectNatsOptions {
  /** Client name shown by the server's monitoring (e.g. `switchboard-bus-<instanceId>`). */
  name: string;
  logger: Logger;
  /** Keep trying until a server answers instead of rejecting at once (default false). */
  waitForServer?: boolean;
  /** Handshake timeout of one attempt (default 5000 ms). */
  timeoutMs?: number;
  /** Milliseconds between reconnect attempts (default 1000, plus up to 250 of jitter). */
  reconnectTimeWaitMs?: number;
}

/** The URL with any password or token replaced by `***`, for logs and errors. */
export function redactNatsUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    else if (parsed.username) parsed.username = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '<unparseable NATS URL>';
  }
}

/** Client options for a NATS_URL (exported for tests and for parts that need a special connection). */
export function natsConnectionOptions(url: string, options: ConnectNatsOptions): NodeConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`NATS_URL is not a URL: ${redactNatsUrl(url)}`);
  }
  if (parsed.protocol !== 'nats:' && parsed.protocol !== 'tls:')
    throw new Error(`NATS_URL must start with nats:// or tls:// (got ${parsed.protocol}//)`);
  const port = parsed.port || '4222';
  const opts: NodeConnectionOptions = {
    servers: `${parsed.hostname}:${port}`,
    name: options.name,
    timeout: options.timeoutMs ?? 5000,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 1000,
    reconnectJitter: 250,
    pingInterval: 10_000,
    maxPingOut: 3,
    waitOnFirstConnect: options.waitForServer ?? false,
  };
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  if (user && pass) {
    opts.user = user;
    opts.pass = pass;
  } else if (user) {
    opts.token = user;
  }
  if (parsed.protocol === 'tls:') opts.tls = {};
  return opts;
}

/** Logs the connection's status changes until it closes. */
function logStatus(nc: NatsConnection, logger: Logger, name: string): void {
  void (async () => {
    for await (const status of nc.status()) {
      switch (status.type) {
        case 'disconnect':
          logger.warn('NATS connection lost; reconnecting', { nats: name, server: status.server });
          break;
        case 'reconnect':
          logger.info('NATS connection back', { nats: name, server: status.server });
          break;
        case 'error':
          logger.warn('NATS server error', { nats: name, error: status.error.message });
          break;
        case 'staleConnection':
          logger.warn('NATS connection stale (pings unanswered); reconnecting', { nats: name });
          break;
        default:
          break;
      }
    }
  })().catch((err: unknown) => logger.debug('NATS status loop ended', { nats: name, error: String(err) }));
}

/** Connects to NATS_URL with reconnect-forever settings; rejects (unless `waitForServer`) when no server answers. */
export async function connectNats(url: string, options: ConnectNatsOptions): Promise<NatsConnection> {
  const opts = natsConnectionOptions(url, options);
  let nc: NatsConnection;
  try {
    nc = await connect(opts);
  } catch (err) {
    throw new Error(
      `cannot connect to NATS at ${redactNatsUrl(url)}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  options.logger.info('NATS connected', { nats: options.name, server: nc.getServer() });
  logStatus(nc, options.logger, options.name);
  return nc;
}

/** Drains (publishes what is pending, ends subscriptions) within `timeoutMs`, then closes. Never throws. */
export async function closeNats(nc: NatsConnection, logger: Logger, timeoutMs = 2000): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      nc.drain(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
  } catch (err) {
    logger.debug('NATS drain failed; closing', { error: err instanceof Error ? err.message : String(err) });
  } finally {
    clearTimeout(timer);
  }
  if (!nc.isClosed()) await nc.close().catch(() => undefined);
}
