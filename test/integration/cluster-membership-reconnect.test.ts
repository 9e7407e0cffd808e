/**
 * Membership across a NATS restart. The shared nats-server must not be stopped, so this file runs its
 * own (Debian's /usr/sbin/nats-server, JetStream on a temporary store, a free port), stops it with
 * SIGTERM and starts it again on the same port and store while two instances stay connected
 * (connectNats: reconnect forever). Afterwards heartbeats, the lease mirror (watch), onClaimedElsewhere
 * and routed actions must work again, and an outage shorter than the lease TTL must not make anyone
 * declare the other lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { createLogger } from '../../src/logging/logger';
import { closeNats, connectNats } from '../../src/cluster/nats/connection';
import { startNatsCluster, type NatsCluster } from '../../src/cluster/nats/membership-cluster';
import { uniqueSuffix } from '../../scripts/lib/cluster-services';
import { next } from '../helpers/next-value';

const NATS_SERVER = '/usr/sbin/nats-server';
const LEASE_TTL_MS = 6000;
const logger = createLogger({ level: 'error', json: true, silent: true });

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts nats-server and resolves once it accepts clients (its log says so). */
async function startServer(port: number, storeDir: string): Promise<ChildProcess> {
  const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes('Server is ready')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`nats-server exited (${code}): ${log}`)));
  });
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describe('cluster membership across a NATS server restart', () => {
  let storeDir: string;
  let port: number;
  let server: ChildProcess;
  const connections: NatsConnection[] = [];
  const clusters: NatsCluster[] = [];
  const lost: string[] = [];
  const prefix = `sbr_${uniqueSuffix()}`;

  const closedOrphans: string[] = [];

  async function instance(id: string, leaseTtlMs = LEASE_TTL_MS, reconnectTimeWaitMs = 100): Promise<NatsCluster> {
    const nc = await connectNats(`nats://127.0.0.1:${port}`, { name: id, logger, reconnectTimeWaitMs });
    connections.push(nc);
    const cluster = await startNatsCluster({
      nc,
      prefix,
      instanceId: id,
      leaseTtlMs,
      logger,
      closeOrphanedCall: (callId) => {
        closedOrphans.push(callId);
        return Promise.resolve();
      },
      handleAction: (r) => ({ by: id, action: r.action }),
    });
    cluster.membership.onInstanceLost((lostId) => lost.push(lostId));
    clusters.push(cluster);
    return cluster;
  }

  beforeAll(async () => {
    storeDir = await mkdtemp(path.join(tmpdir(), 'switchboard-nats-'));
    port = await freePort();
    server = await startServer(port, storeDir);
  });

  afterAll(async () => {
    for (const c of clusters) await c.close();
    for (const nc of connections) await closeNats(nc, logger);
    if (server) await stopServer(server);
    await rm(storeDir, { recursive: true, force: true });
  });

  it('beats, mirrors leases and routes actions again after the server came back', async () => {
    const a = await instance(`a-${uniqueSuffix()}`);
    const b = await instance(`b-${uniqueSuffix()}`);
    const before = `before-${uniqueSuffix()}`;
    expect(await a.ownership.claim(before)).toBe(true);

    const reconnected = Promise.all(
      connections.map(async (nc) => {
        for await (const s of nc.status()) if (s.type === 'reconnect') return;
      }),
    );
    await stopServer(server);
    server = await startServer(port, storeDir); // same store: the buckets and leases are still there
    await reconnected;

    // Leases survived; a claim after the restart reaches the other instance's watch.
    expect(await b.ownership.ownerOf(before)).toBe(a.membership.instanceId);
    const after = `after-${uniqueSuffix()}`;
    const told = next<string>(
      (l) => a.ownership.onClaimedElsewhere((callId) => l(callId)),
      (c) => c === after,
    );
    expect(await b.ownership.claim(after)).toBe(true);
    expect(await told).toBe(after);
    expect((await a.ownership.leases()).map((l) => l.callId)).toEqual(expect.arrayContaining([before, after]));
    expect(await a.actions.routeAction(after, 'whisper', {})).toEqual({
      by: b.membership.instanceId,
      action: 'whisper',
    });

    // Heartbeats flow again: wait for a fresh beat of each seen by the other, and nobody was declared lost.
    const watch = await a.membership.kv.watch({
      key: a.membership.names.heartbeatKey(b.membership.instanceId),
      include: 'updates',
    });
    for await (const _beat of watch) break;
    expect(a.membership.isAlive(b.membership.instanceId)).toBe(true);
    expect(b.membership.isAlive(a.membership.instanceId)).toBe(true);
    expect(a.membership.healthy && b.membership.healthy).toBe(true);
    expect(lost).toEqual([]);
    await a.ownership.release(before);
    await b.ownership.release(after);
  });

  it('declares nobody lost and closes no call after an outage longer than the lease TTL', async () => {
    const shortTtl = 1500;
    const c = await instance(`c-${uniqueSuffix()}`, shortTtl);
    // D comes back later than C (it retries less often): C must not judge D by the expired bucket.
    const d = await instance(`d-${uniqueSuffix()}`, shortTtl, 600);
    const callId = `long-outage-${uniqueSuffix()}`;
    expect(await d.ownership.claim(callId)).toBe(true);
    const reconnected = Promise.all(
      connections.slice(-2).map(async (nc) => {
        for await (const s of nc.status()) if (s.type === 'reconnect') return;
      }),
    );
    await stopServer(server);
    // Down for twice the TTL: every heartbeat in the bucket has expired when it comes back.
    await new Promise((resolve) => setTimeout(resolve, 2 * shortTtl));
    server = await startServer(port, storeDir);
    await reconnected;
    // Both beat again within the grace (two beat intervals); then the lease holder must still be alive.
    const watch = await c.membership.kv.watch({
      key: c.membership.names.heartbeatKey(d.membership.instanceId),
      include: 'updates',
    });
    for await (const _beat of watch) break;
    await c.failover.sweep();
    expect(await c.membership.confirmDead(d.membership.instanceId)).toBe(false);
    expect(await c.ownership.ownerOf(callId)).toBe(d.membership.instanceId);
    expect(closedOrphans).toEqual([]);
    expect(lost.filter((id) => id === c.membership.instanceId || id === d.membership.instanceId)).toEqual([]);
    await d.ownership.release(callId);
  });
});
