/**
 * A small real Server-Sent Events client over node:http: parses `id`, `event`, `data` (multi-line)
 * and `retry` fields and comment lines, as a browser's EventSource does, and lets a test wait for
 * what it expects.
 */
import http from 'node:http';

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
  /** `data` parsed as JSON. */
  json: unknown;
}

export interface SseConnection {
  status: number;
  headers: http.IncomingHttpHeaders;
  messages: SseMessage[];
  comments: string[];
  retryMs?: number;
  /** Resolves with the first message (from index `from`) matching `predicate`. */
  waitFor(predicate: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>;
  /** Resolves once `count` comments have arrived. */
  waitForComments(count: number, timeoutMs?: number): Promise<string[]>;
  close(): void;
}

export function connectSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const messages: SseMessage[] = [];
      const comments: string[] = [];
      const waiters = new Set<() => void>();
      let buffer = '';
      let current: { id?: string; event?: string; data: string[] } = { data: [] };
      const conn: SseConnection = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        messages,
        comments,
        waitFor(predicate, timeoutMs = 5000) {
          return waitUntil(() => messages.find(predicate), timeoutMs, 'SSE message');
        },
        waitForComments(count, timeoutMs = 5000) {
          return waitUntil(() => (comments.length >= count ? comments.slice() : undefined), timeoutMs, 'SSE comments');
        },
        close() {
          req.destroy();
          res.destroy();
        },
      };
      function waitUntil<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
        return new Promise((ok, fail) => {
          const tryNow = (): boolean => {
            const found = check();
            if (found === undefined) return false;
            clearTimeout(timer);
            waiters.delete(poll);
            ok(found);
            return true;
          };
          const poll = (): void => void tryNow();
          const timer = setTimeout(() => {
            waiters.delete(poll);
            fail(new Error(`timed out waiting for ${what}`));
          }, timeoutMs);
          if (!tryNow()) waiters.add(poll);
        });
      }
      const dispatchLine = (line: string): void => {
        if (line === '') {
          if (current.data.length > 0) {
            const data = current.data.join('\n');
            let json: unknown;
            try {
              json = JSON.parse(data);
            } catch {
              json = undefined;
            }
            messages.push({ id: current.id, event: current.event ?? 'message', data, json });
          }
          current = { data: [] };
          return;
        }
        if (line.startsWith(':')) {
          comments.push(line.slice(1).trim());
          return;
        }
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') current.id = value;
        else if (field === 'event') current.event = value;
        else if (field === 'data') current.data.push(value);
        else if (field === 'retry') conn.retryMs = Number(value);
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) !== -1) {
          dispatchLine(buffer.slice(0, nl).replace(/\r$/, ''));
          buffer = buffer.slice(nl + 1);
        }
        for (const w of [...waiters]) w();
      });
      res.on('error', () => undefined);
      resolve(conn);
    });
    req.on('error', reject);
  });
}
