/**
 * A real load balancer in front of several Switchboard instances, for the cluster tests and the
 * two-instance benchmark: Debian's HAProxy (apt-get install haproxy), round-robin per request, with
 * WebSocket upgrades tunnelled, X-Forwarded-For added, and a /health check that takes a dead instance
 * out of the rotation within about a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './server-process';

export const HAPROXY = '/usr/sbin/haproxy';

export interface LoadBalancer {
  port: number;
  baseUrl: string;
  proc: ChildProcess;
  /** Everything HAProxy printed (configuration warnings, server state changes). */
  output: string[];
  stop(): Promise<void>;
}

export function haproxyConfig(port: number, backends: { name: string; port: number }[]): string {
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    // An upgraded WebSocket (a call's media stream) lives as long as the call.
    '  timeout tunnel 2h',
    '  option forwardfor',
    // One request, one balancing decision: a webhook and the stream it announces may land apart.
    '  option http-server-close',
    'frontend switchboard',
    `  bind 127.0.0.1:${port}`,
    '  default_backend instances',
    'backend instances',
    '  balance roundrobin',
    '  option httpchk GET /health',
    '  http-check expect status 200',
    ...backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port} check inter 500ms fall 2 rise 1`),
    '',
  ].join('\n');
}

export async function startLoadBalancer(backends: { name: string; port: number }[]): Promise<LoadBalancer> {
  if (!existsSync(HAPROXY)) throw new Error(`${HAPROXY} is missing: apt-get install haproxy`);
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-lb-'));
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, haproxyConfig(port, backends));
  const proc = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  proc.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
  proc.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  // Ready when the frontend accepts connections.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited: ${output.join('')}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`haproxy did not start: ${output.join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    proc,
    output,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
