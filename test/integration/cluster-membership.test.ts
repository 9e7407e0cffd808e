/**
 * Cluster membership on the machine's real NATS JetStream (127.0.0.1:4222): heartbeats in the
 * `<PREFIX>_instances` bucket, call leases in `<PREFIX>_calls` (claim/release/ownerOf/leases/
 * onClaimedElsewhere, taking a lease over from an instance without heartbeat) and supervisor actions
 * routed to a call's owner over request/reply. Two "instances" = two connections in this process,
 * each with its own NatsCluster; a random prefix per run, buckets destroyed at the end.
 */
import { Writable } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { Kvm } from '@nats-io/kv';
import { createLogger } from '../../src/logging/logger';
import { ActionRoutingError, type CallActionRequest } from '../../src/cluster/actions';
import { startNatsCluster, type NatsCluster } from '../../src/cluster/nats/membership-cluster';
import { clusterNames, keyToken } from '../../src/cluster/nats/membership-names';
import { NATS_TEST_URL, uniqueSuffix } from '../../scripts/lib/cluster-services';
import { next } from '../helpers/next-value';

const logger = createLogger({ level: 'error', json: true, silent: true });
const prefix = `sbm_${uniqueSuffix()}`;
const names = clusterNames(prefix);
const LEASE_TTL_MS = 2000;

