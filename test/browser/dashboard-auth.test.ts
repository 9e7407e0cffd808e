/**
 * The dashboard against a server with API_TOKENS set: the page asks for a token before touching the
 * API, refuses a wrong one, then uses the right one for REST (Authorization: Bearer) and for the SSE
 * stream (?access_token=); the token is kept for the tab only unless "remember" is ticked. Also the
 * page's own headers: the strict CSP and the caching of assets.
 */
import type { Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { launchBrowser, type BrowserSession } from '../../scripts/lib/browser';
import { seedCall } from '../../scripts/lib/seed';

const TOKEN = 'dashboard-test-token-0123456789';

describe('dashboard log-in with an API token', () => {
  let t: TestApp;
  let browser: BrowserSession;
  let page: Page;
  const apiRequests: { url: string; authorization?: string }[] = [];

  beforeAll(async () => {
    t = await startTestApp({ API_TOKENS: TOKEN });
    await seedCall(t.sb, { from: '+15557770001', startedAt: new Date(Date.now() - 60_000) });
    browser = await launchBrowser();
    page = await browser.newPage();
    page.on('request', (req) => {
      if (new URL(req.url()).pathname.startsWith('/api/'))
        apiRequests.push({ url: req.url(), authorization: req.headers().authorization });
    });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('serves the page with a strict CSP and cacheable assets', async () => {
    const res = await page.goto(`${t.baseUrl}/`);
    const csp = res?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res?.headers()['cache-control']).toBe('no-cache');
    // Every body is read: an unread 200 KB body leaves its socket paused and open after the server
    // has closed, which kept the jest worker alive ("failed to exit gracefully").
    const vendor = await fetch(`${t.baseUrl}/assets/vendor/chart.umd.min.js`);
    expect(vendor.status).toBe(200);
    expect(vendor.headers.get('cache-control')).toBe('public, max-age=86400');
    expect(vendor.headers.get('content-type')).toMatch(/javascript/);
    expect((await vendor.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    const appJs = await fetch(`${t.baseUrl}/assets/app.js`);
    expect(appJs.headers.get('etag')).toBeTruthy();
    await appJs.arrayBuffer();
    const missing = await fetch(`${t.baseUrl}/assets/vendor/other.js`);
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
    expect(await (await fetch(`${t.baseUrl}/assets/config.json`)).json()).toEqual({ authRequired: true });
  });

  it('asks for a token before calling the API and refuses a wrong one', async () => {
    await page.locator('#login-form').waitFor();
    expect(apiRequests).toEqual([]);
    await page.locator('#login-token').fill('not-the-right-token-000');
    await page.locator('#login-form button[type="submit"]').click();
    await page.locator('#login-error', { hasText: 'That token was refused' }).waitFor();
    expect(await page.evaluate('sessionStorage.length + localStorage.length')).toBe(0);
    // The refused request is the one console error (Chromium reports every 401 response).
    expect(browser.problems.splice(0)).toEqual([expect.stringMatching(/status of 401 .*\/api\/calls\?limit=1/)]);
  });

  it('logs in: REST with a bearer token, SSE with access_token; kept for the tab; log-out forgets it', async () => {
    apiRequests.length = 0;
    await page.locator('#login-token').fill(TOKEN);
    await page.locator('#login-form button[type="submit"]').click();
    await page.locator('#conn-state[data-state="live"]').waitFor();
    await page.locator('#login').waitFor({ state: 'hidden' });
    expect(apiRequests.filter((r) => r.url.includes('/api/calls')).length).toBeGreaterThan(0);
    const sse = apiRequests.find((r) => r.url.includes('/api/status'));
    expect(sse?.url).toContain(`access_token=${TOKEN}`);
    expect(
      apiRequests.filter((r) => r.url.includes('/api/calls')).every((r) => r.authorization === `Bearer ${TOKEN}`),
    ).toBe(true);
    expect(await page.evaluate(`sessionStorage.getItem('switchboard.apiToken')`)).toBe(TOKEN);
    expect(await page.evaluate(`localStorage.getItem('switchboard.apiToken')`)).toBeNull();

    await page.locator('.nav a', { hasText: 'History' }).click();
    await page.locator('.calls-table td', { hasText: '+15557770001' }).waitFor();
    await page.reload();
    await page.locator('.calls-table td', { hasText: '+15557770001' }).waitFor();

    await page.locator('#logout').click();
    await page.locator('#login-form').waitFor();
    expect(await page.evaluate('sessionStorage.length + localStorage.length')).toBe(0);
    expect(browser.problems.splice(0)).toEqual([]);
  });
});
