/**
 * Network helpers of the attack script (scripts/attack.ts): every request has a timeout, every socket
 * is closed by the helper that opened it, and nothing leaves this machine (the target is checked to
 * be a loopback address before anything is sent).
 */
import http from 'node:http';
import net from 'node:net';
import { lookup } from 'node:dns/promises';
import WebSocket from 'ws';

export const DEFAULT_TIMEOUT_MS = 5000;

/** A usage problem (bad flag, a non-loopback target): printed as is, exit code 2. */
export class AttackUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttackUsageError';
  }
}

const isLoopbackIp = (ip: string): boolean =>
  (net.isIPv4(ip) && ip.startsWith('127.')) || ip === '::1' || /^::ffff:127\./i.test(ip);

/**
 * The target as a URL, or an AttackUsageError when it is not http:// on a loopback address
 * (127.0.0.0/8, ::1, or `localhost` when every address it resolves to is one of those).
 */
export async function loopbackTarget(raw: string): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AttackUsageError(`--url must be an absolute URL such as http://127.0.0.1:3000 (got "${raw}")`);
  }
  if (url.protocol !== 'http:') {
    throw new AttackUsageError(`--url must be http:// on this machine (got "${raw}")`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const refuse = (why: string): AttackUsageError =>
    new AttackUsageError(
      `refusing to attack ${host}: ${why}. This script only runs against a server on this machine ` +
        '(--url http://127.0.0.1:<port>, http://[::1]:<port> or http://localhost:<port>).',
    );
  if (net.isIP(host)) {
    if (!isLoopbackIp(host)) throw refuse('not a loopback address');
  } else if (host === 'localhost') {
    const addresses = await lookup(host, { all: true });
    if (addresses.length === 0 || !addresses.every((a) => isLoopbackIp(a.address))) {
      throw refuse(`localhost resolves to ${addresses.map((a) => a.address).join(', ')}`);
    }
  } else {
    throw refuse('not a loopback address');
  }
  return new URL(url.origin);
}

export interface RawResponse {
  /** HTTP status of the answer; 0 when none came (closed, reset or timed out). */
  status: number;
  /** Raw header block (status line included). */
  head: string;
  /** Why no status came, when status is 0. */
  error?: string;
  ms: number;
}

/**
 * Writes `data` as is on a new TCP connection (so the request line holds exactly the bytes given) and
 * resolves as soon as the answer's header block is in; the socket is then destroyed.
 */
export function rawExchange(target: URL, data: string | Buffer, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RawResponse> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(Number(target.port || 80), target.hostname.replace(/^\[|\]$/g, ''));
    let buffer = '';
    let settled = false;
    const finish = (result: Omit<RawResponse, 'ms'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...result, ms: Date.now() - started });
    };
    const timer = setTimeout(
      () => finish({ status: 0, head: buffer, error: `no answer in ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const end = buffer.indexOf('\r\n\r\n');
      const line = /^HTTP\/1\.[01] (\d{3})/.exec(buffer);
      if (line && end !== -1) finish({ status: Number(line[1]), head: buffer.slice(0, end) });
    });
    socket.on('error', (err) => finish({ status: 0, head: buffer, error: err.message }));
    socket.on('close', () => {
      const line = /^HTTP\/1\.[01] (\d{3})/.exec(buffer);
      finish(line ? { status: Number(line[1]), head: buffer } : { status: 0, head: buffer, error: 'closed' });
    });
    socket.write(data);
  });
}

/** A WebSocket upgrade request for exactly this path (raw bytes: no normalisation by a client library). */
export function upgradeRequest(target: URL, path: string, headers: Record<string, string> = {}): string {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return (
    `GET ${path} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
  );
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  error?: string;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
  timeoutMs?: number;
  /** Keep at most this many bytes of the answer's body. Default 64 KiB. */
  maxBody?: number;
}

/** One request on its own connection (no keep-alive left behind); the path is sent as given. */
export function httpRequest(target: URL, path: string, options: HttpOptions = {}): Promise<HttpResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBody = options.maxBody ?? 64 * 1024;
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: HttpResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const req = http.request({
      host: target.hostname.replace(/^\[|\]$/g, ''),
      port: Number(target.port || 80),
      path,
      method: options.method ?? 'GET',
      agent: false,
      headers: { connection: 'close', ...(options.headers ?? {}) },
    });
    const timer = setTimeout(
      () => done({ status: 0, headers: {}, body: '', error: `no answer in ${timeoutMs} ms` }),
      timeoutMs,
    );
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < maxBody) chunks.push(chunk);
        size += chunk.length;
        // A stream that never ends (SSE) is cut once enough is in.
        if (size >= maxBody) finishBody();
      });
      const finishBody = (): void =>
        done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.on('end', finishBody);
      res.on('error', finishBody);
    });
    // The server may answer (413) and close while the body is still being written: the answer wins.
    req.on('error', (err) => setTimeout(() => done({ status: 0, headers: {}, body: '', error: err.message }), 50));
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