describe('NATS cluster membership, leases and routed actions', () => {
  const connections: NatsConnection[] = [];
  const actionsSeen: Record<string, CallActionRequest[]> = {};
  let a: NatsCluster;
  let b: NatsCluster;
  // A host name with dots, as the default INSTANCE_ID has: it must still name keys and subjects.
  const idA = `a.host.example-${uniqueSuffix()}`;
  const idB = `b-${uniqueSuffix()}`;

  async function instance(instanceId: string): Promise<NatsCluster> {
    const nc = await connect({ servers: NATS_TEST_URL, name: instanceId });
    connections.push(nc);
    actionsSeen[instanceId] = [];
    return startNatsCluster({
      nc,
      prefix,
      instanceId,
      leaseTtlMs: LEASE_TTL_MS,
      logger,
      actionTimeoutMs: 400,
      closeOrphanedCall: () => Promise.resolve(),
      handleAction: async (request) => {
        actionsSeen[instanceId].push(request);
        if (request.args.mode === 'missing') throw new ActionRoutingError('not-found', 'no live call here');
        if (request.args.mode === 'broken') throw new Error('the engine is gone');
        if (request.args.mode === 'slow') await new Promise((resolve) => setTimeout(resolve, 1500));
        return { handledBy: instanceId, action: request.action };
      },
    });
  }

  beforeAll(async () => {
    a = await instance(idA);
    b = await instance(idB);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    const kvm = new Kvm(connections[0]);
    for (const bucket of [names.instancesBucket, names.callsBucket]) await (await kvm.open(bucket)).destroy();
    for (const nc of connections) await nc.close();
  });

  it('beats into <PREFIX>_instances and each instance sees the other alive', async () => {
    expect(a.membership.isAlive(idB)).toBe(true);
    expect(b.membership.isAlive(idA)).toBe(true);
    expect(a.membership.isAlive('never-seen')).toBe(false);
    const kv = await new Kvm(connections[0]).open(names.instancesBucket);
    expect((await kv.status()).ttl).toBe(LEASE_TTL_MS);
    const first = await kv.get(names.heartbeatKey(idA));
    expect(names.heartbeatKey(idA)).toBe(`instance.${keyToken(idA)}`);
    expect(keyToken(idA)).not.toContain('.');
    const info = first!.json<{ instanceId: string; startedAt: number; lastBeat: number }>();
    expect(info.instanceId).toBe(idA);
    // The next beat arrives within one beat interval (TTL / 3) and moves lastBeat on.
    const later = await (async () => {
      const watch = await kv.watch({ key: names.heartbeatKey(idA), include: 'updates' });
      for await (const e of watch) {
        watch.stop();
        return e.json<{ lastBeat: number; startedAt: number }>();
      }
      throw new Error('watch ended');
    })();
    expect(later.lastBeat).toBeGreaterThan(info.lastBeat);
    expect(later.startedAt).toBe(info.startedAt);
    expect(a.membership.liveInstances().map((i) => i.instanceId)).toEqual(expect.arrayContaining([idA, idB]));
  });

  it('gives a call to one instance only, tells the other, and frees it on release', async () => {
    const callId = `call-${uniqueSuffix()}`;
    const toldA = next<[string, string]>(
      (l) => a.ownership.onClaimedElsewhere((c, o) => l([c, o])),
      ([c]) => c === callId,
    );
    expect(await b.ownership.claim(callId)).toBe(true);
    expect(await b.ownership.claim(callId)).toBe(true); // already ours
    expect(await toldA).toEqual([callId, idB]);
    expect(await a.ownership.claim(callId)).toBe(false);
    expect(await a.ownership.ownerOf(callId)).toBe(idB);
    expect(await a.ownership.leases()).toContainEqual(expect.objectContaining({ callId, instanceId: idB }));
    expect(await b.ownership.leases()).toContainEqual(expect.objectContaining({ callId, instanceId: idB }));

    await a.ownership.release(callId); // not A's: left alone
    expect(await b.ownership.ownerOf(callId)).toBe(idB);
    await b.ownership.release(callId);
    expect(await a.ownership.ownerOf(callId)).toBeUndefined();
    expect((await b.ownership.leases()).map((l) => l.callId)).not.toContain(callId);
    expect(await a.ownership.claim(callId)).toBe(true);
    expect(await b.ownership.ownerOf(callId)).toBe(idA);
    await a.ownership.release(callId);
  });

  it('takes a lease over from an instance without heartbeat: of two racing survivors exactly one wins', async () => {
    const kv = await new Kvm(connections[0]).open(names.callsBucket);
    const callId = `orphan-${uniqueSuffix()}`;
    await kv.put(
      names.leaseKey(callId),
      JSON.stringify({ callId, instanceId: 'ghost-instance', claimedAt: Date.now() }),
    );
    const results = await Promise.all([a.ownership.claim(callId), b.ownership.claim(callId)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results[0] ? idA : idB;
    expect(await a.ownership.ownerOf(callId)).toBe(winner);
    await (winner === idA ? a : b).ownership.release(callId);
  });

  it('routes an action to the owner of the call and returns its answer', async () => {
    const callId = `routed-${uniqueSuffix()}`;
    await b.ownership.claim(callId);
    const result = await a.actions.routeAction(callId, 'whisper', { text: 'offer the discount', actor: 'sam' });
    expect(result).toEqual({ handledBy: idB, action: 'whisper' });
    expect(actionsSeen[idB].at(-1)).toEqual({
      callId,
      action: 'whisper',
      args: { text: 'offer the discount', actor: 'sam' },
      from: idA,
    });
    expect(actionsSeen[idA]).toHaveLength(0);
    // On the owner itself, the handler runs without a NATS hop.
    expect(await b.actions.routeAction(callId, 'end', {})).toEqual({ handledBy: idB, action: 'end' });
    expect(actionsSeen[idB].at(-1)).toMatchObject({ action: 'end', from: idB });
    // To an owner already known (a provider's final status landing on A for B's call).
    expect(await a.actions.routeActionTo(idB, callId, 'end', { reason: 'completed' })).toEqual({
      handledBy: idB,
      action: 'end',
    });
    expect(actionsSeen[idB].at(-1)).toEqual({ callId, action: 'end', args: { reason: 'completed' }, from: idA });
    await b.ownership.release(callId);
  });

  it('turns every failure into a clear ActionRoutingError code', async () => {
    const callId = `failing-${uniqueSuffix()}`;
    await b.ownership.claim(callId);
    const codeOf = (p: Promise<unknown>): Promise<unknown> =>
      p.then(
        () => 'resolved',
        (err: ActionRoutingError) => ({ code: err.code, message: err.message }),
      );
    expect(await codeOf(a.actions.routeAction(callId, 'whisper', { mode: 'missing' }))).toEqual({
      code: 'not-found',
      message: 'no live call here',
    });
    expect(await codeOf(a.actions.routeAction(callId, 'end', { mode: 'broken' }))).toEqual({
      code: 'action-failed',
      message: 'the engine is gone',
    });
    const slow = (await codeOf(a.actions.routeAction(callId, 'transfer', { mode: 'slow' }))) as {
      code: string;
      message: string;
    };
    expect(slow.code).toBe('timeout');
    expect(slow.message).toContain('within 400 ms');
    expect(await codeOf(a.actions.routeAction(`nobody-${uniqueSuffix()}`, 'end'))).toMatchObject({ code: 'no-owner' });
    expect(await codeOf(a.actions.routeAction(callId, 'dance' as 'end'))).toMatchObject({ code: 'invalid' });
    // A lease whose holder no longer answers (it died; the failover has not removed the lease yet).
    const kv = await new Kvm(connections[0]).open(names.callsBucket);
    const orphan = `unreachable-${uniqueSuffix()}`;
    await kv.put(names.leaseKey(orphan), JSON.stringify({ callId: orphan, instanceId: 'dead-one', claimedAt: 1 }));
    expect(await codeOf(a.actions.routeAction(orphan, 'whisper', {}))).toMatchObject({ code: 'owner-unreachable' });
    await kv.delete(names.leaseKey(orphan));
    await b.ownership.release(callId);
  });

  it('answers not-ready until the app sets its handlers, then runs them', async () => {
    const nc = await connect({ servers: NATS_TEST_URL });
    connections.push(nc);
    const idD = `d-${uniqueSuffix()}`;
    const d = await startNatsCluster({ nc, prefix, instanceId: idD, leaseTtlMs: LEASE_TTL_MS, logger });
    try {
      const callId = `late-${uniqueSuffix()}`;
      await d.ownership.claim(callId);
      await expect(a.actions.routeAction(callId, 'whisper', {})).rejects.toMatchObject({ code: 'not-ready' });
      d.setHandlers({ handleAction: (r) => ({ late: r.action }), closeOrphanedCall: () => Promise.resolve() });
      expect(await a.actions.routeAction(callId, 'whisper', {})).toEqual({ late: 'whisper' });
      await d.ownership.release(callId);
    } finally {
      await d.close();
    }
  });

  it('says so when CLUSTER_LEASE_TTL_MS differs from the TTL of the existing heartbeat bucket', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const nc = await connect({ servers: NATS_TEST_URL });
    connections.push(nc);
    const e = await startNatsCluster({
      nc,
      prefix,
      instanceId: `e-${uniqueSuffix()}`,
      leaseTtlMs: LEASE_TTL_MS * 2,
      logger: createLogger({ level: 'error', json: true, stream }),
    });
    await e.close();
    const errors = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(errors).toContainEqual(
      expect.objectContaining({ level: 'error', bucketTtlMs: LEASE_TTL_MS, leaseTtlMs: LEASE_TTL_MS * 2 }),
    );
  });

  it('reports an instance that closes cleanly as lost at the next check, not after a whole TTL', async () => {
    const c = await instance(`c-${uniqueSuffix()}`);
    const cId = c.membership.instanceId;
    expect(a.membership.isAlive(cId)).toBe(true);
    const lost = next<string>(
      (l) => a.membership.onInstanceLost(l),
      (id) => id === cId,
    );
    const started = performance.now();
    await c.close();
    expect(await lost).toBe(cId);
    // Found by the next check (one beat interval), not after a whole TTL.
    expect(performance.now() - started).toBeLessThan(LEASE_TTL_MS);
    expect(a.membership.isAlive(cId)).toBe(false);
    expect(await a.membership.confirmDead(cId)).toBe(true);
  });
});
