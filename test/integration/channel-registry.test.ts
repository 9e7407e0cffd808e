/**
 * The channel registry decides which WebSocket paths exist: the upgrade gate routes each upgrade to
 * the module that declared its exact path, lets the module refuse it before any 101, and answers
 * 404 for every other path or spelling.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { createUpgradeGate, newUpgradeCounters } from '../../src/http/upgrades';
import { createChannelModules, type ChannelModule, type ChannelServices } from '../../src/channels';
import { createLogger } from '../../src/logging/logger';

const logger = createLogger({ level: 'error', json: false, silent: true });

function fakeModule(name: string, paths: string[], opened: string[]): ChannelModule {
  return {
    name,
    upgradePaths: paths,
    checkUpgrade: (req) => (req.headers['x-key'] === 'ok' ? undefined : { status: 401, message: 'no key' }),
    onSocket: (ws, _req, path) => {
      opened.push(`${name}:${path}`);
      ws.close(1000);
    },
  };
}

function upgradeStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

describe('channel registry', () => {
  let server: http.Server;
  let port: number;
  const opened: string[] = [];
  const counters = newUpgradeCounters();
  let gate: ReturnType<typeof createUpgradeGate>;

  beforeAll(async () => {
    const modules = [fakeModule('alpha', ['/alpha/media'], opened), fakeModule('beta', ['/beta'], opened)];
    server = http.createServer((_req, res) => res.end());
    gate = createUpgradeGate({
      config: {} as never,
      logger,
      counters,
      maxSockets: 10,
      isDraining: () => false,
      channels: modules,
    });
    server.on('upgrade', (req, socket, head) => gate.handle(req, socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const c of gate.wss.clients) c.terminate();
    gate.wss.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('hands an upgrade of a declared path to the module that declared it', async () => {
    expect(await upgradeStatus(port, '/alpha/media', { 'x-key': 'ok' })).toBe(101);
    expect(await upgradeStatus(port, '/beta?x=1', { 'x-key': 'ok' })).toBe(101);
    expect(opened).toEqual(['alpha:/alpha/media', 'beta:/beta']);
  });

  it("answers the module's refusal before the socket opens, counted as a signature refusal", async () => {
    const before = counters.upgradesRefused.signature;
    expect(await upgradeStatus(port, '/alpha/media')).toBe(401);
    expect(await upgradeStatus(port, '/beta', { 'x-key': 'forged' })).toBe(401);
    expect(counters.upgradesRefused.signature).toBe(before + 2);
  });

  it.each(['/alpha', '/alpha/media/', '/Alpha/media', '/beta/', '//beta', '/streams', '/alpha/media%2F'])(
    'refuses %s with 404',
    async (path) => {
      expect(await upgradeStatus(port, path, { 'x-key': 'ok' })).toBe(404);
    },
  );

  it('refuses two modules claiming one name or one path, and malformed paths', () => {
    const services = {} as ChannelServices;
    const mod = (name: string, paths: string[]) => () => fakeModule(name, paths, []);
    expect(() => createChannelModules(services, [mod('a', ['/x']), mod('b', ['/x'])])).toThrow(/taken/);
    expect(() => createChannelModules(services, [mod('a', ['/x']), mod('a', ['/y'])])).toThrow(/taken/);
    expect(() => createChannelModules(services, [mod('a', ['x'])])).toThrow(/invalid/);
    expect(() => createChannelModules(services, [mod('a', ['/x/'])])).toThrow(/invalid/);
    expect(() => createChannelModules(services, [mod('A b', ['/x'])])).toThrow(/invalid/);
    expect(createChannelModules(services, [mod('a', ['/x']), mod('b', ['/y'])]).map((m) => m.name)).toEqual(['a', 'b']);
  });
});
