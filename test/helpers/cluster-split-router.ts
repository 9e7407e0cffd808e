/**
 * A TCP router for the two-instance tests (test/integration/cluster-cross-instance*.test.ts): each
 * connection goes to instance A or B by the path of its first request line, so a test decides where
 * a webhook, a status callback and a media stream land, as a round-robin balancer might send them.
 * The simulators open one connection per request (and one per stream), so per-connection is per-request.
 */
import net from 'node:net';

export interface SplitRouter {
  url: string;
  close(): void;
}

/** A TCP router: requests for `toB` paths go to port B, everything else to port A (per connection). */
export async function splitRouter(portA: number, portB: number, toB: string[]): Promise<SplitRouter> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.once('data', (first) => {
      const line = first.subarray(0, first.indexOf('\r\n')).toString('latin1');
      const target = line.split(' ')[1]?.split('?')[0] ?? '';
      const upstream = net.connect(toB.includes(target) ? portB : portA, '127.0.0.1', () => {
        sockets.add(upstream);
        upstream.write(first);
        client.pipe(upstream).pipe(client);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close() {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
