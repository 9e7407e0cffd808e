/**
 * Instance failure on the machine's real NATS: a child process (a real instance's cluster part, run
 * through tsx's require hook) beats and claims calls, then dies by SIGKILL. Two surviving instances in
 * this process watch it; exactly one of them must call closeOrphanedCall for each of the dead
 * instance's calls, once, within the documented bound (leaseTtlMs + one beat interval, plus slack for
 * the KV round trips), and for none of the survivors' own calls. A close that fails keeps its lease and
 * is retried once the takeover marker expires. Random prefix per run; buckets destroyed at the end.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { Kvm } from '@nats-io/kv';
import { createLogger } from '../../src/logging/logger';
import { startNatsCluster, type NatsCluster } from '../../src/cluster/nats/membership-cluster';
import { clusterNames } from '../../src/cluster/nats/membership-names';
import type { TakeoverResult } from '../../src/cluster/failover';
import { NATS_TEST_URL, uniqueSuffix } from '../../scripts/lib/cluster-services';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TSX_REQUIRE_HOOK = require.resolve('tsx/cjs');
const MEMBERSHIP_MODULE = path.join(REPO_ROOT, 'src', 'cluster', 'nats', 'membership.ts');
const OWNERSHIP_MODULE = path.join(REPO_ROOT, 'src', 'cluster', 'nats', 'ownership.ts');
const LOGGER_MODULE = path.join(REPO_ROOT, 'src', 'logging', 'logger.ts');
const LEASE_TTL_MS = 2000;
const BEAT_MS = Math.floor(LEASE_TTL_MS / 3);
/** KV round trips (confirm, marker, re-read, delete) and the event loop of a loaded test machine. */
const SLACK_MS = 1500;

/**
 * Child: an instance's heartbeats and leases (no failover of its own, so only the survivors in this
 * process can take a dead instance over): beats, claims the calls in CALL_IDS, prints READY, runs until killed.
 */
const INSTANCE_UNTIL_KILLED = `
const { connect } = require('@nats-io/transport-node');
const { NatsMembership } = require(${JSON.stringify(MEMBERSHIP_MODULE)});
const { NatsOwnership } = require(${JSON.stringify(OWNERSHIP_MODULE)});
const { createLogger } = require(${JSON.stringify(LOGGER_MODULE)});
(async () => {
  const logger = createLogger({ level: 'error', json: true });
  const nc = await connect({ servers: process.env.NATS_URL, name: process.env.INSTANCE_ID });
  const membership = await NatsMembership.start({
    nc, prefix: process.env.PREFIX, instanceId: process.env.INSTANCE_ID, leaseTtlMs: Number(process.env.TTL), logger,
  });
  const ownership = await NatsOwnership.start({ nc, membership, logger });
  for (const callId of process.env.CALL_IDS.split(',')) {
    if (!(await ownership.claim(callId))) throw new Error('could not claim ' + callId);
  }
  process.stdout.write('READY\\n');
})().catch((err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
`;

interface Child {
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

function runInstance(env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--require', TSX_REQUIRE_HOOK, '-e', INSTANCE_UNTIL_KILLED], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('READY\n')) resolve();
    });
    void exited.then(({ code, signal }) =>
      reject(new Error(`child exited (${code ?? signal}) before READY: ${stderr}`)),
    );
  });
  return { ready, exited, kill: (signal) => child.kill(signal) };
}

interface Closed {
  callId: string;
  lostInstanceId: string;
  by: string;
  at: number;
}

