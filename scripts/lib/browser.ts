/**
 * Debian's chromium driven by playwright-core, for the dashboard's browser tests and screenshots.
 * Never downloads a browser: a missing /usr/bin/chromium is a clear failure (CI installs it with
 * apt-get). Every console error, uncaught page error and Content-Security-Policy violation is
 * collected in `problems`, so a test can assert the page ran clean.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-quic',
  '--no-first-run',
  '--disable-sync',
  // The recording is played by the test, not by a person clicking.
  '--autoplay-policy=no-user-gesture-required',
];

export interface BrowserSession {
  context: BrowserContext;
  /** Console errors, page errors and CSP violations seen so far, as text. */
  problems: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Reports CSP violations to the console (an init script runs outside the page's CSP). */
const CSP_REPORTER = `document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`;

export async function launchBrowser(
  options: {
    viewport?: { width: number; height: number };
    deviceScaleFactor?: number;
    /** More chromium flags (e.g. a fake microphone fed from a WAV file). */
    args?: string[];
  } = {},
): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}. The browser tests drive Debian's chromium: install it with ` +
        '`apt-get install chromium` (.ci/run does), or set CHROMIUM_PATH. They never download a browser.',
    );
  }
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-chromium-'));
  const problems: string[] = [];
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
      viewport: options.viewport ?? { width: 1366, height: 900 },
      deviceScaleFactor: options.deviceScaleFactor ?? 1,
      acceptDownloads: true,
      timezoneId: 'UTC',
      locale: 'en-US',
    });
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
  await context.addInitScript(CSP_REPORTER);
  const watch = (page: Page): void => {
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()} (${msg.location().url})`);
    });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  };
  for (const page of context.pages()) watch(page);
  context.on('page', watch);
  return {
    context,
    problems,
    async newPage() {
      // A persistent context opens with one blank page: use it first.
      const blank = context.pages().find((p) => p.url() === 'about:blank');
      return blank ?? context.newPage();
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export interface TcpProxy {
  port: number;
  /** Cuts every open connection (the browser sees its SSE stream drop). */
  dropAll(): void;
  /** While paused, new connections are refused (closed at once). */
  setPaused(paused: boolean): void;
  close(): Promise<void>;
}

/** A TCP proxy in front of the app: lets a test cut the browser's connections like a network fault. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let paused = false;
  const server = net.createServer((client) => {
    if (paused) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    dropAll() {
      for (const s of sockets) s.destroy();
    },
    setPaused(value) {
      paused = value;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Waits until a JavaScript expression is truthy in the page. Unlike page.waitForFunction with a
 * string (which the page's CSP refuses as eval), page.evaluate runs through the DevTools protocol.
 */
export async function waitForJs(page: Page, expression: string, timeoutMs = 10_000): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await page.evaluate(expression);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${expression}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
