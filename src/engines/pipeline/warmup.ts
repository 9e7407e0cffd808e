/**
 * The HTTP client's one-time start-up cost, paid at a call's start instead of inside a turn.
 *
 * Node's fetch (undici) builds its HTTP parser (WebAssembly) and connection machinery on the
 * process's first network request: 30-100 ms measured here (npm run bench -- --scenario pipeline:
 * the first turn of every call in a fresh process waited behind it, p50 94 ms vs 5 ms for later
 * turns). The cascaded engine's first turn would pay it between the caller's end of speech and the
 * first token. `warmHttpClient()` makes one request to a throw-away loopback server, once per
 * process, when the first pipeline engine with an HTTP provider starts (the greeting and the
 * caller's first words leave it time to finish). It never contacts a provider.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

let warming: Promise<void> | undefined;

export function warmHttpClient(): Promise<void> {
  warming ??= (async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      // Never what keeps a process (or a test worker) alive.
      server.unref();
      const { port } = server.address() as AddressInfo;
      // A POST with a body and a streamed answer: the same paths the providers' requests take.
      const res = await fetch(`http://127.0.0.1:${port}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      await res.text();
    } catch {
      // Only an optimisation: the first real request pays the cost instead.
    } finally {
      server.closeAllConnections();
      server.close();
    }
  })();
  return warming;
}
