/**
 * The call detail's player under API_TOKENS: the <audio> element and the download button load the
 * recording through a short-lived signed URL (asked for with the bearer header), never with the
 * token in the URL; a failed load (an expired URL) fetches a fresh one and plays on.
 */
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../../scripts/lib/test-app';
import { launchBrowser, waitForJs, type BrowserSession } from '../../scripts/lib/browser';
import { seedCall } from '../../scripts/lib/seed';
import { writeSineWav } from '../helpers/wav';

const TOKEN = 'signed-recording-token-0123456789';

describe('dashboard recording player with signed URLs', () => {
  let t: TestApp;
  let browser: BrowserSession;
  let page: Page;
  let callId: string;
  const requests: { url: string; authorization?: string }[] = [];

  beforeAll(async () => {
    t = await startTestApp({ API_TOKENS: TOKEN });
    callId = await seedCall(t.sb, { from: '+15557770002', startedAt: new Date(Date.now() - 60_000) });
    mkdirSync(path.join(t.sb.recordingsDir, 's'), { recursive: true });
    const wav = writeSineWav(path.join(t.sb.recordingsDir, 's', `${callId}.wav`), { durationMs: 4000 });
    await t.sb.callManager.addRecording({
      callId,
      path: `s/${callId}.wav`,
      sampleRateHz: 8000,
      channels: 1,
      durationMs: 4000,
      sizeBytes: wav.length,
    });
    browser = await launchBrowser();
    page = await browser.newPage();
    // Logged in for the tab (about:blank has no storage: skipped there).
    await page.addInitScript(
      `try { sessionStorage.setItem('switchboard.apiToken', ${JSON.stringify(TOKEN)}); } catch { /* about:blank */ }`,
    );
    page.on('request', (req) => {
      if (new URL(req.url()).pathname.startsWith('/api/'))
        requests.push({ url: req.url(), authorization: req.headers().authorization });
    });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('plays the recording from a signed URL: no token in any URL but the SSE stream', async () => {
    await page.goto(`${t.baseUrl}/#/calls/${callId}`);
    await waitForJs(page, 'document.querySelector("#call-audio")?.duration > 3');
    const src = String(await page.evaluate('document.querySelector("#call-audio").src'));
    expect(src).toMatch(new RegExp(`/api/calls/${callId}/recording\\?expires=\\d+&sig=[A-Za-z0-9_-]{43}$`));
    const asked = requests.find((r) => r.url.includes(`/api/calls/${callId}/recording-url`));
    expect(asked?.authorization).toBe(`Bearer ${TOKEN}`);
    const media = requests.filter((r) => new URL(r.url).pathname === `/api/calls/${callId}/recording`);
    expect(media.length).toBeGreaterThan(0);
    for (const r of media) {
      expect(r.url).toContain('sig=');
      expect(r.authorization).toBeUndefined();
    }
    for (const r of requests.filter((x) => !x.url.includes('/api/status'))) expect(r.url).not.toContain(TOKEN);
    // Seeking asks for ranges with the same signed URL.
    await page.evaluate('(() => { const a = document.querySelector("#call-audio"); a.currentTime = 2.5; })()');
    await waitForJs(page, '(() => { const a = document.querySelector("#call-audio"); return !a.seeking; })()');
    expect(browser.problems).toEqual([]);
  });

  it('downloads the WAV through a signed URL', async () => {
    const before = requests.length;
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('a', { hasText: 'Download WAV' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`call-${callId}.wav`);
    expect(download.url()).toMatch(/recording\?expires=\d+&sig=[A-Za-z0-9_-]{43}&download=true$/);
    expect(download.url()).not.toContain(TOKEN);
    const asked = requests.slice(before).find((r) => r.url.includes('/recording-url'));
    expect(asked?.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('fetches a fresh signed URL when a load fails (an expired link) and plays on', async () => {
    await page.goto('about:blank');
    let refused = 0;
    await page.route('**/recording?*', async (route) => {
      if (refused === 0) {
        refused++;
        await route.fulfill({
          status: 401,
          contentType: 'application/json',
          body: '{"error":{"code":"unauthorized"}}',
        });
      } else await route.continue();
    });
    const asksBefore = requests.filter((r) => r.url.includes('/recording-url')).length;
    await page.goto(`${t.baseUrl}/#/calls/${callId}`);
    await waitForJs(page, 'document.querySelector("#call-audio")?.duration > 3');
    expect(refused).toBe(1);
    expect(requests.filter((r) => r.url.includes('/recording-url')).length - asksBefore).toBe(2);
    await page.unroute('**/recording?*');
    // Chromium reports the refused media load on the console: that one, nothing else.
    expect(browser.problems.filter((p) => !/status of 401/.test(p))).toEqual([]);
  });
});
