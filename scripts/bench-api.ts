/**
 * API benchmark (not a test): seeds a temporary SQLite database with 100,000 calls, 1,000,000
 * transcript rows (indexed by the FTS5 triggers, as in production), analytics and recording rows,
 * starts the real app on port 0 against it, and measures latency of:
 *   - a filtered page of /api/calls (status / agent / caller / sentiment / date range, varied offsets)
 *   - /api/calls with q (full-text search, alone and with a filter)
 *   - /api/analytics over 30 days (daily series)
 * with sequential requests and with concurrent clients, and the main thread's event-loop delay
 * meanwhile, with the API's reads in the read pool (worker threads, as shipped) and on the main
 * thread (createApp's `readPool: false`, as before). Prints the figures and writes
 * docs/benchmarks/api.md. Targets on a 2-core machine: p95 < 50 ms (filtered page), < 150 ms (q),
 * < 300 ms (analytics).
 *
 *   npm run bench:api                       # defaults
 *   npm run bench:api -- --calls 20000      # smaller data set (the report says which)
 *   npm run bench:api -- --db /tmp/b.db     # keep the seeded database there (reused when present)
 */
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { applyPendingMigrations, PROJECT_ROOT } from '../src/db/migrations';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const CALLS = arg('calls', 100_000);
const TRANSCRIPTS_PER_CALL = arg('turns', 10);
const DAYS = arg('days', 90);
const SEQUENTIAL = arg('requests', 300);
const CONCURRENCY = arg('concurrency', 4);
const CONCURRENT_PER_CLIENT = arg('per-client', 50);
const DAY_MS = 86_400_000;
const POOL_SIZE = arg('pool-size', 2);
const KEEP_DB = ((): string | undefined => {
  const i = args.indexOf('--db');
  return i >= 0 ? path.resolve(args[i + 1]) : undefined;
})();

// Deterministic pseudo-random numbers (mulberry32), so runs are comparable.
let seed = 42;
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
const int = (min: number, max: number): number => min + Math.floor(random() * (max - min + 1));

const AGENTS = Array.from({ length: 10 }, (_, i) => `agent-${i}`);
const STATUSES: [string, number][] = [
  ['completed', 0.8],
  ['failed', 0.05],
  ['no-answer', 0.06],
  ['busy', 0.03],
  ['canceled', 0.03],
  ['interrupted', 0.03],
];
const SENTIMENTS = ['positive', 'neutral', 'negative'];
// A Zipf-like vocabulary: a few very common words, a long tail of rare ones.
const COMMON = 'the a to and i you my is it for of on can please yes no thank that this with'.split(' ');
const TOPICAL =
  'order account payment refund delivery invoice password address appointment subscription cancel upgrade balance card transfer'.split(
    ' ',
  );
