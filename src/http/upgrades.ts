/**
 * The only WebSocket entry point: every HTTP upgrade on the server comes here, whatever its path, and
 * is authenticated or refused before the socket opens (no 101 is ever sent for a refused one).
 * - the path must be exactly one a channel module declares (src/channels/index.ts; case-sensitive,
 *   no trailing slash, no other spelling); anything else gets 404, and a non-WebSocket upgrade 400;
 * - the channel module authenticates the upgrade (Twilio: X-Twilio-Signature over the stream URL,
 *   query string included); a denial is counted as `signature`;
 * - a per-client rate limit and a cap on open stream sockets bound what even a signed flood can hold;
 * - while draining nothing new is accepted (503).
 * The accepted socket runs on ws 8 (`noServer`) and is handed to its channel module. What a stream
 * may do after `start` (attach to a prepared call with its single-use token) is the bridge's check.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { WebSocketServer } from 'ws';
import type { Config } from '../config';
import type { Logger } from '../logging/logger';
import type { ChannelModule } from '../channels';

/** Hard cap of one WebSocket message on /streams (the stream adapter rejects > 64 KiB softly). */
export const WS_MAX_PAYLOAD_BYTES = 1024 * 1024;

export type UpgradeRefusal = 'path' | 'not-websocket' | 'signature' | 'rate-limited' | 'capacity' | 'draining';

export interface UpgradeCounters {
  handshakesRejected: number;
  upgradesRefused: Record<UpgradeRefusal, number>;
}

export interface UpgradeGateDeps {
  config: Config;
  logger: Logger;
  counters: UpgradeCounters;
  /** Open stream sockets allowed at once (accepted, started or not). */
  maxSockets: number;
  isDraining(): boolean;
  /** False when this client has opened too many upgrades lately. */
  allowClient?(ip: string): boolean;
  /** The client's address (behind a trusted proxy, from X-Forwarded-For); default: the socket's peer. */
  clientIp?(req: IncomingMessage): string | undefined;
  /** The channel modules: their WebSocket paths are the only ones accepted. */
  channels: readonly ChannelModule[];
}

export interface UpgradeGate {
  readonly wss: WebSocketServer;
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export function newUpgradeCounters(): UpgradeCounters {
  return {
    handshakesRejected: 0,
    upgradesRefused: { path: 0, 'not-websocket': 0, signature: 0, 'rate-limited': 0, capacity: 0, draining: 0 },
  };
}

function refuse(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code: STATUS_CODES[status]?.toLowerCase().replace(/ /g, '_'), message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      (status === 429 ? 'Retry-After: 60\r\n' : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.once('finish', () => socket.destroy());
}

export function createUpgradeGate(deps: UpgradeGateDeps): UpgradeGate {
  const { logger, counters } = deps;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: WS_MAX_PAYLOAD_BYTES,
    // Per-frame cost: no compression of 20 ms audio messages, and no UTF-8 scan of Twilio's ASCII
    // JSON (a malformed message still fails parsing and is counted as a protocol error).
    perMessageDeflate: false,
    skipUTF8Validation: true,
  });

  const refused = (reason: UpgradeRefusal, socket: Duplex, status: number, message: string, req: IncomingMessage) => {
    counters.upgradesRefused[reason]++;
    if (reason === 'signature') counters.handshakesRejected++;
    // The path is attacker-chosen: logged cut short, never the headers or the query.
    logger.warn('refused a WebSocket upgrade', {
      reason,
      path: (req.url ?? '').split('?')[0].slice(0, 64),
      ip: req.socket.remoteAddress,
    });
    refuse(socket, status, message);
  };

  const byPath = new Map<string, ChannelModule>();
  for (const channel of deps.channels) for (const p of channel.upgradePaths) byPath.set(p, channel);

  return {
    wss,
    handle(req, socket, head) {
      socket.on('error', () => socket.destroy());
      const ip = (deps.clientIp ? deps.clientIp(req) : req.socket.remoteAddress) ?? '';
      if (deps.allowClient && !deps.allowClient(ip)) {
        return refused('rate-limited', socket, 429, 'too many connection attempts', req);
      }
      const url = req.url ?? '';
      const query = url.indexOf('?');
      const path = query === -1 ? url : url.slice(0, query);
      const channel = byPath.get(path);
      if (!channel) return refused('path', socket, 404, 'no WebSocket endpoint here', req);
      if (req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
        return refused('not-websocket', socket, 400, 'only WebSocket upgrades are accepted', req);
      }
      const denied = channel.checkUpgrade?.(req, path, url);
      if (denied) return refused('signature', socket, denied.status, denied.message, req);
      if (deps.isDraining()) return refused('draining', socket, 503, 'server shutting down', req);
      if (wss.clients.size >= deps.maxSockets) return refused('capacity', socket, 503, 'too many streams', req);
      wss.handleUpgrade(req, socket, head, (ws) => channel.onSocket(ws, req, path));
    },
  };
}
