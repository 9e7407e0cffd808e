/**
 * The cluster event bus without NATS, and through a NATS outage, on the real NATS at 127.0.0.1:4222
 * (never stopped: instance X reaches it through a TCP proxy of this test, which is "NATS" for X and
 * can be closed and opened again). X starts while nothing listens: it starts, warns once, keeps its
 * events in the bounded queue (the oldest dropped and counted), and publishes them when NATS answers.
 * Then the proxy drops every connection mid-way: X's events of the outage reach the other instance
 * exactly once after the reconnect, and X's feed gets what the other instance published meanwhile.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { EventBus, type AnyBusEvent } from '../../src/events/event-bus';
import { attachClusterBus, type ClusterBus } from '../../src/cluster/nats/bus';
import { streamName } from '../../src/cluster/nats/bus-codec';
import { captureLogger, fakeCall, nextFeedEvent } from '../helpers/cluster-bus';

/** A TCP proxy to the shared nats-server that can be taken down (every connection cut) and back up. */
class NatsProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  constructor(readonly port: number) {}

  async up(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(4222, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once `check` holds (checked every 20 ms), or fails after `timeoutMs`. */
function until(check: () => boolean, timeoutMs = 10_000, state: () => unknown = () => ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (check()) return resolve();
      if (Date.now() - started > timeoutMs)
        return reject(new Error(`condition not met in time ${JSON.stringify(state())}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

describe('cluster event bus without NATS and through an outage', () => {
  const prefix = `sbtest_${randomBytes(4).toString('hex')}`;
  let proxy: NatsProxy;
  let x: { bus: EventBus; cluster: ClusterBus; logs: Array<{ level: string; message: string }> };
  let y: { bus: EventBus; cluster: ClusterBus };

  beforeAll(async () => {
    proxy = new NatsProxy(await freePort());
    const yLog = captureLogger();
    const yBus = new EventBus();
    y = {
      bus: yBus,
      cluster: attachClusterBus({
        bus: yBus,
        natsUrl: 'nats://127.0.0.1:4222',
        prefix,
        instanceId: 'Y',
        logger: yLog.logger,
      }),
    };
    await y.cluster.ready;
  });
  afterAll(async () => {
    await Promise.all([x?.cluster.close(500), y?.cluster.close()]);
    await proxy.down();
    const nc = await connect({ servers: '127.0.0.1:4222' });
    await (await jetstreamManager(nc)).streams.delete(streamName(prefix)).catch(() => undefined);
    await nc.close();
  });

  it('starts without NATS, queues (bounded, counted), then publishes the queue when NATS answers', async () => {
    const { logger, lines } = captureLogger();
    const bus = new EventBus();
    const cluster = attachClusterBus({
      bus,
      natsUrl: `nats://127.0.0.1:${proxy.port}`,
      prefix,
      instanceId: 'X',
      logger,
      maxQueue: 5,
      retryMs: 100,
      timeoutMs: 1000,
    });
    x = { bus, cluster, logs: lines };
    const local: AnyBusEvent[] = [];
    bus.subscribe((e) => local.push(e));
    for (let i = 0; i < 8; i++) bus.publish('call.updated', { call: fakeCall(`q${i}`) });
    // Publishing stayed synchronous for the local bus; the cluster side queued what fits.
    expect(local).toHaveLength(8);
    expect(cluster.stats()).toMatchObject({ live: false, queued: 5, dropped: 3, published: 0 });
    await until(() => lines.some((l) => l.message.includes('NATS unreachable')));

    const fromX: AnyBusEvent[] = [];
    y.bus.subscribeAll((e) => e.origin === 'X' && fromX.push(e));
    await proxy.up();
    await cluster.ready;
    await until(() => fromX.length >= 5);
    expect(fromX.map((e) => (e as AnyBusEvent & { type: 'call.updated' }).data.call.id)).toEqual([
      'q3',
      'q4',
      'q5',
      'q6',
      'q7',
    ]);
    await until(() => cluster.stats().published === 5); // the acks may come after Y has the events
    expect(cluster.stats()).toMatchObject({ live: true, queued: 0, dropped: 3, published: 5 });
    await until(() => lines.some((l) => l.message === 'cluster events reach NATS again'));
    expect(lines.filter((l) => l.message.includes('NATS unreachable'))).toHaveLength(1);
  });

  it('loses nothing and duplicates nothing when NATS goes away mid-way and comes back', async () => {
    const fromX: AnyBusEvent[] = [];
    const offY = y.bus.subscribeAll((e) => e.origin === 'X' && fromX.push(e));
    const onX: AnyBusEvent[] = [];
    const offX = x.bus.subscribeAll((e) => e.origin === 'Y' && onX.push(e));

    await proxy.down();
    for (let i = 0; i < 3; i++)
      x.bus.publish('call.stats', {
        callId: 'during',
        stats: { interruptions: i, latencyLastMs: null, latencyAvgMs: null, aiReconnects: 0 },
      });
    // Y publishes while X is cut off: X's feed must still get it after the reconnect.
    const yStored = nextFeedEvent(y.cluster, (e) => e.origin === 'Y');
    y.bus.publish('call.ended', { call: fakeCall('y-during', 'completed') });
    await yStored;
    await proxy.up();

    await until(
      () => fromX.length >= 3 && onX.length >= 1,
      15_000,
      () => ({ fromX: fromX.length, onX: onX.length, x: x.cluster.stats(), logs: x.logs.slice(-8) }),
    );
    // One more round after the reconnect shows nothing else was on its way (a duplicate would precede it).
    const marker = nextFeedEvent(y.cluster, (e) => e.origin === 'X' && e.type === 'call.ended');
    x.bus.publish('call.ended', { call: fakeCall('after', 'completed') });
    await marker;
    const label = (e: AnyBusEvent): unknown =>
      e.type === 'call.stats' ? e.data.stats.interruptions : e.type === 'call.ended' ? e.data.call.id : e.type;
    expect(fromX.map((e) => [e.type, label(e)])).toEqual([
      ['call.stats', 0],
      ['call.stats', 1],
      ['call.stats', 2],
      ['call.ended', 'after'],
    ]);
    expect(onX.map((e) => e.type === 'call.ended' && e.data.call.id)).toEqual(['y-during']);
    expect(x.cluster.stats()).toMatchObject({ live: true, queued: 0, dropped: 3 });
    // The outage was real: X's connection saw it and came back.
    expect(x.logs.map((l) => l.message)).toEqual(
      expect.arrayContaining(['NATS connection lost; reconnecting', 'NATS connection back']),
    );
    offX();
    offY();
  });
});