describe('failover: the calls of an instance killed with SIGKILL', () => {
  const prefix = `sbf_${uniqueSuffix()}`;
  const names = clusterNames(prefix);
  const logger = createLogger({ level: 'error', json: true, silent: true });
  const connections: NatsConnection[] = [];
  const survivors: NatsCluster[] = [];
  const closed: Closed[] = [];
  const takeovers: TakeoverResult[] = [];
  const takeoverListeners = new Set<(r: TakeoverResult) => void>();
  /** closeOrphanedCall fails for these call ids (once each). */
  const failOnce = new Set<string>();

  async function survivor(instanceId: string): Promise<NatsCluster> {
    const nc = await connect({ servers: NATS_TEST_URL, name: instanceId });
    connections.push(nc);
    const cluster = await startNatsCluster({
      nc,
      prefix,
      instanceId,
      leaseTtlMs: LEASE_TTL_MS,
      logger,
      handleAction: () => ({}),
      closeOrphanedCall: (callId, lostInstanceId) => {
        if (failOnce.delete(callId)) return Promise.reject(new Error('database unavailable'));
        closed.push({ callId, lostInstanceId, by: instanceId, at: performance.now() });
        return Promise.resolve();
      },
      onTakeover: (result) => {
        takeovers.push(result);
        for (const l of takeoverListeners) l(result);
      },
    });
    survivors.push(cluster);
    return cluster;
  }

  function takeoverOf(
    lostInstanceId: string,
    accept: (r: TakeoverResult) => boolean = () => true,
  ): Promise<TakeoverResult> {
    return new Promise((resolve) => {
      const listener = (r: TakeoverResult): void => {
        if (r.lostInstanceId !== lostInstanceId || !accept(r)) return;
        takeoverListeners.delete(listener);
        resolve(r);
      };
      takeoverListeners.add(listener);
    });
  }

  const victims = {
    first: {
      id: `victim-${uniqueSuffix()}`,
      calls: Array.from({ length: 5 }, (_, i) => `dead-${i}-${uniqueSuffix()}`),
    },
    second: { id: `victim2-${uniqueSuffix()}`, calls: [`retry-a-${uniqueSuffix()}`, `retry-b-${uniqueSuffix()}`] },
  };
  const children: Record<keyof typeof victims, Child | undefined> = { first: undefined, second: undefined };

  beforeAll(async () => {
    await survivor(`s1-${uniqueSuffix()}`);
    await survivor(`s2-${uniqueSuffix()}`);
    // Both doomed instances start at once (tsx compiles the cluster modules in each: seconds).
    for (const key of ['first', 'second'] as const) {
      const v = victims[key];
      children[key] = runInstance({
        NATS_URL: NATS_TEST_URL,
        PREFIX: prefix,
        INSTANCE_ID: v.id,
        TTL: String(LEASE_TTL_MS),
        CALL_IDS: v.calls.join(','),
      });
    }
    await Promise.all([children.first!.ready, children.second!.ready]);
  }, 60_000);

  afterAll(async () => {
    for (const child of Object.values(children)) child?.kill('SIGKILL');
    for (const s of survivors) await s.close();
    const kvm = new Kvm(connections[0]);
    for (const bucket of [names.instancesBucket, names.callsBucket]) await (await kvm.open(bucket)).destroy();
    for (const nc of connections) await nc.close();
  });

  it("closes exactly the dead instance's calls, once, by one survivor, within leaseTtlMs + one beat", async () => {
    const [s1, s2] = survivors;
    const { id: deadId, calls: deadCalls } = victims.first;
    const child = children.first!;
    const ownCall = `own-${uniqueSuffix()}`;
    expect(await s1.ownership.claim(ownCall)).toBe(true);

    expect(await s2.ownership.ownerOf(deadCalls[0])).toBe(deadId);
    expect(s1.membership.isAlive(deadId) || (await s1.membership.confirmDead(deadId)) === false).toBe(true);

    const done = takeoverOf(deadId);
    child.kill('SIGKILL');
    const killedAt = performance.now();
    expect((await child.exited).signal).toBe('SIGKILL');
    const result = await done;
    const elapsed = performance.now() - killedAt;
    process.stdout.write(
      `MEASURE takeover finished ${Math.round(elapsed)} ms after SIGKILL (ttl ${LEASE_TTL_MS}, beat ${BEAT_MS})\n`,
    );

    expect(result.closed.sort()).toEqual([...deadCalls].sort());
    expect(result.failed).toEqual([]);
    expect(elapsed).toBeLessThan(LEASE_TTL_MS + BEAT_MS + SLACK_MS);
    // Not before its heartbeat had been silent for the TTL (the last beat came at most one interval before the kill).
    expect(Math.min(...closed.map((c) => c.at)) - killedAt).toBeGreaterThan(LEASE_TTL_MS - BEAT_MS);
    expect(closed.map((c) => c.callId).sort()).toEqual([...deadCalls].sort());
    expect(new Set(closed.map((c) => c.by)).size).toBe(1);
    expect(closed.every((c) => c.lostInstanceId === deadId)).toBe(true);
    for (const callId of deadCalls) expect(await s1.ownership.ownerOf(callId)).toBeUndefined();
    expect(await s2.ownership.ownerOf(ownCall)).toBe(s1.membership.instanceId);

    // Once: the loser never takes over, not even after the takeover marker has expired.
    await new Promise((resolve) => setTimeout(resolve, LEASE_TTL_MS + 2 * BEAT_MS));
    expect(closed).toHaveLength(deadCalls.length);
    expect(takeovers.filter((t) => t.lostInstanceId === deadId)).toHaveLength(1);
    await s1.ownership.release(ownCall);
  });

  it('keeps the lease of a call it could not close and closes it after the takeover marker expires', async () => {
    const { id: deadId, calls: deadCalls } = victims.second;
    const child = children.second!;
    expect(await survivors[0].ownership.ownerOf(deadCalls[0])).toBe(deadId);
    failOnce.add(deadCalls[1]);
    const first = takeoverOf(deadId);
    const second = takeoverOf(deadId, (r) => r.closed.includes(deadCalls[1]));
    child.kill('SIGKILL');
    const killedAt = performance.now();
    await child.exited;

    const r1 = await first;
    expect(r1.closed).toEqual([deadCalls[0]]);
    expect(r1.failed).toEqual([deadCalls[1]]);
    expect(await survivors[0].ownership.ownerOf(deadCalls[1])).toBe(deadId); // lease kept for the retry
    const r2 = await second;
    expect(r2.closed).toEqual([deadCalls[1]]);
    // Retried once the marker (TTL) expired: by the next sweep after it.
    expect(performance.now() - killedAt).toBeLessThan(2 * (LEASE_TTL_MS + BEAT_MS) + SLACK_MS);
    expect(
      closed
        .filter((c) => deadCalls.includes(c.callId))
        .map((c) => c.callId)
        .sort(),
    ).toEqual([...deadCalls].sort());
    expect(await survivors[1].ownership.ownerOf(deadCalls[1])).toBeUndefined();
  });

  it('closes the leases a restarted instance (same INSTANCE_ID) took in its previous life, and only those', async () => {
    const id = `restarted-${uniqueSuffix()}`;
    const kvm = new Kvm(connections[0]);
    // The previous process's last beat is still within the TTL, so no other survivor may take it over.
    await (
      await kvm.open(names.instancesBucket)
    ).put(
      names.heartbeatKey(id),
      JSON.stringify({ instanceId: id, startedAt: Date.now() - 60_000, lastBeat: Date.now() }),
    );
    const old = `past-life-${uniqueSuffix()}`;
    await (
      await kvm.open(names.callsBucket)
    ).put(names.leaseKey(old), JSON.stringify({ callId: old, instanceId: id, claimedAt: Date.now() - 30_000 }));
    const done = takeoverOf(id);
    const restarted = await survivor(id);
    const result = await done;
    expect(result).toEqual({ lostInstanceId: id, closed: [old], failed: [] });
    expect(closed.filter((c) => c.callId === old)).toEqual([expect.objectContaining({ by: id, lostInstanceId: id })]);
    expect(await restarted.ownership.ownerOf(old)).toBeUndefined();
    const fresh = `new-life-${uniqueSuffix()}`;
    expect(await restarted.ownership.claim(fresh)).toBe(true);
    await restarted.failover.sweep();
    expect(await survivors[0].ownership.ownerOf(fresh)).toBe(id);
    expect(closed.map((c) => c.callId)).not.toContain(fresh);
    await restarted.ownership.release(fresh);
  });
});
