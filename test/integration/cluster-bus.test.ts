/**
 * The cluster event bus (src/cluster/nats/bus.ts) on the real NATS JetStream at 127.0.0.1:4222: two
 * EventBus + ClusterBus pairs in this process are two instances. A's events reach B's bus once (with
 * their origin, Dates intact) and are never echoed or published again; an SSE client (real HTTP, the
 * real handler of src/http/sse.ts) on B sees A's events live with stream-sequence ids, and reconnecting
 * to A with Last-Event-ID gets exactly the missed ones; ids the stream no longer holds get a snapshot.
 * Every stream here has its own random prefix and is deleted at the end.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import express from 'express';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { EventBus, type AnyBusEvent } from '../../src/events/event-bus';
import { attachClusterBus, type ClusterBus } from '../../src/cluster/nats/bus';
import { streamName } from '../../src/cluster/nats/bus-codec';
import { createStatusHandler } from '../../src/http/sse';
import { connectSse, type SseConnection } from '../../scripts/lib/sse-client';
import { captureLogger, fakeCall, nextFeedEvent } from '../helpers/cluster-bus';

const NATS_URL = 'nats://127.0.0.1:4222';

interface Instance {
  id: string;
  bus: EventBus;
  cluster: ClusterBus;
  server: http.Server;
  url: string;
  logs: Array<{ level: string; message: string }>;
}

async function startInstance(id: string, prefix: string, extra: { maxMsgs?: number } = {}): Promise<Instance> {
  const { logger, lines } = captureLogger();
  const bus = new EventBus();
  const cluster = attachClusterBus({ bus, natsUrl: NATS_URL, prefix, instanceId: id, logger, ...extra });
  const app = express();
  app.get('/api/status', createStatusHandler({ bus, callManager: { activeCalls: () => [] } as never, logger }));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await cluster.ready;
  return {
    id,
    bus,
    cluster,
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/status`,
    logs: lines,
  };
}

async function stopInstance(i: Instance): Promise<void> {
  await i.cluster.close();
  i.server.closeAllConnections();
  await new Promise<void>((resolve) => i.server.close(() => resolve()));
}

describe('cluster event bus on NATS JetStream', () => {
  const prefix = `sbtest_${randomBytes(4).toString('hex')}`;
  const prefixes = [prefix];
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let a: Instance;
  let b: Instance;
  const sse: SseConnection[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: '127.0.0.1:4222' });
    jsm = await jetstreamManager(nc);
    a = await startInstance('A', prefix);
    b = await startInstance('B', prefix);
  });
  afterEach(() => {
    for (const c of sse.splice(0)) c.close();
  });
  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map(stopInstance));
    for (const p of prefixes) await jsm.streams.delete(streamName(p)).catch(() => undefined);
    await nc.close();
  });

  it("delivers A's events to B's bus once, tagged with A, without echo or re-publishing", async () => {
    const onB: AnyBusEvent[] = [];
    const localOnB: AnyBusEvent[] = [];
    const onA: AnyBusEvent[] = [];
    const offs = [b.bus.subscribeAll((e) => onB.push(e)), b.bus.subscribe((e) => localOnB.push(e))];
    offs.push(a.bus.subscribeAll((e) => onA.push(e)));
    const before = (await jsm.streams.info(streamName(prefix))).state.last_seq;

    const lastOnA = nextFeedEvent(a.cluster, (e) => e.type === 'transcript.added');
    const lastOnB = nextFeedEvent(b.cluster, (e) => e.type === 'transcript.added');
    a.bus.publish('call.updated', { call: fakeCall('c.1*x') });
    a.bus.publish('transcript.added', {
      callId: 'c.1*x',
      transcript: { callId: 'c.1*x', speaker: 'caller', text: 'hello', createdAt: new Date() } as never,
    });
    const [seenA, seenB] = await Promise.all([lastOnA, lastOnB]);
    expect(seenA.seq).toBe(before + 2);
    expect(seenB.seq).toBe(before + 2);

    // B's bus: both events, once, from A, with Dates revived; none reach B's local-only listeners.
    expect(onB.map((e) => [e.type, e.origin, e.id])).toEqual([
      ['call.updated', 'A', 0],
      ['transcript.added', 'A', 0],
    ]);
    const call = (onB[0] as AnyBusEvent & { type: 'call.updated' }).data.call;
    expect(call.startedAt).toBeInstanceOf(Date);
    expect(call.endedAt).toBeNull();
    expect(localOnB).toEqual([]);
    // A: only its own two events, not echoed back from the stream.
    expect(onA.map((e) => [e.type, e.origin])).toEqual([
      ['call.updated', undefined],
      ['transcript.added', undefined],
    ]);
    // The stream holds each event once, on the call's subject (a subject-unsafe id is escaped).
    expect(b.cluster.stats()).toMatchObject({ published: 0, queued: 0, received: 2, live: true });
    expect(a.cluster.stats()).toMatchObject({ published: 2, dropped: 0, received: 0 });
    expect((await jsm.streams.info(streamName(prefix))).state.last_seq).toBe(before + 2);
    const stored = await jsm.streams.getMessage(streamName(prefix), { seq: before + 1 });
    expect(stored?.subject).toBe(`${prefix}.calls.c_1_x.call.updated`);
    expect(stored?.header.get('Sb-Origin')).toBe('A');
    for (const off of offs) off();
  });

  it('serves every instance live over SSE with stream ids, and replays exactly the missed events on another instance', async () => {
    const first = await connectSse(b.url);
    sse.push(first);
    const snapshot = await first.waitFor((m) => m.event === 'snapshot');
    expect(Number(snapshot.id)).toBe(b.cluster.lastSeq);

    a.bus.publish('call.started', { call: fakeCall('live1') });
    const e1 = await first.waitFor((m) => m.event === 'call.started');
    expect(e1.json).toMatchObject({ type: 'call.started', instance: 'A', data: { call: { id: 'live1' } } });
    expect(Number(e1.id)).toBe((e1.json as { id: number }).id);
    first.close();

    // Missed while disconnected: two of A's events, then one of B's own.
    const notesSeen = nextFeedEvent(b.cluster, (e) => e.type === 'supervisor.note');
    a.bus.publish('call.stats', {
      callId: 'live1',
      stats: { interruptions: 1, latencyLastMs: 5, latencyAvgMs: 5, aiReconnects: 0 },
    });
    a.bus.publish('supervisor.note', { callId: 'live1', by: 'sup', text: 'hi', offsetMs: 10 });
    await notesSeen;
    const caughtUp = Promise.all([
      nextFeedEvent(a.cluster, (e) => e.type === 'call.ended'),
      nextFeedEvent(b.cluster, (e) => e.type === 'call.ended'),
    ]);
    b.bus.publish('call.ended', { call: fakeCall('onB', 'completed') });
    const [endedSeen] = await caughtUp;

    // Reconnect to the other instance (A) with B's last id.
    const second = await connectSse(a.url, { 'Last-Event-ID': e1.id as string });
    sse.push(second);
    await second.waitFor((m) => m.event === 'call.ended');
    a.bus.publish('alert.fired', { callId: 'live1', ruleId: 'r', kind: 'k', message: 'm', offsetMs: 20 });
    await second.waitFor((m) => m.event === 'alert.fired');
    const base = Number(e1.id);
    expect(second.messages.map((m) => [m.event, Number(m.id), (m.json as { instance: string }).instance])).toEqual([
      ['call.stats', base + 1, 'A'],
      ['supervisor.note', base + 2, 'A'],
      ['call.ended', base + 3, 'B'],
      ['alert.fired', base + 4, 'A'],
    ]);
    expect(endedSeen.seq).toBe(base + 3);
  });

  it('answers a Last-Event-ID the stream no longer holds, or never had, with a fresh snapshot', async () => {
    const small = `sbtest_${randomBytes(4).toString('hex')}`;
    prefixes.push(small);
    const c = await startInstance('C', small, { maxMsgs: 3 });
    try {
      const done = nextFeedEvent(c.cluster, (e) => e.type === 'call.ended');
      for (let i = 0; i < 5; i++) c.bus.publish('call.updated', { call: fakeCall(`old${i}`) });
      c.bus.publish('call.ended', { call: fakeCall('old5', 'completed') });
      const last = await done;
      expect(last.seq).toBe(6);

      const aged = await connectSse(c.url, { 'Last-Event-ID': '1' });
      sse.push(aged);
      const snap = await aged.waitFor((m) => m.event === 'snapshot');
      expect(Number(snap.id)).toBe(6);
      const kept = await connectSse(c.url, { 'Last-Event-ID': '4' });
      sse.push(kept);
      await kept.waitFor((m) => m.event === 'call.ended');
      expect(kept.messages.map((m) => Number(m.id))).toEqual([5, 6]);
      const future = await connectSse(c.url, { 'Last-Event-ID': '999' });
      sse.push(future);
      expect(Number((await future.waitFor((m) => m.event === 'snapshot')).id)).toBe(6);
    } finally {
      await stopInstance(c);
    }
  });
});
