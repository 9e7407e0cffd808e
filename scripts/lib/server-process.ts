/**
 * The real server as a child process (`node --import tsx src/main.ts`), for shutdown and crash
 * tests and the crash/soak scripts: picks a free port, waits for /health, collects the JSON log
 * lines, and reports how the process ended.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

export interface ServerProcess {
  proc: ChildProcess;
  port: number;
  baseUrl: string;
  /** Parsed JSON log lines (stdout) so far. */
  logs: Record<string, unknown>[];
  /** Raw stderr so far. */
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal; resolves when the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line matching `predicate`. */
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts the server with these environment variables (plus PORT/HOST) and waits until /health answers. */
export async function startServerProcess(
  env: Record<string, string>,
  timeoutMs = 30_000,
  nodeArgs: string[] = [],
): Promise<ServerProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join('src', 'main.ts')], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ message: line });
      }
    }
    for (const w of waiters) w();
  });
  proc.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  for (;;) {
    if (exitedEarly) throw new Error(`server exited during start-up: ${stderr.join('')}`);
    try {
      const res = await fetch(`${baseUrl}/health`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`server did not become healthy in ${timeoutMs} ms: ${stderr.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    proc,
    port,
    baseUrl,
    logs,
    stderr,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    waitForLog(predicate, waitMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = logs.find(predicate);
          if (hit) {
            clearTimeout(timer);
            waiters.delete(onData);
            resolve(hit);
            return true;
          }
          return false;
        };
        const onData = (): void => {
          check();
        };
        const timer = setTimeout(() => {
          waiters.delete(onData);
          reject(new Error('log line not seen in time'));
        }, waitMs);
        if (!check()) waiters.add(onData);
      });
    },
  };
}

export interface WavHeaderCheck {
  fileBytes: number;
  riffSize: number;
  dataSize: number;
  /** RIFF size = file - 8 and data size = file - 44 (a 44-byte PCM header). */
  consistent: boolean;
  durationMs: number;
}

/** Reads a stereo 8 kHz PCM16 recording's header and checks it against the file's size. */
export function checkWavHeader(file: string): WavHeaderCheck {
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(44);
    readSync(fd, header, 0, 44, 0);
    const fileBytes = fstatSync(fd).size;
    const riffSize = header.readUInt32LE(4);
    const dataSize = header.readUInt32LE(40);
    const channels = header.readUInt16LE(22);
    const rate = header.readUInt32LE(24);
    const bits = header.readUInt16LE(34);
    return {
      fileBytes,
      riffSize,
      dataSize,
      consistent:
        header.toString('ascii', 0, 4) === 'RIFF' &&
        header.toString('ascii', 36, 40) === 'data' &&
        riffSize === fileBytes - 8 &&
        dataSize === fileBytes - 44,
      durationMs: (dataSize / (channels * (bits / 8)) / rate) * 1000,
    };
  } finally {
    closeSync(fd);
  }
}