const RARE = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}x`);

function sentence(): string {
  const words: string[] = [];
  const n = int(6, 18);
  for (let i = 0; i < n; i++) {
    const r = random();
    words.push(r < 0.7 ? pick(COMMON) : r < 0.78 ? pick(TOPICAL) : pick(RARE));
  }
  return words.join(' ');
}

function cuid(i: number): string {
  return `c${i.toString(36).padStart(8, '0')}${Math.floor(random() * 36 ** 8)
    .toString(36)
    .padStart(8, '0')}bench`;
}

function seedDatabase(file: string): { seedMs: number; nowMs: number } {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const started = performance.now();
  const nowMs = Date.now();
  const insertCall = db.prepare(
    `INSERT INTO "Call" ("id","callSid","from","to","direction","agent","status","startedAt","answeredAt","endedAt","durationMs","endReason","createdAt","updatedAt")
     VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
  );
  const insertTranscript = db.prepare(
    `INSERT INTO "Transcript" ("callId","speaker","text","interrupted","startMs","endMs","createdAt") VALUES (?,?,?,?,?,?,?)`,
  );
  const insertAnalytics = db.prepare(
    `INSERT INTO "Analytics" ("id","callId","callerTalkMs","agentTalkMs","silenceMs","turns","interruptions","latencyP50Ms","latencyP95Ms","latencyMaxMs","sentimentLabel","sentimentScore","inputTokens","outputTokens","estimatedCostUsd","createdAt")
     VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
  );
  const insertRecording = db.prepare(
    `INSERT INTO "Recording" ("id","callId","path","sampleRateHz","channels","durationMs","sizeBytes","createdAt") VALUES (?,?,?,?,?,?,?,?)`,
  );
  const seedAll = db.transaction(() => {
    for (let i = 0; i < CALLS; i++) {
      const id = cuid(i);
      const startedAt = nowMs - Math.floor(random() * DAYS * DAY_MS);
      let r = random();
      let status = 'completed';
      for (const [s, p] of STATUSES) {
        if (r < p) {
          status = s;
          break;
        }
        r -= p;
      }
      const durationMs = status === 'completed' ? int(20_000, 600_000) : int(0, 30_000);
      const endedAt = startedAt + durationMs;
      insertCall.run(
        id,
        `CA${i.toString(16).padStart(32, '0')}`,
        `+1555${int(0, 19_999).toString().padStart(7, '0')}`,
        '+15559990000',
        'inbound',
        pick(AGENTS),
        status,
        startedAt,
        startedAt + 1000,
        endedAt,
        durationMs,
        status === 'completed' ? 'caller-hangup' : status,
        startedAt,
        endedAt,
      );
      for (let k = 0; k < TRANSCRIPTS_PER_CALL; k++) {
        const at = Math.floor((k * durationMs) / TRANSCRIPTS_PER_CALL);
        insertTranscript.run(id, k % 2 ? 'agent' : 'caller', sentence(), 0, at, at + 2000, startedAt + at);
      }
      if (random() < 0.9) {
        const p50 = int(300, 1200);
        insertAnalytics.run(
          `a${id}`,
          id,
          Math.floor(durationMs * 0.4),
          Math.floor(durationMs * 0.45),
          Math.floor(durationMs * 0.15),
          TRANSCRIPTS_PER_CALL,
          int(0, 5),
          p50,
          p50 + int(100, 1500),
          p50 + int(1500, 4000),
          pick(SENTIMENTS),
          random() * 2 - 1,
          int(1000, 50_000),
          int(1000, 50_000),
          Math.round(random() * 200) / 100,
          endedAt,
        );
      }
      if (random() < 0.5) insertRecording.run(`r${id}`, id, `${id}.wav`, 8000, 1, durationMs, durationMs * 16, endedAt);
    }
  });
  seedAll();
  db.exec('ANALYZE');
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { seedMs: performance.now() - started, nowMs };
}

interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

function summarize(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return {
    n: s.length,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    max: s[s.length - 1],
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
/** Production refuses to start with an open API: the benchmark's requests carry this token. */
const API_TOKEN = 'bench-api-token-0000000000000001';

function timedGet(base: string, pathAndQuery: string): Promise<{ ms: number; status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http
      .get(`${base}${pathAndQuery}`, { agent, headers: { authorization: `Bearer ${API_TOKEN}` } }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode ?? 0, bytes }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

type Scenario = { name: string; target: number; next: () => string };

/** The main thread's event-loop delay over a run (ms): how long live calls' audio would have waited. */
type LoopDelay = { p99: number; max: number };

async function measure(
  base: string,
  scenario: Scenario,
): Promise<{ sequential: Stats; concurrent: Stats; loop: LoopDelay }> {
  for (let i = 0; i < 10; i++) await timedGet(base, scenario.next()); // warm-up
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const seq: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const r = await timedGet(base, scenario.next());
    if (r.status !== 200) throw new Error(`${scenario.name}: HTTP ${r.status}`);
    seq.push(r.ms);
  }
  const conc: number[] = [];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = 0; i < CONCURRENT_PER_CLIENT; i++) {
        const r = await timedGet(base, scenario.next());
        if (r.status !== 200) throw new Error(`${scenario.name}: HTTP ${r.status}`);
        conc.push(r.ms);
      }
    }),
  );
  loop.disable();
  return {
    sequential: summarize(seq),
    concurrent: summarize(conc),
    loop: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
  };
}

const f = (ms: number): string => ms.toFixed(1);

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-'));
  const file = KEEP_DB ?? path.join(dir, 'bench.db');
  try {
    let seedMs = NaN;
    // "now" of a reused database: its newest call.
    let nowMs = Date.now();
    if (KEEP_DB && existsSync(KEEP_DB)) {
      const db = new Database(KEEP_DB, { readonly: true });
      nowMs = Number((db.prepare('SELECT max("startedAt") AS m FROM "Call"').get() as { m: number }).m);
      db.close();
      console.log(`reusing ${KEEP_DB}`);
    } else {
      console.log(`seeding ${CALLS} calls, ${CALLS * TRANSCRIPTS_PER_CALL} transcripts over ${DAYS} days in ${file}`);
      // Migrate a template and copy it (as the tests do): the schema engine's connection keeps the
      // file it migrated open for the rest of the process.
      const template = path.join(dir, 'template.db');
      await applyPendingMigrations(`file:${template}`);
      copyFileSync(template, file);
      ({ seedMs, nowMs } = seedDatabase(file));
      console.log(`seeded in ${(seedMs / 1000).toFixed(1)} s`);
    }

    const config = loadConfig({
      NODE_ENV: 'production',
      LOG_LEVEL: 'error',
      DATABASE_URL: `file:${file}`,
      RECORDING_STORAGE_PATH: path.join(dir, 'recordings'),
      HOST: '127.0.0.1',
      PUBLIC_URL: 'https://bench-api.example.test',
      API_TOKENS: API_TOKEN,
      ALLOW_LOCAL_AI_IN_PRODUCTION: 'true',
      TWILIO_SIGNATURE_VALIDATION: 'false',
      // The benchmark measures latency, not the per-client rate limit (if this version has one).
      API_RATE_LIMIT_PER_MIN: '100000000',
    });
    const iso = (ms: number): string => new Date(ms).toISOString();

    const filtered: (() => string)[] = [
      () => `status=completed&offset=${int(0, 50) * 20}`,
      () => `agent=${pick(AGENTS)}&offset=${int(0, 20) * 20}`,
      () => `status=${pick(['completed', 'failed', 'no-answer'])}&agent=${pick(AGENTS)}`,
      () => `sentiment=${pick(SENTIMENTS)}&offset=${int(0, 10) * 20}`,
      () => `caller=%2B1555${int(0, 19_999).toString().padStart(7, '0')}`,
      () => {
        const start = nowMs - int(1, DAYS) * DAY_MS;
        return `startDate=${iso(start)}&endDate=${iso(start + 7 * DAY_MS)}&status=completed`;
      },
      () => `startDate=${iso(nowMs - 30 * DAY_MS)}&agent=${pick(AGENTS)}&sentiment=${pick(SENTIMENTS)}`,
    ];
    const searches: (() => string)[] = [
      () => `q=${pick(TOPICAL)}`,
      () => `q=${pick(RARE)}`,
      () => `q=${pick(TOPICAL)}%20${pick(TOPICAL)}`,
      () => `q=${pick(TOPICAL)}&status=completed`,
      () => `q=${pick(TOPICAL)}&agent=${pick(AGENTS)}&startDate=${iso(nowMs - 30 * DAY_MS)}`,
      () => `q=${pick(TOPICAL).slice(0, 4)}`,
    ];
    const scenarios: Scenario[] = [
      { name: 'GET /api/calls (filtered page)', target: 50, next: () => `/api/calls?limit=20&${pick(filtered)()}` },
      { name: 'GET /api/calls with q', target: 150, next: () => `/api/calls?limit=20&${pick(searches)()}` },
      {
        name: 'GET /api/analytics (30 days, daily)',
        target: 300,
        next: () => {
          const end = nowMs - int(0, 60) * 3_600_000;
          return `/api/analytics?startDate=${iso(end - 30 * DAY_MS)}&endDate=${iso(end)}&interval=day`;
        },
      },
      { name: 'GET /api/calls (no filter, first page)', target: 50, next: () => '/api/calls?limit=20' },
    ];

    type Result = { setting: string; scenario: Scenario; sequential: Stats; concurrent: Stats; loop: LoopDelay };
    const results: Result[] = [];
    const settings: { name: string; short: string; readPool: false | { size: number } }[] = [
      {
        name: 'Reads on the main thread (no read pool: `readPool: false`, as before)',
        short: 'no pool',
        readPool: false,
      },
      { name: 'Read pool, 1 worker thread (as shipped)', short: 'pool, 1 worker', readPool: { size: 1 } },
      {
        name: `Read pool, ${POOL_SIZE} worker threads`,
        short: `pool, ${POOL_SIZE} workers`,
        readPool: { size: POOL_SIZE },
      },
    ];
    const worst = (setting: string, key: keyof LoopDelay): number =>
      Math.max(...results.filter((r) => r.setting === setting).map((r) => r.loop[key]));
    for (const setting of settings) {
      const sb = await createApp(config, { readPool: setting.readPool });
      if (setting.readPool && !sb.readPool) throw new Error('the read pool did not start');
      const base = `http://127.0.0.1:${await sb.listen(0, '127.0.0.1')}`;
      console.log(`\n${setting.name}`);
      for (const scenario of scenarios) {
        const r = await measure(base, scenario);
        results.push({ setting: setting.name, scenario, ...r });
        console.log(
          `  ${scenario.name}: sequential p50 ${f(r.sequential.p50)} ms, p95 ${f(r.sequential.p95)} ms; ` +
            `${CONCURRENCY} concurrent p50 ${f(r.concurrent.p50)} ms, p95 ${f(r.concurrent.p95)} ms (target p95 < ${scenario.target} ms); ` +
            `main event loop delay p99 ${f(r.loop.p99)} ms, max ${f(r.loop.max)} ms`,
        );
      }
      await sb.close();
    }
    agent.destroy();

    const sqliteVersion = (() => {
      const db = new Database(':memory:');
      const v = (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
      db.close();
      return v;
    })();
    const cpus = os.cpus();
    const load = os.loadavg().map((l) => l.toFixed(2));
    const machine = `${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}, SQLite ${sqliteVersion}`;
    const row = (name: string, s: Stats, target: number | string): string =>
      `| ${name} | ${s.n} | ${f(s.p50)} | ${f(s.p95)} | ${f(s.p99)} | ${f(s.max)} | ${target} |`;
    const md = [
      '# API benchmark',
      '',
      `Generated by \`npm run bench:api\` (scripts/bench-api.ts) on ${new Date().toISOString().slice(0, 10)}.`,
      '',
      `Machine: ${machine}.`,
      '',
      `Load average (1, 5, 15 min) at the end of the run: ${load.join(', ')}: anything above ${cpus.length} means other processes ` +
        '(on a shared machine: other test runs) competed for the CPU and inflated the figures, the p95 and concurrent ones most.',
      '',
      `Data: ${CALLS.toLocaleString('en-US')} calls spread over ${DAYS} days, ${(CALLS * TRANSCRIPTS_PER_CALL).toLocaleString('en-US')} transcript rows ` +
        `(6-18 words each from a Zipf-like vocabulary; indexed by the FTS5 triggers as in production), analytics rows for 90% of calls, recording rows for 50%. ` +
        (Number.isFinite(seedMs)
          ? `Seeded with better-sqlite3 prepared statements in one transaction in ${(seedMs / 1000).toFixed(1)} s, then \`ANALYZE\`.`
          : 'Seeded by an earlier run (reused with --db).'),
      '',
      `Method: the real app (createApp, production logging level error) on port 0 over keep-alive HTTP from the same process; ` +
        `10 warm-up requests, then ${SEQUENTIAL} sequential requests, then ${CONCURRENCY} concurrent clients × ${CONCURRENT_PER_CLIENT} requests. ` +
        'Each request draws its parameters at random from the mix below. Latency is from request start to the last body byte, in ms. ' +
        "Each scenario runs three times: with the API's reads on the main thread (`createApp(config, { readPool: false })`, how the API ran before), " +
        `in the read pool with one worker thread (the default), and with ${POOL_SIZE}. ` +
        "Meanwhile `monitorEventLoopDelay` (1 ms resolution) records the main thread's event-loop delay: how long a live call's 20 ms " +
        'audio frame would have waited behind the API (the HTTP client of the benchmark runs on that thread too and adds its own share).',
      '',
      '- filtered page: `limit=20` with one of status (+offset up to 1000), agent, status+agent, sentiment, exact caller, a 7-day range + status, 30 days + agent + sentiment.',
      '- with q: a topical word (each is in about 6% of turns and 47% of calls: the worst case), a rare word, two topical words, a topical word + status, + agent + 30 days, a 4-letter prefix.',
      '- analytics: 30-day range ending within the last 60 hours, daily buckets (about a third of the calls fall in it).',
      '',
      '| Scenario | Requests | p50 | p95 | p99 | max | Target p95 |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...settings.flatMap((setting) => [
        `| **${setting.name}** | | | | | | |`,
        ...results
          .filter((r) => r.setting === setting.name)
          .flatMap((r) => [
            row(`${r.scenario.name}, sequential`, r.sequential, `< ${r.scenario.target}`),
            row(`${r.scenario.name}, ${CONCURRENCY} concurrent`, r.concurrent, '—'),
          ]),
      ]),
      '',
      "Main thread's event-loop delay during each scenario (sequential and concurrent requests together), in ms:",
      '',
      `| Scenario | ${settings.map((s) => `${s.short}: p99 | ${s.short}: max`).join(' | ')} |`,
      `| --- | ${settings.map(() => '---: | ---:').join(' | ')} |`,
      ...scenarios.map((scenario) => {
        const cells = settings.map((setting) => {
          const r = results.find((x) => x.setting === setting.name && x.scenario === scenario);
          return r ? `${f(r.loop.p99)} | ${f(r.loop.max)}` : '— | —';
        });
        return `| ${scenario.name} | ${cells.join(' | ')} |`;
      }),
      '',
      `Worst over the scenarios: p99 ${settings.map((s) => `${f(worst(s.name, 'p99'))} ms (${s.short})`).join(', ')}; ` +
        `max ${settings.map((s) => `${f(worst(s.name, 'max'))} ms (${s.short})`).join(', ')}. ` +
        'Without the pool every query holds the main thread for its whole duration (two requests read in the same loop turn ' +
        'hold it for two queries in a row). With the pool the main thread runs no SQL; its remaining rare spikes ' +
        '(single samples, the p99 stays a few ms) come from what else runs there and on the machine: HTTP and JSON work, ' +
        "receiving results, garbage collection, the benchmark's own client, other processes on a shared machine.",
      '',
      'Concurrent figures include queueing: better-sqlite3 is synchronous, so the queries of one connection run one at a time, ' +
        'on the main thread without the pool, in the worker with it; with N workers N queries run at once (on a 2-core machine ' +
        'they share the cores with the main thread).',
      '',
      'Page cache and memory map: the run of commit 5b1b1b5 compared the pragmas of src/db/prisma.ts (cache_size 64 MiB, ' +
        'mmap_size 256 MiB, which the read workers use too) with mmap_size 512 MiB: no difference beyond noise.',
      '',
    ].join('\n');
    const out = path.join(PROJECT_ROOT, 'docs', 'benchmarks', 'api.md');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, md);
    console.log(`\nwrote ${out}`);
    const failed = results.filter((r) => r.sequential.p95 >= r.scenario.target);
    if (failed.length)
      console.log(`ABOVE TARGET: ${failed.map((r) => `${r.scenario.name} (${r.setting})`).join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
