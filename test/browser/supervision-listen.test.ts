/**
 * Listen in from the live board in chromium: a supervisor clicks Listen on a live simulated call; the
 * page plays the stream through Web Audio and measures what it hears (the agent's speech is loud in
 * it), within 500 ms of the agent audio reaching the caller (the page's 100 ms playout lead
 * included). The call goes on unaffected and the page logs no error or CSP violation.
 */
import type { Page } from 'playwright-core';
import { startBridgeHarness, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { launchBrowser, type BrowserSession } from '../../scripts/lib/browser';

describe('listen in from the live board', () => {
  let h: BridgeHarness;
  let browser: BrowserSession;
  let page: Page;

  beforeAll(async () => {
    h = await startBridgeHarness({
      ttsEngine: 'tone',
      replies: ['Hello, thanks for calling. How can I help you today?'],
    });
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('plays the live call in the page with its energy measured and little delay', async () => {
    await page.goto(`${h.t.baseUrl}/#/live`);
    // The agent waits 3 s before its greeting, so the supervisor is listening before it speaks.
    h.ai.responseDelayMs = 3000;
    let firstAgentAudioAt = 0;
    const handle = h.call({ from: '+15554440003', script: [{ silenceMs: 3500 }, { untilAgentSilentMs: 600 }] });
    handle.events.once('agent-audio', () => (firstAgentAudioAt = Date.now()));
    try {
      const card = page.locator('.live-card', { hasText: '+15554440003' });
      await card.waitFor({ timeout: 15000 });
      await card.locator('.listen-toggle').click();
      await card.locator('.listen-status', { hasText: 'Listening' }).waitFor();
      const box = card.locator('.listen');
      await page.waitForFunction(
        (el) =>
          Number((el as unknown as { dataset: Record<string, string | undefined> }).dataset.listenPeak ?? 0) > 2000,
        await box.elementHandle(),
        { timeout: 15000 },
      );
      const loudAt = Number(await box.getAttribute('data-listen-first-loud-at'));
      expect(firstAgentAudioAt).toBeGreaterThan(0);
      const delayMs = loudAt + 100 - firstAgentAudioAt;
      expect(delayMs).toBeLessThan(500);
      expect(Number(await box.getAttribute('data-listen-peak'))).toBeGreaterThan(2000);
      const summary = await handle.done;
      expect(summary.ok).toBe(true);
    } finally {
      h.ai.responseDelayMs = 0;
      await handle.hangup();
    }
    expect(browser.problems).toEqual([]);
  });
});