/** An open response (an SSE stream) held until close() is called. */
export interface HeldResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  close(): void;
}

/** Opens a GET and resolves at the answer's headers, keeping the connection open. */
export function openHeld(
  target: URL,
  path: string,
  headers: Record<string, string>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<HeldResponse> {
  return new Promise((resolve) => {
    const req = http.request({
      host: target.hostname.replace(/^\[|\]$/g, ''),
      port: Number(target.port || 80),
      path,
      method: 'GET',
      agent: false,
      headers,
    });
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      req.destroy();
      resolve({ status: 0, headers: {}, close: () => undefined });
    }, timeoutMs);
    req.on('response', (res) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      res.resume();
      res.on('error', () => undefined);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, close: () => req.destroy() });
    });
    req.on('error', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status: 0, headers: {}, close: () => undefined });
    });
    req.end();
  });
}

/**
 * Slowloris: sends a request's headers one line at a time (a line every `everyMs`) and never ends
 * them. Resolves when the server closes the connection (with the status it sent, if any) or when
 * `waitMs` has passed with the connection still open (`closedByServer: false`).
 */
export function slowloris(
  target: URL,
  waitMs: number,
  everyMs = 500,
): Promise<{ closedByServer: boolean; ms: number; status: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(Number(target.port || 80), target.hostname.replace(/^\[|\]$/g, ''));
    let buffer = '';
    let settled = false;
    const finish = (closedByServer: boolean): void => {
      if (settled) return;
      settled = true;
      clearInterval(drip);
      clearTimeout(timer);
      socket.destroy();
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(buffer)?.[1] ?? 0);
      resolve({ closedByServer, ms: Date.now() - started, status });
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (buffer += chunk));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(`GET /health HTTP/1.1\r\nHost: ${target.host}\r\n`);
    let n = 0;
    const drip = setInterval(() => {
      if (socket.writable) socket.write(`X-Slow-${n++}: ${'a'.repeat(8)}\r\n`);
    }, everyMs);
    const timer = setTimeout(() => finish(false), waitMs);
  });
}

/**
 * Slow body: complete headers announcing a 16 KiB form (under the 32 KiB cap), then one byte every `everyMs`. Resolves like
 * slowloris (the server's request timeout should close it).
 */
export function slowBody(
  target: URL,
  path: string,
  waitMs: number,
  everyMs = 500,
): Promise<{ closedByServer: boolean; ms: number; status: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(Number(target.port || 80), target.hostname.replace(/^\[|\]$/g, ''));
    let buffer = '';
    let settled = false;
    const finish = (closedByServer: boolean): void => {
      if (settled) return;
      settled = true;
      clearInterval(drip);
      clearTimeout(timer);
      socket.destroy();
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(buffer)?.[1] ?? 0);
      resolve({ closedByServer, ms: Date.now() - started, status });
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (buffer += chunk));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
        `Content-Length: 16384\r\n\r\nCallSid=`,
    );
    const drip = setInterval(() => {
      if (socket.writable) socket.write('a');
    }, everyMs);
    const timer = setTimeout(() => finish(false), waitMs);
  });
}

/** Opens a WebSocket; rejects with the HTTP status of a refused upgrade. */
export function openWebSocket(
  url: string,
  headers: Record<string, string>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`upgrade refused: ${res.statusCode}`));
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

export type CloseResult = { code: number; reason: string } | 'still open';

/** Resolves when the socket closes, or with 'still open' after `timeoutMs`. Register before sending. */
export function whenClosed(ws: WebSocket, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<CloseResult> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: 1006, reason: '' });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still open'), timeoutMs);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

/** Prometheus text → name{labels} → value (first sample wins). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([^\s{]+(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m && !out.has(m[1])) out.set(m[1], Number(m[2]));
  }
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
