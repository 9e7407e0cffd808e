/**
 * An S3-compatible endpoint for the recordings tests: s3rver (in-process, port 0, a temporary
 * directory, one bucket) behind a small HTTP front that the test controls. The front forwards every
 * request unchanged (the SigV4 signature covers the Host header, which stays the front's), and lets
 * a test
 * - see the requests S3 received (method, path, Range header),
 * - stop the endpoint (connections refused, open ones cut) and start it again on the same port,
 * - hold a GetObject response after its first N bytes until released (proof that a reader streams).
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';

// s3rver ships no types: the part of its API used here (README "Programmatically running s3rver").
interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: Array<{ name: string }>;
}) => S3rverInstance;

export interface SeenRequest {
  method: string;
  url: string;
  range?: string;
}

export interface Gate {
  /** Bytes of the held response the front has passed on so far. */
  readonly passed: number;
  /** Resolves once the front holds the response (its first bytes are out). */
  readonly holding: Promise<void>;
  release(): void;
}

export interface TestS3 {
  endpoint: string;
  bucket: string;
  requests: SeenRequest[];
  /** Env of an app that stores its recordings here (under `prefix`). */
  env(prefix: string): Record<string, string>;
  /** Holds the next GetObject response of `key` after `afterBytes` of its body. */
  gateNextGet(key: string, afterBytes: number): Gate;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

class Valve extends Transform {
  passed = 0;
  private held?: { chunk: Buffer; cb: TransformCallback };
  private open = false;
  private notifyHolding!: () => void;
  readonly holding = new Promise<void>((r) => (this.notifyHolding = r));

  constructor(private readonly afterBytes: number) {
    super();
  }

  release(): void {
    this.open = true;
    const h = this.held;
    this.held = undefined;
    if (h) this.forward(h.chunk, h.cb);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.open || this.passed + chunk.length <= this.afterBytes) return this.forward(chunk, cb);
    const head = chunk.subarray(0, Math.max(0, this.afterBytes - this.passed));
    if (head.length > 0) {
      this.push(head);
      this.passed += head.length;
    }
    this.held = { chunk: chunk.subarray(head.length), cb };
    this.notifyHolding();
  }

  private forward(chunk: Buffer, cb: TransformCallback): void {
    this.passed += chunk.length;
    cb(null, chunk);
  }
}

export async function startTestS3(): Promise<TestS3> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-s3rver-'));
  const bucket = `sb-rec-${randomBytes(4).toString('hex')}`;
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket }],
  });
  const upstream = await s3.run();
  const requests: SeenRequest[] = [];
  const gates = new Map<string, Valve>();

  const front = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range });
    const up = http.request(
      { host: '127.0.0.1', port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        const objectPath = decodeURIComponent((req.url ?? '').split('?')[0]);
        const valve = req.method === 'GET' ? gates.get(objectPath) : undefined;
        if (valve) gates.delete(objectPath);
        const done = valve ? pipeline(upRes, valve, res) : pipeline(upRes, res);
        done.catch(() => res.destroy());
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      front.once('error', reject);
      front.listen(port, '127.0.0.1', () => {
        front.off('error', reject);
        port = (front.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();
  const endpoint = `http://127.0.0.1:${port}`;
  let running = true;
  const stop = async () => {
    if (!running) return;
    running = false;
    const closed = new Promise<void>((r) => front.close(() => r()));
    front.closeAllConnections();
    await closed;
  };

  return {
    endpoint,
    bucket,
    requests,
    env: (prefix) => ({
      RECORDINGS_S3_BUCKET: bucket,
      RECORDINGS_S3_PREFIX: prefix,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      S3_FORCE_PATH_STYLE: 'true',
    }),
    gateNextGet(key, afterBytes) {
      const valve = new Valve(afterBytes);
      gates.set(`/${bucket}/${key}`, valve);
      return {
        get passed() {
          return valve.passed;
        },
        holding: valve.holding,
        release: () => valve.release(),
      };
    },
    stop,
    async start() {
      if (running) return;
      await listen();
      running = true;
    },
    async close() {
      await stop();
      await s3.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
