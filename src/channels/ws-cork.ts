/**
 * Several WebSocket messages in one write: runs `send` with the connection's TCP socket corked, so
 * the frames it sends leave in one writev (one system call) when it returns, instead of one each.
 *
 * Agent audio goes to a telephony channel as a media message and its playback mark, every 100 ms
 * per speaking call; a write on a socket is the largest single cost of the main thread in a CPU
 * profile of `npm run bench` (~35 % of its busy time, docs/benchmarks/bridge.md). `ws` corks its
 * own header and payload writes the same way; the counts nest, so the frames flush together.
 * Without a reachable socket (not a `ws` connection), the messages go out one by one as before.
 */
import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';

export function corked<T>(ws: WebSocket, send: () => T): T {
  const socket = (ws as unknown as { _socket?: Duplex | null })._socket;
  if (!socket || typeof socket.cork !== 'function') return send();
  socket.cork();
  try {
    return send();
  } finally {
    socket.uncork();
  }
}
