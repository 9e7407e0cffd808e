import type http from 'node:http';

export const MAX_BODY_BYTES = 1 << 20;

export function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Reads a JSON body (at most 1 MB); undefined when it is not JSON or too large. */
export function readJson(req: http.IncomingMessage): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => resolve(undefined));
    req.on('end', () => {
      if (tooLarge) return resolve(undefined);
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        resolve(
          body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined,
        );
      } catch {
        resolve(undefined);
      }
    });
  });
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function sendError(res: http.ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: { message, type: status === 401 ? 'invalid_request_error' : 'server_error' } });
}

/** Per-request fault: an HTTP status, or a connection dropped after `afterUnits` pieces of the answer. */
export interface Fault {
  status?: number;
  dropAfter?: number;
  /** Never answer (the client's timeout must fire). */
  hang?: boolean;
}
