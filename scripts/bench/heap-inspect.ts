/**
 * What a running server allocates and keeps, through its inspector (start it with
 * `--server-node-args=--inspect=127.0.0.1:9229`, e.g. during `npm run bench`):
 *
 *   npx tsx scripts/bench/heap-inspect.ts sample 10 out.heapprofile   # allocations over 10 s, by function
 *   npx tsx scripts/bench/heap-inspect.ts promoted 20 out.heapprofile # what survived the young generation, by function
 *   npx tsx scripts/bench/heap-inspect.ts young 1500 out               # objects born in 1.5 s and still alive
 *   npx tsx scripts/bench/heap-inspect.ts survivors 40 out.json 80    # what a scavenge finds alive, by function
 *   npx tsx scripts/bench/heap-inspect.ts census 0 one.json [base.json] # what the heap holds, by type (and against base)
 *
 * `sample` runs V8's sampling heap profiler with the objects that scavenges and full GCs collected
 * included, so it shows what the process allocates (the garbage a GC trace counts), not only what
 * it keeps. `promoted` leaves out what scavenges collected: what it shows lived long enough to be
 * promoted to the old generation (and is alive at the end, or was freed by a full GC — the garbage
 * that makes full GCs happen). `young` takes two heap snapshots in one inspector session (object ids stay stable) and
 * lists the objects of the second that the first did not have, by type and first retainer: what
 * lives long enough to be promoted to the old generation. Used for docs/benchmarks/bridge.md,
 * "Garbage, socket writes and per-call memory on the main thread".
 */
import { readFileSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';

type Json = Record<string, unknown>;

async function session(
  port: number,
): Promise<{ call: (method: string, params?: Json) => Promise<Json>; chunks: string[]; close: () => void }> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl, { maxPayload: 2 ** 30 });
  const pending = new Map<number, { resolve: (r: Json) => void; reject: (e: Error) => void }>();
  const chunks: string[] = [];
  let nextId = 0;
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as {
      id?: number;
      method?: string;
      params?: { chunk: string };
      result?: Json;
      error?: unknown;
    };
    if (m.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(m.params!.chunk);
    const p = m.id === undefined ? undefined : pending.get(m.id);
    if (!p) return;
    pending.delete(m.id!);
    if (m.error) p.reject(new Error(JSON.stringify(m.error)));
    else p.resolve(m.result ?? {});
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const call = (method: string, params: Json = {}): Promise<Json> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { call, chunks, close: () => ws.close() };
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const where = (url: string): string => url.replace(/.*\/(node_modules|dist)\//, '~$1/');
const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(2).padStart(8);

async function sample(port: number, seconds: number, out: string, scavenged: boolean): Promise<void> {
  const s = await session(port);
  await s.call('HeapProfiler.enable');
  await s.call('HeapProfiler.startSampling', {
    samplingInterval: 16384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: scavenged,
  });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const { profile } = (await s.call('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
  s.close();
  writeFileSync(out, JSON.stringify(profile));
  const tally = new Tally();
  tally.add(profile.head);
  tally.print(`${scavenged ? 'allocated' : 'promoted'} ${mb(tally.total).trim()} MB in ${seconds} s (sampled)`);
}

/** Sampled bytes by allocating function, and by the innermost frame of our own code (dist/src). */
class Tally {
  readonly self = new Map<string, number>();
  /** Charged to the innermost frame of our own code (dist/src), where a package or Node allocated for it. */
  readonly ours = new Map<string, number>();
  total = 0;

  add(head: ProfileNode): void {
    const walk = (n: ProfileNode, app: string): void => {
      const key = `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
      const inApp = /\/(dist\/)?src\//.test(n.callFrame.url) && !n.callFrame.url.includes('node_modules') ? key : app;
      this.self.set(key, (this.self.get(key) ?? 0) + n.selfSize);
      this.ours.set(inApp, (this.ours.get(inApp) ?? 0) + n.selfSize);
      this.total += n.selfSize;
      for (const c of n.children) walk(c, inApp);
    };
    walk(head, '(no frame of ours)');
  }

  print(title: string): void {
    const list = (m: Map<string, number>): void => {
      for (const [key, bytes] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 30))
        console.log(`${mb(bytes)} MB  ${key}`);
    };
    console.log(`${title}, by function:`);
    list(this.self);
    console.log('\nby the innermost frame of our code:');
    list(this.ours);
  }
}

/**
 * What a scavenge finds alive (and so copies): `rounds` times, sample every allocation for
 * `windowMs` (about the time between two scavenges), collect the garbage, and keep the samples of
 * objects still alive. Objects born in the window and alive at its end are what a scavenge at that
 * instant would have copied; `promoted` misses those that die after one copy.
 */
async function survivors(port: number, rounds: number, windowMs: number, out: string): Promise<void> {
  const s = await session(port);
  await s.call('HeapProfiler.enable');
  const tally = new Tally();
  for (let i = 0; i < rounds; i++) {
    await s.call('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: false,
      includeObjectsCollectedByMinorGC: false,
    });
    await new Promise((r) => setTimeout(r, windowMs));
    await s.call('HeapProfiler.collectGarbage');
    const { profile } = (await s.call('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
    tally.add(profile.head);
    // Let the server catch up on what arrived during the collection before the next window.
    await new Promise((r) => setTimeout(r, 500));
  }
  s.close();
  writeFileSync(out, JSON.stringify([...tally.self]));
  tally.print(
    `alive at the end of ${rounds} windows of ${windowMs} ms: ${mb(tally.total / rounds).trim()} MB a window (sampled)`,
  );
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

async function young(port: number, gapMs: number, out: string): Promise<void> {
  const s = await session(port);
  await s.call('HeapProfiler.enable');
  const take = async (): Promise<Snapshot> => {
    s.chunks.length = 0;
    await s.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    return JSON.parse(s.chunks.join('')) as Snapshot;
  };
  const a = await take();
  await new Promise((r) => setTimeout(r, gapMs));
  const b = await take();
  s.close();
  writeFileSync(`${out}.b.heapsnapshot`, JSON.stringify(b));
  const meta = b.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const [ti, ni, si, ci, ii] = ['type', 'name', 'self_size', 'edge_count', 'id'].map((f) =>
    meta.node_fields.indexOf(f),
  );
  const [eti, eni, toi] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f));
  const before = new Set<number>();
  for (let i = 0; i < a.nodes.length; i += nf) before.add(a.nodes[i + ii]);
  const count = b.nodes.length / nf;
  const retainer = new Int32Array(count).fill(-1);
  const via: (string | number)[] = new Array(count);
  for (let i = 0, e = 0; i < count; i++) {
    for (let k = 0; k < b.nodes[i * nf + ci]; k++, e += ef) {
      const type = meta.edge_types[0][b.edges[e + eti]];
      const to = b.edges[e + toi] / nf;
      if (type === 'weak' || type === 'shortcut' || retainer[to] !== -1) continue;
      retainer[to] = i;
      via[to] = type === 'element' || type === 'hidden' ? b.edges[e + eni] : b.strings[b.edges[e + eni]];
    }
  }
  const name = (i: number): string => {
    const type = meta.node_types[0][b.nodes[i * nf + ti]];
    return type === 'object' || type === 'native' ? `${type}:${b.strings[b.nodes[i * nf + ni]]}`.slice(0, 50) : type;
  };
  const groups = new Map<string, [number, number]>();
  let total = 0;
  for (let i = 0; i < count; i++) {
    if (before.has(b.nodes[i * nf + ii])) continue;
    const r = retainer[i];
    const key = r >= 0 ? `${name(i)} <- ${name(r)}.${via[i]}` : name(i);
    const g = groups.get(key) ?? [0, 0];
    g[0]++;
    g[1] += b.nodes[i * nf + si];
    groups.set(key, g);
    total += b.nodes[i * nf + si];
  }
  console.log(`born in ${gapMs} ms and alive: ${mb(total).trim()} MB; by type and first retainer:`);
  for (const [key, [n, bytes]] of [...groups].sort((x, y) => y[1][1] - x[1][1]).slice(0, 40))
    console.log(`${String(n).padStart(7)} ${mb(bytes)} MB  ${key}`);
}

/**
 * One snapshot, counted by node type and constructor (self sizes; a string counts once by type).
 * With a base census (the same server at one call, say), prints the difference: what N calls add.
 */
async function census(port: number, out: string, base: string | undefined): Promise<void> {
  const s = await session(port);
  await s.call('HeapProfiler.enable');
  await s.call('HeapProfiler.collectGarbage');
  s.chunks.length = 0;
  await s.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  s.close();
  const snap = JSON.parse(s.chunks.join('')) as Snapshot;
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields.length;
  const [ti, ni, si] = ['type', 'name', 'self_size'].map((f) => meta.node_fields.indexOf(f));
  const counts: Record<string, [number, number]> = {};
  for (let i = 0; i < snap.nodes.length; i += nf) {
    const type = meta.node_types[0][snap.nodes[i + ti]];
    const key =
      type === 'object' || type === 'native' || type === 'closure'
        ? `${type}:${snap.strings[snap.nodes[i + ni]]}`.slice(0, 60)
        : type;
    const c = (counts[key] ??= [0, 0]);
    c[0]++;
    c[1] += snap.nodes[i + si];
  }
  writeFileSync(out, JSON.stringify(counts));
  const before = base ? (JSON.parse(readFileSync(base, 'utf8')) as Record<string, [number, number]>) : {};
  const rows = Object.entries(counts).map(
    ([key, [n, bytes]]) => [key, n - (before[key]?.[0] ?? 0), bytes - (before[key]?.[1] ?? 0)] as const,
  );
  const total = rows.reduce((sum, r) => sum + r[2], 0);
  console.log(`${base ? 'added since the base census' : 'held'}: ${mb(total).trim()} MB; by type:`);
  for (const [key, n, bytes] of rows.sort((x, y) => y[2] - x[2]).slice(0, 40))
    console.log(`${String(n).padStart(8)} ${mb(bytes)} MB  ${key}`);
}

const [mode, amount, out, base] = process.argv.slice(2);
const port = Number(process.env.INSPECT_PORT ?? 9229);
const run =
  mode === 'sample' || mode === 'promoted'
    ? sample(port, Number(amount ?? 10), out ?? 'heap.heapprofile', mode === 'sample')
    : mode === 'young'
      ? young(port, Number(amount ?? 1500), out ?? 'heap')
      : mode === 'survivors'
        ? survivors(port, Number(amount ?? 40), Number(base ?? 80), out ?? 'survivors.json')
        : mode === 'census'
          ? new Promise((r) => setTimeout(r, Number(amount ?? 0) * 1000)).then(() =>
              census(port, out ?? 'census.json', base),
            )
          : undefined;
if (!run) {
  console.error(
    'usage: heap-inspect.ts sample|promoted SECONDS OUT | young GAP_MS OUT_PREFIX | survivors ROUNDS OUT [WINDOW_MS] | census DELAY_S OUT [BASE]',
  );
  process.exit(2);
}
run.catch((err: unknown) => {
  console.error((err as Error).message);
  process.exit(1);
});
